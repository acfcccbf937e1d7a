"""PII masking on Arrow arrays, applied before any row reaches the warehouse.

Tokens are HMAC-SHA256 keyed by a secret from the environment, never plain hashes: a plain SHA-256
of a 10-digit phone number is reversed by enumerating 10^10 candidates in hours.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

import pyarrow as pa

from etl_platform.sources.model import MaskMethod

REDACTED = "[REDACTED]"
TOKEN_PREFIX = "tok_"


def hmac_token(value: str, key: bytes) -> str:
    """A stable keyed token: equal inputs give equal tokens within one environment (joinable)."""
    return TOKEN_PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def last4(value: str) -> str:
    """Display mask keeping the last four characters, e.g. `XXXXXXXX3210`."""
    return "X" * max(len(value) - 4, 0) + value[-4:]


def display_mask(value: str, *, keep_first: int = 0, keep_last: int = 4) -> str:
    """Mask digits in place, keeping every other character, so the value keeps its printed format.

    A value too short for the requested reveal (a malformed card, a stub) shows at most its last
    half instead of showing whole.
    """
    count = sum(ch.isdigit() for ch in value)
    if keep_first + keep_last >= count:
        keep_first, keep_last = 0, min(keep_last, count // 2)
    masked: list[str] = []
    seen = 0
    for ch in value:
        if ch.isdigit():
            ch = ch if seen < keep_first or seen >= count - keep_last else "X"
            seen += 1
        masked.append(ch)
    return "".join(masked)


def _grouped(text: str, sizes: Sequence[int]) -> str:
    groups: list[str] = []
    start = 0
    for size in sizes:
        groups.append(text[start : start + size])
        start += size
    while start < len(text):
        groups.append(text[start : start + 4])
        start += 4
    return " ".join(groups)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


# Printed layouts that are not plain groups of four: Diners 4-6-4, Amex 4-6-5, old Visa 4-4-5.
_CARD_LAYOUTS: dict[int, tuple[int, ...]] = {13: (4, 4, 5), 14: (4, 6, 4), 15: (4, 6, 5)}


def card_display(value: str) -> str:
    """Card display mask keeping BIN and last 4, in the printed layout: `4111 11XX XXXX 1111`.

    The BIN stays because it names the issuer and product, which fraud and support triage need;
    PCI DSS allows at most first six and last four. A value that is not 13-19 digits falls back
    to a format-keeping last-4 mask.
    """
    digits = _digits(value)
    if not 13 <= len(digits) <= 19:
        return display_mask(value)
    sizes = _CARD_LAYOUTS.get(len(digits), ())
    return _grouped(display_mask(digits, keep_first=6, keep_last=4), sizes)


def aadhaar_display(value: str) -> str:
    """UIDAI's masked-Aadhaar form `XXXX XXXX 1234`, whatever the input's separators.

    A value that is not 12 digits falls back to a format-keeping last-4 mask.
    """
    digits = _digits(value)
    if len(digits) != 12:
        return display_mask(value)
    return _grouped(display_mask(digits, keep_last=4), ())


def mask_array(values: pa.Array | pa.ChunkedArray, method: MaskMethod, key: bytes) -> pa.Array:
    """Mask every non-null value of a string array; nulls stay null.

    Each distinct value is masked once and the result taken back by index: PII repeats (a payer's
    VPA on each of their payments), and the Python call per value is what masking costs.
    """
    mask: Callable[[str], str]
    if method is MaskMethod.HMAC:
        mask = lambda v: hmac_token(v, key)  # noqa: E731
    elif method is MaskMethod.LAST4:
        mask = last4
    elif method is MaskMethod.CARD:
        mask = card_display
    elif method is MaskMethod.AADHAAR:
        mask = aadhaar_display
    else:
        mask = lambda v: REDACTED  # noqa: E731
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = values.dictionary_encode()
    distinct = pa.array([mask(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return distinct.take(encoded.indices)
