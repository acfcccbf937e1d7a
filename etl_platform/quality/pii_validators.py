"""Validators for personal identifiers, Indian ones first, applying each issuer's real rules.

A shape regex alone flags every 12-digit reference number as an Aadhaar and every 16-digit id as a
card; the check digits (Verhoeff for Aadhaar, Luhn for cards) and issuer ranges cut that by about
ten times. Each validator takes the whole value: surrounding text or whitespace makes it fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum


class IdentifierKind(StrEnum):
    """Kinds of identifier the platform must recognise and protect."""

    AADHAAR = "aadhaar"
    PAN = "pan"
    UPI_VPA = "upi_vpa"
    MOBILE = "mobile"
    EMAIL = "email"
    CARD = "card"


# Verhoeff's dihedral-group tables (multiplication, position permutation, inverse): the check that
# UIDAI uses because, unlike Luhn, it catches every single-digit error and adjacent transposition.
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _verhoeff_checksum(digits: str, offset: int) -> int:
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[(position + offset) % 8][int(digit)]]
    return check


def verhoeff_check_digit(digits: str) -> str:
    """The digit to append to `digits` so the result passes Verhoeff (to build test numbers)."""
    return str(_VERHOEFF_INV[_verhoeff_checksum(digits, 1)])


def verhoeff_valid(digits: str) -> bool:
    """Whether a digit string ends in its correct Verhoeff check digit."""
    return _verhoeff_checksum(digits, 0) == 0


def _luhn_sum(digits: str, doubled_parity: int) -> int:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2 == doubled_parity:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total


def luhn_check_digit(digits: str) -> str:
    """The digit to append to `digits` so the result passes Luhn (to build test numbers)."""
    return str(-_luhn_sum(digits, doubled_parity=0) % 10)


def luhn_valid(digits: str) -> bool:
    """Whether a digit string ends in its correct Luhn (mod 10) check digit."""
    return _luhn_sum(digits, doubled_parity=1) % 10 == 0


# Aadhaar is printed in groups of four; one separator style per number.
_AADHAAR = re.compile(r"[2-9]\d{3}([ -]?)\d{4}\1\d{4}")


def is_aadhaar(value: str) -> bool:
    """12 digits, first 2-9 (UIDAI never issues 0 or 1), Verhoeff valid, not one repeated digit."""
    if _AADHAAR.fullmatch(value) is None:
        return False
    digits = value.replace(" ", "").replace("-", "")
    return len(set(digits)) > 1 and verhoeff_valid(digits)


# The fourth letter is the holder type: Person, Company, HUF, Firm, AOP, Trust, BOI, Local
# authority, artificial Juridical person, Government.
_PAN = re.compile(r"[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]")


def is_pan(value: str) -> bool:
    """Income-tax PAN: five letters, four digits, a letter; the fourth letter a holder type."""
    return _PAN.fullmatch(value) is not None


_UPI_VPA = re.compile(r"[A-Za-z0-9._-]{2,256}@[A-Za-z]{2,64}")


def is_upi_vpa(value: str) -> bool:
    """A UPI virtual payment address `handle@psp`; the letters-only psp sets it apart from email."""
    return _UPI_VPA.fullmatch(value) is not None


# Subscriber numbers start 6-9 (the national numbering plan); written plain, 5+5 or 3+3+4, after
# an optional +91, 91 or trunk 0.
_MOBILE = re.compile(
    r"(?:(?:\+91|91|0)[ -]?)?(?:[6-9]\d{9}|[6-9]\d{4}[ -]\d{5}|[6-9]\d{2}[ -]\d{3}[ -]\d{4})"
)


def is_mobile(value: str) -> bool:
    """An Indian mobile number, with or without its country or trunk prefix."""
    return _MOBILE.fullmatch(value) is not None


_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"(?P<local>{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*)@(?:{_EMAIL_LABEL}\.)+[A-Za-z]{{2,63}}"
)


def is_email(value: str) -> bool:
    """RFC 5322 lite: dot-atom local part and a dotted domain; no quoted or IP-literal forms.

    Quoted local parts and `[1.2.3.4]` domains are legal but do not occur in our sources, and
    allowing them would make the pattern slow and permissive.
    """
    match = _EMAIL.fullmatch(value)
    return match is not None and len(value) <= 254 and len(match["local"]) <= 64


# (network, lowest prefix, highest prefix, lengths): a number's prefix of the same width as the
# bounds must fall inside them. Lengths follow each network's published ranges, which rejects e.g.
# a 14-digit "Visa" that only Luhn would let through.
_CARD_RANGES: tuple[tuple[str, int, int, range], ...] = (
    ("visa", 4, 4, range(13, 20, 3)),
    ("mastercard", 51, 55, range(16, 17)),
    ("mastercard", 2221, 2720, range(16, 17)),
    ("amex", 34, 34, range(15, 16)),
    ("amex", 37, 37, range(15, 16)),
    ("rupay", 60, 60, range(16, 17)),
    ("rupay", 65, 65, range(16, 17)),
    ("rupay", 81, 82, range(16, 17)),
    ("rupay", 508, 508, range(16, 17)),
    ("discover", 6011, 6011, range(16, 20)),
    ("discover", 65, 65, range(16, 20)),
    ("jcb", 3528, 3589, range(16, 20)),
    ("diners", 36, 36, range(14, 20)),
    ("diners", 38, 38, range(14, 20)),
    ("diners", 300, 305, range(14, 20)),
    ("maestro", 50, 50, range(13, 20)),
    ("maestro", 56, 69, range(13, 20)),
)
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")


def is_card(value: str) -> bool:
    """A payment card number: 13-19 digits in any grouping, a known IIN range, Luhn valid."""
    if _CARD.fullmatch(value) is None:
        return False
    digits = value.replace(" ", "").replace("-", "")
    known = any(
        len(digits) in lengths and low <= int(digits[: len(str(low))]) <= high
        for _, low, high, lengths in _CARD_RANGES
    )
    return known and luhn_valid(digits)


VALIDATORS: dict[IdentifierKind, Callable[[str], bool]] = {
    IdentifierKind.AADHAAR: is_aadhaar,
    IdentifierKind.PAN: is_pan,
    IdentifierKind.UPI_VPA: is_upi_vpa,
    IdentifierKind.MOBILE: is_mobile,
    IdentifierKind.EMAIL: is_email,
    IdentifierKind.CARD: is_card,
}
