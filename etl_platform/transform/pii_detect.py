"""Find identifiers that leaked into free text and replace each with a keyed token.

Comment and note columns are not declared PII, yet people paste card and phone numbers into them.
A shape regex proposes candidates and the validators decide, so a 16-digit id that fails Luhn, or a
12-digit reference without a valid Verhoeff digit, stays as written.

Each identifier becomes `[<kind>:tok_<32 hex>]`. The kind tells a reader what was there; the keyed
token of the canonical form (digits only, a mobile's last ten digits, lower-cased email and VPA)
lets analysts count repeats across rows and spellings without seeing the value. Display masks were
rejected: a mobile's last four digits next to a name in the same comment often re-identify.
A replacement has no `@`, no capitals and its digits sit inside one word, which no candidate
pattern can start in, so scrubbing twice changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from etl_platform.quality.pii_validators import (
    IdentifierKind,
    is_aadhaar,
    is_card,
    is_email,
    is_mobile,
    is_pan,
    is_upi_vpa,
)
from etl_platform.transform.pii import hmac_token

# A number with fewer digits than a bare mobile cannot be an identifier; none has more than the
# longest card. Windows outside these bounds are never validated.
MIN_DIGITS = 10
MAX_DIGITS = 19

_AT_CHARS = "A-Za-z0-9._%+!#$&'*/=?^`{|}~-"
# One pass over the text. Each branch starts only at a token boundary, so a scan is linear.
# Numbers: single spaces or hyphens may separate digit groups; a run glued to letters by a hyphen
# (`ORD-12345678`) is a code, and a run next to a decimal point is an amount, so neither is taken.
_CANDIDATES = re.compile(
    "(?<![" + _AT_CHARS + "])(?P<at>[" + _AT_CHARS + "]+@[A-Za-z0-9.-]+)"
    r"|(?<![A-Za-z0-9])(?P<pan>[A-Z]{5}[0-9]{4}[A-Z])(?![A-Za-z0-9])"
    r"|(?<!\w)(?<!\d\.)(?<![A-Za-z]-)(?P<number>(?:\+(?=91))?\d(?:[ -]?\d){9,})(?!\w)(?!\.\d)"
)
_DIGIT_GROUP = re.compile(r"\+?\d+")
# `91` + a mobile is also 12 digits and passes Verhoeff one time in ten; only a nearby mention
# makes such a number an Aadhaar. Both are masked either way; this decides the label.
_AADHAAR_CONTEXT = re.compile(r"a?adh?aa?r|\buid", re.IGNORECASE)
_CONTEXT_CHARS = 32
# Arrow (RE2) prefilter mirroring the branches above, so most rows never reach Python.
_PREFILTER_DIGITS = r"\p{Nd}"
_PREFILTER_OTHER = "@|[A-Z]{5}[0-9]{4}[A-Z]"


class Finding(NamedTuple):
    """One identifier found in a text: its kind and its `[start, end)` span in the input."""

    kind: IdentifierKind
    span: tuple[int, int]


def _at_kind(text: str, start: int, end: int) -> Finding | None:
    # Sentence punctuation is not part of an address: "mail ravi@x.in."
    candidate = text[start:end].rstrip(".-")
    end = start + len(candidate)
    if is_email(candidate):
        return Finding(IdentifierKind.EMAIL, (start, end))
    if is_upi_vpa(candidate):
        return Finding(IdentifierKind.UPI_VPA, (start, end))
    return None


def _number_kind(text: str, start: int, end: int) -> IdentifierKind | None:
    candidate = text[start:end]
    if is_card(candidate):
        return IdentifierKind.CARD
    aadhaar, mobile = is_aadhaar(candidate), is_mobile(candidate)
    if aadhaar and mobile:
        context = _AADHAAR_CONTEXT.search(text, max(start - _CONTEXT_CHARS, 0), start)
        return IdentifierKind.AADHAAR if context else IdentifierKind.MOBILE
    if aadhaar:
        return IdentifierKind.AADHAAR
    return IdentifierKind.MOBILE if mobile else None


def _numbers(text: str, start: int, end: int) -> Iterator[Finding]:
    """Identifiers in one run of digit groups, trying the longest window from each group first.

    Two numbers can share a run ("9876543210 9123456789"), so when the whole run is not an
    identifier its windows of whole groups are tried; digits inside a group are never split.
    """
    groups = [
        (m.start(), m.end(), len(m.group().lstrip("+")))
        for m in _DIGIT_GROUP.finditer(text, start, end)
    ]
    first = 0
    while first < len(groups):
        ends: list[int] = []
        digits = 0
        for last in range(first, len(groups)):
            digits += groups[last][2]
            if digits > MAX_DIGITS:
                break
            if digits >= MIN_DIGITS:
                ends.append(last)
        for last in reversed(ends):
            span = (groups[first][0], groups[last][1])
            kind = _number_kind(text, *span)
            if kind is not None:
                yield Finding(kind, span)
                first = last
                break
        first += 1


def find_identifiers(text: str) -> list[Finding]:
    """Every valid identifier in a free text, in order and without overlaps."""
    findings: list[Finding] = []
    for match in _CANDIDATES.finditer(text):
        start, end = match.span()
        if match.lastgroup == "at":
            finding = _at_kind(text, start, end)
            if finding is not None:
                findings.append(finding)
        elif match.lastgroup == "pan":
            if is_pan(match.group()):
                findings.append(Finding(IdentifierKind.PAN, (start, end)))
        else:
            findings.extend(_numbers(text, start, end))
    return findings


def _canonical(kind: IdentifierKind, value: str) -> str:
    """One spelling per identifier, so `4111-1111-…` and `4111 1111 …` share a token."""
    if kind in (IdentifierKind.EMAIL, IdentifierKind.UPI_VPA):
        return value.lower()
    if kind is IdentifierKind.PAN:
        return value
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[-10:] if kind is IdentifierKind.MOBILE else digits


def scrub_text(text: str, key: bytes) -> tuple[str, list[Finding]]:
    """The text with each identifier replaced by `[<kind>:<keyed token>]`, and what was found."""
    findings = find_identifiers(text)
    if not findings:
        return text, findings
    parts: list[str] = []
    position = 0
    for kind, (start, end) in findings:
        token = hmac_token(_canonical(kind, text[start:end]), key)
        parts += [text[position:start], f"[{kind.value}:{token}]"]
        position = end
    parts.append(text[position:])
    return "".join(parts), findings


def scrub_array(values: pa.Array | pa.ChunkedArray, key: bytes) -> tuple[pa.Array, Counter[str]]:
    """Scrub a string column; nulls stay null. Returns the new array and identifiers per kind.

    An Arrow-side prefilter keeps rows with no `@`, no PAN shape and under `MIN_DIGITS` digits
    (most comments) out of Python entirely.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    candidate = pc.fill_null(
        pc.or_(
            pc.greater_equal(pc.count_substring_regex(values, _PREFILTER_DIGITS), MIN_DIGITS),
            pc.match_substring_regex(values, _PREFILTER_OTHER),
        ),
        False,
    )
    counts: Counter[str] = Counter()
    scrubbed: list[str] = []
    for text in pc.filter(values, candidate).to_pylist():
        new, findings = scrub_text(text, key)
        scrubbed.append(new)
        counts.update(finding.kind.value for finding in findings)
    if not counts:
        return values, counts
    return pc.replace_with_mask(values, candidate, pa.array(scrubbed, pa.string())), counts
