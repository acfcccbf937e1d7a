from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pyarrow as pa

from etl_platform.quality.pii_validators import IdentifierKind
from etl_platform.sources.model import MaskMethod
from etl_platform.transform.pii import aadhaar_display, card_display, display_mask, mask_array
from etl_platform.transform.pii_detect import Finding, find_identifiers, scrub_array, scrub_text
from etl_platform_tests.quality.test_pii_validators import (
    CORPUS_SEED,
    false_positive_rates,
    labelled_corpus,
    random_digit_strings,
)

log = logging.getLogger(__name__)

KEY = b"test-key-0123456789"
DISTRACTORS = "order ORD-12345678 on 2026-11-01 for 1299.00"
TEMPLATES = (
    "{}",
    "paid with {} yesterday",
    "customer says: {}.",
    DISTRACTORS + ", contact {} please",
    "({})",
    "ref {}, thanks",
    "aadhaar {} verified",
    "pay {} asap! " + DISTRACTORS,
)


def test_a_card_and_a_mobile_in_a_sentence_are_replaced_by_keyed_tokens() -> None:
    text = "paid with card 4111-1111-1111-1111, call 9876543210"
    scrubbed, findings = scrub_text(text, KEY)
    assert findings == [
        Finding(IdentifierKind.CARD, (15, 34)),
        Finding(IdentifierKind.MOBILE, (41, 51)),
    ]
    assert "4111" not in scrubbed and "9876543210" not in scrubbed
    assert scrubbed.startswith("paid with card [card:tok_") and ", call [mobile:tok_" in scrubbed


def test_order_ids_dates_and_amounts_are_left_alone() -> None:
    text = f"{DISTRACTORS}; refund 98765.43 ref ORD-9876543210"
    assert scrub_text(text, KEY) == (text, [])


def test_numbers_that_fail_their_check_digit_are_not_flagged() -> None:
    assert find_identifiers("id 4111111111111112 and 2345 6789 0123") == []


def test_two_numbers_sharing_a_run_are_found_separately() -> None:
    findings = find_identifiers("call 9876543210 9123456789 or +91 98765 43210")
    assert [f.kind for f in findings] == [IdentifierKind.MOBILE] * 3
    assert findings[0].span == (5, 15) and findings[1].span == (16, 26)


def test_one_identifier_spelled_two_ways_gets_one_token() -> None:
    first, _ = scrub_text("4111-1111-1111-1111", KEY)
    second, _ = scrub_text("4111 1111 1111 1111", KEY)
    assert first == second
    assert scrub_text("+91 98765 43210", KEY)[0] == scrub_text("9876543210", KEY)[0]


def test_addresses_pans_and_vpas_are_found_without_trailing_punctuation() -> None:
    text = "mail Ravi.K@Example.co.in. or pay ravi@okicici, PAN ABCPD1234E not ABCXD1234E"
    kinds = [(f.kind, text[slice(*f.span)]) for f in find_identifiers(text)]
    assert kinds == [
        (IdentifierKind.EMAIL, "Ravi.K@Example.co.in"),
        (IdentifierKind.UPI_VPA, "ravi@okicici"),
        (IdentifierKind.PAN, "ABCPD1234E"),
    ]


def test_a_12_digit_number_that_is_both_aadhaar_and_mobile_is_named_by_its_context() -> None:
    number = "919876543216"  # `91` + a mobile, and Verhoeff valid by chance
    assert find_identifiers(f"call {number}")[0].kind is IdentifierKind.MOBILE
    assert find_identifiers(f"aadhaar no. {number}")[0].kind is IdentifierKind.AADHAAR


def test_scrubbing_twice_changes_nothing_more() -> None:
    corpus = labelled_corpus()
    rng = random.Random(CORPUS_SEED)
    texts = [rng.choice(TEMPLATES).format(v) for values in corpus.values() for v in values[:300]]
    texts += [f"ref {s}" for s in random_digit_strings()[:2_000]]
    for text in texts:
        once, _ = scrub_text(text, KEY)
        assert scrub_text(once, KEY) == (once, []), text


