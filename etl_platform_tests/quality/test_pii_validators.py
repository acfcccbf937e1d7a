from __future__ import annotations

import logging
import random
import string
from collections.abc import Callable

import pytest

from etl_platform.quality.pii_validators import (
    VALIDATORS,
    IdentifierKind,
    is_aadhaar,
    is_card,
    is_email,
    is_mobile,
    is_pan,
    is_upi_vpa,
    luhn_check_digit,
    luhn_valid,
    verhoeff_check_digit,
    verhoeff_valid,
)

log = logging.getLogger(__name__)

CORPUS_SEED = 20_261_101
PER_KIND = 10_000
RANDOM_DIGIT_STRINGS = 10_000
# Lengths a random digit string must have to be able to pass each numeric validator.
ELIGIBLE_LENGTHS = {
    IdentifierKind.AADHAAR: range(12, 13),
    IdentifierKind.MOBILE: range(10, 13),
    IdentifierKind.CARD: range(13, 20),
}


def test_check_digits_match_published_examples() -> None:
    # Wikipedia's worked examples: Verhoeff 236 -> 2363, Luhn 7992739871 -> 79927398713.
    assert verhoeff_check_digit("236") == "3" and verhoeff_valid("2363")
    assert not verhoeff_valid("2364")
    assert luhn_check_digit("7992739871") == "3" and luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_aadhaar_needs_a_verhoeff_digit_a_first_digit_from_2_and_one_separator_style() -> None:
    assert is_aadhaar("234567890124")
    assert is_aadhaar("2345 6789 0124")
    assert is_aadhaar("2345-6789-0124")
    assert not is_aadhaar("234567890123")  # wrong check digit
    assert not is_aadhaar("134567890129")  # Verhoeff valid, but UIDAI never starts with 1
    assert not is_aadhaar("2345 6789-0124")
    assert not is_aadhaar("23456789012")
    assert not is_aadhaar(" 234567890124")


def test_aadhaar_rejects_one_digit_repeated_even_when_verhoeff_passes() -> None:
    assert verhoeff_valid("333333333333")
    assert not is_aadhaar("333333333333")


def test_pan_needs_a_holder_type_as_its_fourth_letter() -> None:
    assert is_pan("ABCPD1234E")
    assert is_pan("AAACL1234C")
    assert not is_pan("ABCXD1234E")
    assert not is_pan("abcpd1234e")
    assert not is_pan("ABCP1234DE")


def test_upi_vpa_is_a_handle_at_a_letters_only_psp() -> None:
    assert is_upi_vpa("ravi.kumar@okicici")
    assert is_upi_vpa("9876543210@ybl")
    assert not is_upi_vpa("r@ybl")
    assert not is_upi_vpa("ravi@ok1cici")
    assert not is_upi_vpa("ravi@gmail.com")


def test_mobile_accepts_indian_prefixes_and_groupings_and_a_first_digit_from_6() -> None:
    for valid in ("9876543210", "+91 98765 43210", "+919876543210", "09876543210"):
        assert is_mobile(valid), valid
    assert is_mobile("91-9876543210") and is_mobile("987-654-3210")
    for invalid in ("5876543210", "987654321", "+92 9876543210", "98765432100", "98765  43210"):
        assert not is_mobile(invalid), invalid


def test_email_accepts_dot_atoms_and_rejects_consecutive_dots_and_bare_domains() -> None:
    assert is_email("ravi.kumar+tag@example.co.in")
    assert is_email("a@b.io")
    for invalid in (
        "ravi..kumar@example.com",
        ".ravi@example.com",
        "ravi@example",
        "ravi@example.c",
        "ravi@-example.com",
        "ravi@example..com",
        "ravi kumar@example.com",
    ):
        assert not is_email(invalid), invalid


def test_published_test_cards_pass_and_near_misses_fail() -> None:
    for valid in ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"):
        assert is_card(valid), valid
    assert is_card("4111 1111 1111 1111") and is_card("4111-1111-1111-1111")
    assert is_card("3782 822463 10005")
    assert not is_card("4111111111111112")  # fails Luhn
    assert luhn_valid("1234567812345670") and not is_card("1234567812345670")  # no such IIN
    assert luhn_valid("41111111111114") and not is_card("41111111111114")  # Visa has no 14


