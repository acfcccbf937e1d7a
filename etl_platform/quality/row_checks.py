"""The spec's column checks as one SQL CASE, so the engine quarantines rows set-wise.

Each failure is named exactly as pandera names the same check (`in_range(1, 50)`,
`str_matches('^ORD-[0-9]{8}$')`, `not_nullable`), from the very `Check` objects the staging
contract validates with, so a quarantine row and a contract failure speak the same language.
"""

from __future__ import annotations

from etl_platform.io.sql import quote, sql_string
from etl_platform.quality.reasons import Reason, reason_for_check
from etl_platform.quality.schema import column_checks
from etl_platform.sources.model import ColumnSpec

NOT_NULLABLE = "not_nullable"


def _fails(column: ColumnSpec, check: str) -> str:
    """SQL true where a non-null typed value fails the named check."""
    col = quote(column.name)
    spec = column.checks
    reason = reason_for_check(check)
    if reason is Reason.OUT_OF_RANGE:
        bounds = [f"{col} < {spec.min!r}" if spec.min is not None else None]
        bounds.append(f"{col} > {spec.max!r}" if spec.max is not None else None)
        return " OR ".join(b for b in bounds if b)
    if reason is Reason.NOT_ALLOWED:
        allowed = ", ".join(sql_string(v) for v in spec.allowed or [])
        return f"CAST({col} AS VARCHAR) NOT IN ({allowed})"
    if reason is Reason.PATTERN_MISMATCH:
        # pandera's str_matches is Python's re.match: anchored at the start only.
        return f"NOT regexp_matches({col}, {sql_string('^(?:' + (spec.regex or '') + ')')})"
    raise ValueError(f"no SQL for check {check!r}")


def _failure(reason: Reason, column: str, check: str) -> str:
    return f"{{'r': '{reason}', 'c': '{column}', 'k': {sql_string(check)}}}"


def row_check_case(columns: list[ColumnSpec]) -> list[str]:
    """`WHEN` branches over typed columns: nullability, then each check, column by column."""
    whens: list[str] = []
    for column in columns:
        if not column.nullable:
            failure = _failure(Reason.NULL_VIOLATION, column.name, NOT_NULLABLE)
            whens.append(f"WHEN {quote(column.name)} IS NULL THEN {failure}")
        for check in column_checks(column):
            name = str(check.error)
            failure = _failure(reason_for_check(name), column.name, name)
            whens.append(f"WHEN {_fails(column, name)} THEN {failure}")
    return whens
