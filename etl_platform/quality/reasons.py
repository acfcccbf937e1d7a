"""Reason codes: why a row went to quarantine. Stable: dashboards and replays key on them."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """One code per kind of failure; a quarantined row carries exactly one, its first failure."""

    FILE_REJECTED = "file_rejected"  # the whole file: its header drifted past the schema policy
    UNPARSEABLE_RECORD = "unparseable_record"
    TYPE_MISMATCH = "type_mismatch"
    EVENT_TIME_OUTSIDE_PARTITION = "event_time_outside_partition"
    NULL_VIOLATION = "null_violation"
    OUT_OF_RANGE = "out_of_range"
    NOT_ALLOWED = "not_allowed"
    PATTERN_MISMATCH = "pattern_mismatch"
    DUPLICATE_VALUE = "duplicate_value"
    RULE_VIOLATION = "rule_violation"  # a multi-column business rule of severity error


_CHECK_PREFIXES = {
    "not_nullable": Reason.NULL_VIOLATION,
    "in_range": Reason.OUT_OF_RANGE,
    "greater_than_or_equal_to": Reason.OUT_OF_RANGE,
    "less_than_or_equal_to": Reason.OUT_OF_RANGE,
    "isin": Reason.NOT_ALLOWED,
    "str_matches": Reason.PATTERN_MISMATCH,
}


def reason_for_check(check: str) -> Reason:
    """Map a pandera check name (e.g. `greater_than_or_equal_to(1)`) to its reason code."""
    for prefix, reason in _CHECK_PREFIXES.items():
        if check.startswith(prefix):
            return reason
    # pandera reports dtype failures as `dtype('...')`; anything else is a type conformance failure.
    return Reason.TYPE_MISMATCH
