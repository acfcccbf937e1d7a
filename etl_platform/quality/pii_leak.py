"""Proof that no raw PII value reached staging or quarantine, for the run's days.

Masking covers the declared PII columns; what it cannot cover is PII in the wrong place (an email
typed into the city column, a phone number in a product name). So every raw value of every PII
column is looked for in every text column of what is about to be written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from etl_platform.io.duckdb_warehouse import scratch_connection
from etl_platform.io.sql import quote, table_name
from etl_platform.io.warehouse import Warehouse
from etl_platform.quality.partition_checks import CheckOutcome
from etl_platform.sources.model import SourceSpec
from etl_platform.transform.cleanse import NULL_TOKENS
from etl_platform.transform.stage import register_raw

# Shorter raw values ("Ravi", "NA") also occur legitimately elsewhere; identifiers never are.
MIN_PROBE_LENGTH = 5
_SEPARATOR = "\x1f"
PROBE_CHUNK = 100_000


def _text_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type) and f.name != "_source_file"]


def _probe_sql(pii: list[str]) -> str:
    """`day`, `v`: each raw PII value worth probing for, once per day it occurs on."""
    tokens = ", ".join(f"'{t}'" for t in NULL_TOKENS)
    return " UNION ".join(
        f"SELECT _partition_date::VARCHAR AS day, trim({quote(c)}) AS v FROM raw_input "
        f"WHERE length(trim({quote(c)})) >= {MIN_PROBE_LENGTH} "
        f"AND lower(trim({quote(c)})) NOT IN ({tokens})"
        for c in pii
    )


def _query_raw(raw: ds.Dataset | pa.Table, sql: str) -> pa.Table:
    """`sql` over `raw_input`, in a DuckDB bounded like staging's: a large union spills."""
    with scratch_connection("etl-pii-probes-") as con:
        register_raw(con, raw)
        return con.sql(sql).to_arrow_table()


def _pii_columns(spec: SourceSpec) -> list[str]:
    return [c.name for c in spec.columns if c.pii is not None]


def raw_pii_distinct(raw: ds.Dataset | pa.Table, spec: SourceSpec) -> pa.Array:
    """The distinct raw PII values worth probing for, whatever their day."""
    pii = _pii_columns(spec)
    if not pii:
        return pa.array([], pa.string())
    table = _query_raw(raw, f"SELECT DISTINCT v FROM ({_probe_sql(pii)})")
    return table.column("v").combine_chunks()


def _probe_keys(raw: ds.Dataset | pa.Table, pii: list[str]) -> Iterator[pa.Array]:
    """The run's probes, each day and value joined, a batch at a time straight from raw.

    Never all at once: held whole, the probe strings and their joined keys were the peak of a
    5.4 M-row payments stage (1,061 MB, against ~770 MB for the rest of the step), and grew with
    the run's rows; now the run keeps 8 bytes a probe (`_sorted_hashes`).
    """
    with scratch_connection("etl-pii-probes-") as con:
        register_raw(con, raw)
        for batch in con.sql(_probe_sql(pii)).to_arrow_reader(PROBE_CHUNK):
            yield pc.binary_join_element_wise(batch.column("day"), batch.column("v"), _SEPARATOR)


def _hashes(keys: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.uint64]:
    return pl.Series(values=keys).hash(seed=0).to_numpy()


def _sorted_hashes(raw: ds.Dataset | pa.Table, pii: list[str]) -> npt.NDArray[np.uint64] | None:
    """The probes' hashes, sorted for binary search; None when raw has no probe."""
    parts = [_hashes(keys) for keys in _probe_keys(raw, pii)]
    hashes = np.concatenate(parts) if parts else np.empty(0, np.uint64)
    hashes.sort()
    return hashes if len(hashes) else None


def _within(sorted_hashes: npt.NDArray[np.uint64], hashes: npt.NDArray[np.uint64]) -> pa.Array:
    at = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    return pa.array(sorted_hashes[at] == hashes)