def test_every_kind_has_a_validator() -> None:
    assert set(VALIDATORS) == set(IdentifierKind)


# The labelled corpus. Check digits come from the functions under test, which the published
# examples above pin independently.


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choices(string.digits, k=count))


def _grouped(number: str, sizes: tuple[int, ...], separator: str) -> str:
    parts, start = [], 0
    for size in sizes:
        parts.append(number[start : start + size])
        start += size
    return separator.join(parts)


def _aadhaar(rng: random.Random) -> str:
    number = "111111111111"
    while len(set(number)) == 1:
        body = str(rng.randint(2, 9)) + _digits(rng, 10)
        number = body + verhoeff_check_digit(body)
    return _grouped(number, (4, 4, 4), rng.choice(("", " ", "-")))


# (first prefix, last prefix, lengths): real IIN ranges per network.
CARD_IINS = (
    (4, 4, (13, 16, 19)),
    (51, 55, (16,)),
    (2221, 2720, (16,)),
    (34, 34, (15,)),
    (37, 37, (15,)),
    (60, 60, (16,)),
    (65, 65, (16,)),
    (81, 82, (16,)),
    (508, 508, (16,)),
    (6011, 6011, (16, 19)),
    (3528, 3589, (16,)),
    (36, 36, (14,)),
    (300, 305, (14,)),
    (50, 50, (16,)),
    (56, 69, (16, 18)),
)