def test_scrub_array_keeps_nulls_and_counts_identifiers_per_kind() -> None:
    values = pa.chunked_array(
        [["call 9876543210", None], ["hello", "card 4111111111111111 / 5555555555554444"]]
    )
    scrubbed, counts = scrub_array(values, KEY)
    assert scrubbed.to_pylist()[1:3] == [None, "hello"]
    assert scrubbed.to_pylist()[0].startswith("call [mobile:tok_")
    assert counts == {"mobile": 1, "card": 2}
    again, more = scrub_array(scrubbed, KEY)
    assert again.equals(scrubbed) and not more


def test_scrub_array_of_only_clean_text_returns_it_unchanged() -> None:
    values = pa.array(["no identifiers here", None, "PAN is ABCXD1234E"])
    scrubbed, counts = scrub_array(values, KEY)
    assert scrubbed.equals(values) and not counts


def test_detector_recalls_identifiers_embedded_in_sentences_and_measures_chance_hits(
    record_property: Callable[[str, object], None],
) -> None:
    rng = random.Random(CORPUS_SEED)
    lines = ["kind      masked   labelled  FP(all random)  FP(eligible lengths)"]
    sentence_fp = {
        s: {f.kind for f in find_identifiers(f"ref {s} noted")} for s in random_digit_strings()
    }
    rates = false_positive_rates(lambda s, kind: kind in sentence_fp[s], list(sentence_fp))
    for kind, values in labelled_corpus().items():
        masked = labelled = 0
        for value in values:
            template = rng.choice(TEMPLATES)
            start = template.index("{}")
            text = template.format(value)
            findings = find_identifiers(text)
            covering = [
                f for f in findings if f.span[0] <= start and f.span[1] >= start + len(value)
            ]
            masked += bool(covering)
            labelled += covering == [Finding(kind, (start, start + len(value)))]
            # Nothing else in the sentence (ids, dates, amounts) is touched.
            assert len(findings) == len(covering), text
        masked_rate, labelled_rate = masked / len(values), labelled / len(values)
        fp_all, fp_eligible = rates[kind]
        record_property(f"detector_masked_{kind}", masked_rate)
        record_property(f"detector_labelled_{kind}", labelled_rate)
        record_property(f"detector_fp_{kind}", fp_all)
        record_property(f"detector_fp_eligible_{kind}", fp_eligible)
        rates_text = f"{fp_all:13.2%}  {fp_eligible:19.2%}"
        lines.append(f"{kind:<9} {masked_rate:7.2%} {labelled_rate:8.2%}  {rates_text}")
        assert masked_rate >= 0.999, kind
        assert labelled_rate >= 0.995, kind
    log.info("detector recall and false positives\n%s", "\n".join(lines))
    assert rates[IdentifierKind.AADHAAR][1] <= 0.11
    assert rates[IdentifierKind.CARD][1] <= 0.04
    assert rates[IdentifierKind.MOBILE][1] <= 0.16


def test_card_display_keeps_bin_and_last_four_in_the_printed_layout() -> None:
    assert card_display("4111-1111-1111-1111") == "4111 11XX XXXX 1111"
    assert card_display("378282246310005") == "3782 82XXXX X0005"
    assert card_display("1234") == "XX34"  # not a card: never shown whole


def test_aadhaar_display_shows_uidai_masked_form_whatever_the_input_separators() -> None:
    assert aadhaar_display("234567890124") == "XXXX XXXX 0124"
    assert aadhaar_display("2345-6789-0124") == "XXXX XXXX 0124"
    assert display_mask("2345-6789-0124") == "XXXX-XXXX-0124"


def test_mask_array_applies_the_card_and_aadhaar_display_masks() -> None:
    values = pa.array(["4111111111111111", None])
    assert mask_array(values, MaskMethod.CARD, KEY).to_pylist() == ["4111 11XX XXXX 1111", None]
    aadhaar = pa.array(["2345 6789 0124"])
    assert mask_array(aadhaar, MaskMethod.AADHAAR, KEY).to_pylist() == ["XXXX XXXX 0124"]
