"""Raw rows to staging rows: cleanse, type, validate, deduplicate, mask; the rest to quarantine.

Set-wise work runs in an in-process DuckDB; pandas only ever sees bounded validation chunks.
Every row read ends in exactly one place (staged, quarantined with one reason, or dropped as a
counted duplicate), and the step fails loudly if the counts do not add up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from etl_platform.io.sql import quote
from etl_platform.quality.reasons import Reason
from etl_platform.quality.schema import build_schema
from etl_platform.quality.validate import validate_chunks
from etl_platform.sources.model import ColumnType, MaskMethod, SourceSpec
from etl_platform.sources.rules import compile_rule
from etl_platform.transform import cleanse, dedup
from etl_platform.transform.pii import mask_array
from etl_platform.transform.pii_detect import scrub_array

VALIDATION_BATCH_ROWS = 100_000
LINEAGE = ("_partition_date", "_source_file", "_source_line")


@dataclass
class PartitionStats:
    """Where one partition's rows went; `read` always equals the sum of the others."""

    read: int = 0
    staged: int = 0
    exact_duplicates: int = 0
    superseded: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)

    @property
    def balanced(self) -> bool:
        """Whether nothing was lost or counted twice."""
        total = (
            self.staged + self.exact_duplicates + self.superseded + sum(self.quarantined.values())
        )
        return total == self.read


@dataclass
class StagingResult:
    """The staged rows, the quarantined rows, and the per-partition accounting."""

    staged: pa.Table
    quarantined: pa.Table
    stats: dict[str, PartitionStats]
    # day -> warn-severity rule -> staged rows that break it
    rule_warnings: dict[str, dict[str, int]] = field(default_factory=dict)
    # "<column>:<kind>" -> identifiers found in free text and replaced by tokens
    pii_scrubbed: dict[str, int] = field(default_factory=dict)


def _reject_case(spec: SourceSpec) -> str:
    """SQL for the reasons found before validation: unparseable record, failed cast, wrong day."""
    whens = [
        f"WHEN _file_rejected IS NOT NULL THEN "
        f"{{'r': '{Reason.FILE_REJECTED}', 'c': NULL, 'k': _file_rejected}}",
        f"WHEN _raw_record IS NOT NULL THEN "
        f"{{'r': '{Reason.UNPARSEABLE_RECORD}', 'c': NULL, 'k': NULL}}",
    ]
    for column in spec.columns:
        whens.append(
            f"WHEN {cleanse.cast_fails(column)} THEN "
            f"{{'r': '{Reason.TYPE_MISMATCH}', 'c': '{column.name}', 'k': NULL}}"
        )
    event = next(c for c in spec.columns if c.name == spec.event_time)
    whens.append(
        f"WHEN CAST({cleanse.typed(event)} AS DATE) <> _partition_date THEN "
        f"{{'r': '{Reason.EVENT_TIME_OUTSIDE_PARTITION}', 'c': '{event.name}', 'k': NULL}}"
    )
    return "CASE " + " ".join(whens) + " END"


def _duplicate_value_case(spec: SourceSpec) -> str:
    """SQL naming the first `unique` column whose value an earlier row already holds, else NULL."""
    whens = [
        f"WHEN {quote(c.name)} IS NOT NULL AND {dedup.value_rank(c.name)} > 1 THEN '{c.name}'"
        for c in spec.columns
        if c.checks.unique
    ]
    return "CASE " + " ".join(whens) + " END" if whens else "CAST(NULL AS VARCHAR)"


def _rule_case(spec: SourceSpec, severity: str) -> str:
    """SQL naming the first rule of a severity a row breaks, as {n: name, k: expression}."""
    whens = [
        f"WHEN NOT ({compile_rule(r.expression, set(spec.column_names))}) "
        f"THEN {{'n': '{r.name}', 'k': '{r.expression.replace(chr(39), chr(39) * 2)}'}}"
        for r in spec.rules
        if r.severity == severity
    ]
    return "CASE " + " ".join(whens) + " END" if whens else "NULL"