class LeakAudit:
    """Looks for the run's raw PII values in each batch written, per day, as batches go by.

    The probes (day and value joined: a value counts on its own day only) are held as sorted 64-bit
    hashes, looked up by binary search. `pc.is_in` against the probe strings rebuilt a hash set of
    every probe for each batch and column, which made the check quadratic in the run's rows (most
    of the 17 minutes a 10.8 M-row payments stage took). A hash hit is only a candidate:
    candidates are confirmed against the raw values at the end, so a collision never fails a day.
    """

    def __init__(self, raw: ds.Dataset | pa.Table, spec: SourceSpec) -> None:
        self._raw = raw
        self._pii = _pii_columns(spec)
        self._hashes = _sorted_hashes(raw, self._pii) if self._pii else None
        self._candidates: dict[str, Counter[str]] = {}

    def observe(self, output: str, batch: pa.RecordBatch) -> None:
        """Note the batch's cells whose hash is a raw PII value's of the cell's day."""
        if self._hashes is None or batch.num_rows == 0:
            return
        days = pc.cast(batch.column("_partition_date"), pa.string())
        for column in _text_columns(batch.schema):
            keys = pc.binary_join_element_wise(days, batch.column(column), _SEPARATOR)
            hit = pc.and_(pc.is_valid(keys), _within(self._hashes, _hashes(keys)))
            for item in pc.value_counts(pc.filter(keys, hit)).to_pylist():
                where = self._candidates.setdefault(item["values"], Counter())
                where[f"{output}.{column}"] += item["counts"]

    def outcome(self, days: list[str]) -> CheckOutcome:
        """Failing days with the cells and columns where raw PII was found."""
        if not self._pii:
            return CheckOutcome(metadata={"pii_columns": []})
        leaks: Counter[str] = Counter()
        where: dict[str, set[str]] = {}
        for key in self._confirmed():
            day = key.split(_SEPARATOR, 1)[0]
            leaks[day] += sum(self._candidates[key].values())
            where.setdefault(day, set()).update(self._candidates[key])
        failing = {
            d: f"{leaks[d]} raw PII values found in {sorted(where[d])}" for d in days if leaks[d]
        }
        return CheckOutcome(
            failing, {"pii_columns": self._pii, "cells_leaked": sum(leaks.values())}
        )

    def _confirmed(self) -> list[str]:
        """The candidates that are raw PII values; raw is read again only if there are any."""
        if not self._candidates:
            return []
        candidates = pa.array(list(self._candidates), pa.string())
        confirmed: set[str] = set()
        for keys in _probe_keys(self._raw, self._pii):
            confirmed.update(pc.filter(keys, pc.is_in(keys, value_set=candidates)).to_pylist())
        return sorted(confirmed)


def check_no_leak(
    raw: ds.Dataset | pa.Table,
    spec: SourceSpec,
    outputs: dict[str, pa.Table],
    days: list[str],
) -> CheckOutcome:
    """Per day, count cells of whole output tables that equal a raw PII value of that day."""
    audit = LeakAudit(raw, spec)
    for name, table in outputs.items():
        for batch in table.to_batches():
            audit.observe(name, batch)
    return audit.outcome(days)


@dataclass(frozen=True)
class MartScan:
    """A table to probe, bounded to `date_column`'s days of the window when it has one."""

    schema: str
    table: str
    date_column: str | None = None


def leaked_columns(
    warehouse: Warehouse,
    scans: list[MartScan],
    values: pa.Array,
    window: tuple[date, date] | None = None,
) -> dict[tuple[str, str], dict[str, int]]:
    """For each `(schema, table)`, its text columns holding any of the raw values, with counts.

    The values go into a temporary table once; a table's text columns are stacked into one
    (column, cell) stream, each column read once, and semi-joined to the probes: one hash table
    of the probes per table, not one per column (which held ~1 GB more at 10 M rows), and never
    a literal `= ANY(list)` (minutes on 2 M rows). The probes go in by chunks, so the process holds
    them as Arrow strings, never as one Python list of millions of values. A table with a
    `date_column` is read for the `window`'s days only (inclusive): a daily run must not rescan a
    year of history it did not write. Portable SQL, so it runs on DuckDB and PostgreSQL alike.
    """
    p = warehouse.param
    found: dict[tuple[str, str], dict[str, int]] = {}
    with warehouse.connect() as con:
        con.execute("CREATE TEMPORARY TABLE _pii_probes (v TEXT)")
        for start in range(0, len(values), PROBE_CHUNK):
            chunk = values.slice(start, PROBE_CHUNK).to_pylist()
            con.execute(f"INSERT INTO _pii_probes SELECT unnest({p}::TEXT[])", [chunk])
        for scan in scans:
            columns = [
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    f"WHERE table_schema = {p} AND table_name = {p} "
                    "AND lower(data_type) IN ('varchar', 'text', 'character varying') "
                    "ORDER BY ordinal_position",
                    [scan.schema, scan.table],
                ).fetchall()
            ]
            found[(scan.schema, scan.table)] = {}
            if not columns:
                continue
            where, params = "", []
            if window is not None and scan.date_column is not None:
                where = f" WHERE {quote(scan.date_column)} BETWEEN {p} AND {p}"
                params = [*window] * len(columns)
            relation = table_name(scan.schema, scan.table)
            cells = " UNION ALL ".join(
                f"SELECT {i} AS c, {quote(c)} AS v FROM {relation}{where}"
                for i, c in enumerate(columns)
            )
            hits = con.execute(
                f"SELECT c, count(*) FROM ({cells}) AS cells "
                "WHERE v IN (SELECT v FROM _pii_probes) GROUP BY c",
                params,
            ).fetchall()
            found[(scan.schema, scan.table)] = {columns[i]: int(n) for i, n in hits}
    return found