def _card(rng: random.Random) -> str:
    low, high, lengths = rng.choice(CARD_IINS)
    length = rng.choice(lengths)
    body = str(rng.randint(low, high))
    body += _digits(rng, length - 1 - len(body))
    number = body + luhn_check_digit(body)
    layout = {14: (4, 6, 4), 15: (4, 6, 5)}.get(length, (4,) * (length // 4) + (length % 4,))
    return _grouped(number, tuple(size for size in layout if size), rng.choice(("", " ", "-")))


def _pan(rng: random.Random) -> str:
    letters = string.ascii_uppercase
    return (
        "".join(rng.choices(letters, k=3))
        + rng.choice("PCHFATBLJG")
        + rng.choice(letters)
        + _digits(rng, 4)
        + rng.choice(letters)
    )


def _subscriber(rng: random.Random) -> str:
    return str(rng.randint(6, 9)) + _digits(rng, 9)


def _upi_vpa(rng: random.Random) -> str:
    psp = rng.choice(("okicici", "oksbi", "okhdfcbank", "okaxis", "ybl", "paytm", "ibl", "axl"))
    if rng.random() < 0.3:
        return f"{_subscriber(rng)}@{psp}"
    handle = rng.choice(string.ascii_lowercase) + "".join(
        rng.choices(string.ascii_lowercase + string.digits + "._-", k=rng.randint(1, 20))
    )
    return f"{handle}@{psp}"


def _mobile(rng: random.Random) -> str:
    number = _subscriber(rng)
    grouped = rng.choice((number, _grouped(number, (5, 5), " "), _grouped(number, (5, 5), "-")))
    return rng.choice(("", "+91", "+91 ", "+91-", "91", "0")) + grouped


def _email(rng: random.Random) -> str:
    alphabet = string.ascii_lowercase + string.digits

    def atom(extra: str) -> str:
        return "".join(rng.choices(alphabet + extra, k=rng.randint(1, 10)))

    local = ".".join(atom("_+-") for _ in range(rng.randint(1, 3)))
    labels = [atom("") for _ in range(rng.randint(1, 2))]
    tld = rng.choice(("com", "in", "co.in", "org", "io", "net", "gov.in"))
    return f"{local}@{'.'.join(labels)}.{tld}"


GENERATORS: dict[IdentifierKind, Callable[[random.Random], str]] = {
    IdentifierKind.AADHAAR: _aadhaar,
    IdentifierKind.PAN: _pan,
    IdentifierKind.UPI_VPA: _upi_vpa,
    IdentifierKind.MOBILE: _mobile,
    IdentifierKind.EMAIL: _email,
    IdentifierKind.CARD: _card,
}


def labelled_corpus(seed: int = CORPUS_SEED) -> dict[IdentifierKind, list[str]]:
    """PER_KIND valid identifiers per kind, the same on every run."""
    rng = random.Random(seed)
    return {kind: [make(rng) for _ in range(PER_KIND)] for kind, make in GENERATORS.items()}


def random_digit_strings(seed: int = CORPUS_SEED) -> list[str]:
    """Digit strings of 10-19 uniform digits: what an order id or reference looks like."""
    rng = random.Random(seed + 1)
    return [_digits(rng, rng.randint(10, 19)) for _ in range(RANDOM_DIGIT_STRINGS)]


def false_positive_rates(
    flagged: Callable[[str, IdentifierKind], bool], strings: list[str]
) -> dict[IdentifierKind, tuple[float, float]]:
    """Per kind: share of all random strings flagged, and share of those of eligible length."""
    rates = {}
    for kind in IdentifierKind:
        hits = [s for s in strings if flagged(s, kind)]
        eligible = [s for s in strings if len(s) in ELIGIBLE_LENGTHS.get(kind, range(0))]
        eligible_hits = sum(len(s) in ELIGIBLE_LENGTHS.get(kind, range(0)) for s in hits)
        rates[kind] = (len(hits) / len(strings), eligible_hits / len(eligible) if eligible else 0.0)
    return rates


def test_the_corpus_is_deterministic_and_large_enough() -> None:
    first, second = labelled_corpus(), labelled_corpus()
    assert first == second
    assert all(len(set(values)) > 0.99 * PER_KIND for values in first.values())
    assert random_digit_strings() == random_digit_strings()


def test_validators_recall_every_generated_identifier_and_measure_chance_passes(
    record_property: Callable[[str, object], None],
) -> None:
    corpus = labelled_corpus()
    rates = false_positive_rates(lambda s, kind: VALIDATORS[kind](s), random_digit_strings())
    lines = ["kind      recall   FP(all random)  FP(eligible lengths)"]
    for kind, values in corpus.items():
        recall = sum(VALIDATORS[kind](v) for v in values) / len(values)
        fp_all, fp_eligible = rates[kind]
        record_property(f"validator_recall_{kind}", recall)
        record_property(f"validator_fp_{kind}", fp_all)
        record_property(f"validator_fp_eligible_{kind}", fp_eligible)
        lines.append(f"{kind:<9} {recall:7.2%}  {fp_all:13.2%}  {fp_eligible:19.2%}")
        assert recall >= 0.999, kind
    log.info("validator recall and false positives\n%s", "\n".join(lines))
    # Chance alone: Verhoeff passes 1 in 10 and 8 in 10 first digits are allowed, so about 8 % of
    # random 12-digit strings are "Aadhaar"; context, not the validator, must make the call.
    assert rates[IdentifierKind.AADHAAR][1] <= 0.11
    # Luhn passes 1 in 10; known IIN ranges and lengths cover about a quarter of 13-19 digits.
    assert rates[IdentifierKind.CARD][1] <= 0.04
    # Any 10 digits starting 6-9 is a valid mobile: 40 % of 10-digit strings, by design.
    assert rates[IdentifierKind.MOBILE][1] <= 0.16
    for kind in (IdentifierKind.PAN, IdentifierKind.UPI_VPA, IdentifierKind.EMAIL):
        assert rates[kind] == (0.0, 0.0)


@pytest.mark.parametrize("kind", list(IdentifierKind))
def test_generated_identifiers_of_one_kind_pass_only_their_own_validator_mostly(
    kind: IdentifierKind,
) -> None:
    values = labelled_corpus()[kind][:2_000]
    for other, validate in VALIDATORS.items():
        if other is kind:
            continue
        crossover = sum(validate(v) for v in values) / len(values)
        # `91`+mobile is 12 digits and passes Verhoeff one time in ten; nothing else overlaps.
        allowed = 0.03 if {kind, other} == {IdentifierKind.MOBILE, IdentifierKind.AADHAAR} else 0
        assert crossover <= allowed, (kind, other, crossover)