def _rule_warnings(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> dict[str, dict[str, int]]:
    """Staged rows breaking each warn rule, per day (only days and rules with some)."""
    found: dict[str, dict[str, int]] = {}
    for rule in (r for r in spec.rules if r.severity == "warn"):
        sql = compile_rule(rule.expression, set(spec.column_names))
        rows = con.execute(
            f"SELECT _partition_date, count(*) FROM latest WHERE _dup_column IS NULL "
            f"AND NOT ({sql}) GROUP BY ALL"
        ).fetchall()
        for day, n in rows:
            found.setdefault(day.isoformat(), {})[rule.name] = int(n)
    return found


def free_text_columns(spec: SourceSpec) -> list[str]:
    """String columns that are neither PII nor a constrained code: where stray PII can hide."""
    return [
        c.name
        for c in spec.columns
        if c.type is ColumnType.STRING
        and c.pii is None
        and c.checks.regex is None
        and c.checks.allowed is None
    ]


def _mask(table: pa.Table, spec: SourceSpec, key: bytes, found: Counter[str]) -> pa.Table:
    """Mask PII columns, and scrub identifiers out of free-text columns, counting what was found."""
    for column in spec.columns:
        if column.pii is not None:
            index = table.schema.get_field_index(column.name)
            masked = mask_array(table[column.name], column.pii, key)
            table = table.set_column(index, column.name, masked)
    for name in free_text_columns(spec):
        index = table.schema.get_field_index(name)
        scrubbed, kinds = scrub_array(table[name], key)
        found.update({f"{name}:{kind}": n for kind, n in kinds.items()})
        table = table.set_column(index, name, scrubbed)
    if "_raw_record" in table.schema.names and any(c.pii for c in spec.columns):
        # An unparsed record may hold PII in any position; only the lake keeps it in clear.
        index = table.schema.get_field_index("_raw_record")
        masked = mask_array(table["_raw_record"], MaskMethod.HMAC, key)
        table = table.set_column(index, "_raw_record", masked)
    return table


def stage(
    raw: ds.Dataset | pa.Table,
    spec: SourceSpec,
    partition_keys: list[str],
    pii_key: bytes,
    timezone: str,
) -> StagingResult:
    """Turn a raw slice into staging and quarantine tables for `partition_keys`."""
    ZoneInfo(timezone)  # refuse an unknown zone before it reaches SQL
    con = duckdb.connect()
    try:
        con.execute(f"SET TimeZone = '{timezone}'")
        con.register("raw_input", raw)
        cols = spec.columns
        text_cols = ", ".join(f"{cleanse.normalized(c.name)} AS {quote(c.name)}" for c in cols)
        con.execute(
            "CREATE TEMP TABLE norm AS SELECT CAST(_partition_date AS DATE) AS _partition_date, "
            f"_source_file, _source_line, _raw_record, _file_rejected, {text_cols} FROM raw_input"
        )
        typed_cols = ", ".join(f"{cleanse.typed(c)} AS {quote(c.name)}" for c in cols)
        con.execute(
            "CREATE TEMP TABLE typed AS SELECT _partition_date, _source_file, _source_line, "
            f"{typed_cols}, {_reject_case(spec)} AS _early FROM norm"
        )
        validation_cols = ", ".join(cleanse.for_validation(c) for c in cols)
        late = validate_chunks(
            build_schema(spec),
            con.sql(
                f"SELECT _source_file, _source_line, {validation_cols} FROM typed "
                "WHERE _early IS NULL"
            ).to_arrow_reader(VALIDATION_BATCH_ROWS),
        )
        con.register("validation_rejects", late)
        con.execute(
            "CREATE TEMP TABLE late_rejects AS SELECT * FROM validation_rejects "
            f"UNION ALL SELECT _source_file, _source_line, '{Reason.RULE_VIOLATION}', "
            f"r.n, r.k FROM (SELECT _source_file, _source_line, {_rule_case(spec, 'error')} AS r "
            "FROM typed t ANTI JOIN validation_rejects USING (_source_file, _source_line) "
            "WHERE t._early IS NULL) WHERE r IS NOT NULL"
        )
        con.execute(
            "CREATE TEMP TABLE ranked AS SELECT *, "
            f"{dedup.exact_copy_rank(spec)} AS _copy FROM ("
            "SELECT t.* EXCLUDE (_early) FROM typed t "
            "ANTI JOIN late_rejects r USING (_source_file, _source_line) WHERE t._early IS NULL)"
        )
        con.execute(
            f"CREATE TEMP TABLE versions AS SELECT *, {dedup.version_rank(spec)} AS _version "
            "FROM ranked WHERE _copy = 1"
        )
        con.execute(
            f"CREATE TEMP TABLE latest AS SELECT *, {_duplicate_value_case(spec)} AS _dup_column "
            "FROM versions WHERE _version = 1"
        )
        all_rejects = (
            "SELECT _source_file, _source_line, _early.r AS _reason, _early.c AS _column, "
            "_early.k AS _check FROM typed WHERE _early IS NOT NULL "
            "UNION ALL SELECT _source_file, _source_line, _reason, _column, _check "
            "FROM late_rejects UNION ALL SELECT _source_file, _source_line, "
            f"'{Reason.DUPLICATE_VALUE}', _dup_column, 'unique' FROM latest "
            "WHERE _dup_column IS NOT NULL"
        )
        con.execute(f"CREATE TEMP TABLE rejects AS {all_rejects}")
        names = ", ".join(quote(c.name) for c in cols)
        order = "ORDER BY _partition_date, _source_file, _source_line"
        staged = con.sql(
            f"SELECT {names}, _partition_date, _source_file, _source_line FROM latest "
            f"WHERE _dup_column IS NULL {order}"
        ).to_arrow_table()
        quarantined = con.sql(
            f"SELECT {', '.join('n.' + quote(c.name) for c in cols)}, r._reason, r._column, "
            "r._check, n._raw_record, n._partition_date, n._source_file, n._source_line "
            f"FROM rejects r JOIN norm n USING (_source_file, _source_line) {order}"
        ).to_arrow_table()
        stats = _accounting(con, partition_keys)
        warnings = _rule_warnings(con, spec)
    finally:
        con.close()
    found: Counter[str] = Counter()
    staged = _mask(staged, spec, pii_key, found)
    quarantined = _mask(quarantined, spec, pii_key, found)
    return StagingResult(staged, quarantined, stats, warnings, dict(found))


_ACCOUNTING_SQL = """
SELECT _partition_date, bucket, count(*) FROM (
    SELECT _partition_date, 'read' AS bucket FROM norm
    UNION ALL SELECT _partition_date, 'staged' FROM latest WHERE _dup_column IS NULL
    UNION ALL SELECT _partition_date, 'exact_duplicates' FROM ranked WHERE _copy > 1
    UNION ALL SELECT _partition_date, 'superseded' FROM versions WHERE _version > 1
    UNION ALL SELECT n._partition_date, 'quarantined:' || r._reason
        FROM rejects r JOIN norm n USING (_source_file, _source_line)
) GROUP BY ALL
"""


def _accounting(
    con: duckdb.DuckDBPyConnection, partition_keys: list[str]
) -> dict[str, PartitionStats]:
    stats = {key: PartitionStats() for key in partition_keys}
    rows: list[tuple[date, str, int]] = con.execute(_ACCOUNTING_SQL).fetchall()
    for day, bucket, n in rows:
        target = stats[day.isoformat()]
        if bucket.startswith("quarantined:"):
            target.quarantined[bucket.removeprefix("quarantined:")] = n
        else:
            setattr(target, bucket, n)
    unbalanced = {k: s for k, s in stats.items() if not s.balanced}
    if unbalanced:
        raise RuntimeError(f"staging lost or double-counted rows: {unbalanced}")
    return stats
