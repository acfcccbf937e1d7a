import pyarrow as pa

from etl_platform.sources.model import MaskMethod
from etl_platform.transform.pii import REDACTED, hmac_token, last4, mask_array


def test_tokens_are_stable_per_key_and_differ_across_keys():
    assert hmac_token("ABCPV1234K", b"key-one-0123456789") == hmac_token(
        "ABCPV1234K", b"key-one-0123456789"
    )
    assert hmac_token("ABCPV1234K", b"key-one-0123456789") != hmac_token(
        "ABCPV1234K", b"key-two-0123456789"
    )
    assert "ABCPV1234K" not in hmac_token("ABCPV1234K", b"key-one-0123456789")


def test_the_display_mask_keeps_only_the_last_four_characters():
    assert last4("+919876543210") == "XXXXXXXXX3210"
    assert last4("123") == "123"


def test_masking_keeps_nulls_and_masks_every_value():
    values = pa.array(["a@b.in", None])
    assert mask_array(values, MaskMethod.REDACT, b"k").to_pylist() == [REDACTED, None]
    hashed = mask_array(values, MaskMethod.HMAC, b"k").to_pylist()
    assert hashed[0].startswith("tok_") and hashed[1] is None


def test_repeated_values_get_the_same_mask_in_every_position_and_chunk():
    values = ["a@b.in", None, "c@d.in", "a@b.in", None, "c@d.in", "e@f.in"]
    chunked = pa.chunked_array([values[:3], values[3:]])
    expected = [None if v is None else hmac_token(v, b"k") for v in values]
    assert mask_array(chunked, MaskMethod.HMAC, b"k").to_pylist() == expected
    assert mask_array(pa.array(values, pa.large_string()), MaskMethod.LAST4, b"k").to_pylist() == [
        None if v is None else last4(v) for v in values
    ]
    assert mask_array(pa.array([None, None], pa.string()), MaskMethod.HMAC, b"k").to_pylist() == [
        None,
        None,
    ]
