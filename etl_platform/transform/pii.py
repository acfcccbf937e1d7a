"""PII masking on Arrow arrays, applied before any row reaches the warehouse.

Tokens are HMAC-SHA256 keyed by a secret from the environment, never plain hashes: a plain SHA-256
of a 10-digit phone number is reversed by enumerating 10^10 candidates in hours.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

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


def mask_array(values: pa.Array | pa.ChunkedArray, method: MaskMethod, key: bytes) -> pa.Array:
    """Mask every non-null value of a string array; nulls stay null."""
    mask: Callable[[str], str]
    if method is MaskMethod.HMAC:
        mask = lambda v: hmac_token(v, key)  # noqa: E731
    elif method is MaskMethod.LAST4:
        mask = last4
    else:
        mask = lambda v: REDACTED  # noqa: E731
    return pa.array([None if v is None else mask(v) for v in values.to_pylist()], type=pa.string())
