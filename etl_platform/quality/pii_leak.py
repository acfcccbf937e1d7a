"""Proof that no raw PII value reached staging or quarantine, for the run's days.

Masking covers the declared PII columns; what it cannot cover is PII in the wrong place (an email
typed into the city column, a phone number in a product name). So every raw value of every PII
column is looked for in every text column of what is about to be written.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from etl_platform.io.sql import quote, table_name
from etl_platform.io.warehouse import Warehouse
from etl_platform.quality.partition_checks import CheckOutcome
from etl_platform.sources.model import SourceSpec
from etl_platform.transform.cleanse import NULL_TOKENS

# Shorter raw values ("Ravi", "NA") also occur legitimately elsewhere; identifiers never are.
MIN_PROBE_LENGTH = 5


def _text_columns(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_string(f.type) and f.name != "_source_file"]


def raw_pii_values(raw: ds.Dataset | pa.Table, spec: SourceSpec) -> pa.Table:
    """Every raw PII value worth probing for, with its day: columns `day`, `v`."""
    pii = [c.name for c in spec.columns if c.pii is not None]
    if not pii:
        return pa.table({"day": pa.array([], pa.string()), "v": pa.array([], pa.string())})
    tokens = ", ".join(f"'{t}'" for t in NULL_TOKENS)
    probes = " UNION ".join(
        f"SELECT _partition_date::VARCHAR AS day, trim({quote(c)}) AS v FROM raw_input "
        f"WHERE length(trim({quote(c)})) >= {MIN_PROBE_LENGTH} "
        f"AND lower(trim({quote(c)})) NOT IN ({tokens})"
        for c in pii
    )
    con = duckdb.connect()
    try:
        con.register("raw_input", raw)
        return con.sql(probes).to_arrow_table()
    finally:
        con.close()


def check_no_leak(
    raw: ds.Dataset | pa.Table,
    spec: SourceSpec,
    outputs: dict[str, pa.Table],
    days: list[str],
) -> CheckOutcome:
    """Per day, count cells of the outputs that equal a raw PII value of that day."""
    pii = [c.name for c in spec.columns if c.pii is not None]
    if not pii:
        return CheckOutcome(metadata={"pii_columns": []})
    leaks: dict[str, int] = {}
    where: dict[str, list[str]] = {}
    con = duckdb.connect()
    try:
        con.register("probes", raw_pii_values(raw, spec))
        for name, table in outputs.items():
            con.register("output", table)
            for column in _text_columns(table):
                rows = con.execute(
                    f"SELECT o._partition_date::VARCHAR, count(*) FROM output o JOIN probes p "
                    f"ON p.day = o._partition_date::VARCHAR AND p.v = o.{quote(column)} GROUP BY 1"
                ).fetchall()
                for day, n in rows:
                    leaks[day] = leaks.get(day, 0) + int(n)
                    where.setdefault(day, []).append(f"{name}.{column}")
            con.unregister("output")
    finally:
        con.close()
    failing = {d: f"{leaks[d]} raw PII values found in {where[d]}" for d in days if d in leaks}
    return CheckOutcome(failing, {"pii_columns": pii, "cells_leaked": sum(leaks.values())})


def leaked_columns(
    warehouse: Warehouse, schema: str, table: str, values: list[str]
) -> dict[str, int]:
    """Text columns of a warehouse table holding any of the raw values, with the cell counts.

    Portable SQL (information_schema, `= ANY(array)`), so it runs on DuckDB and PostgreSQL alike.
    """
    p = warehouse.param
    target = table_name(schema, table)
    with warehouse.connect() as con:
        columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = {p} AND table_name = {p} "
                "AND lower(data_type) IN ('varchar', 'text', 'character varying') "
                "ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
        ]
        found: dict[str, int] = {}
        for column in columns:
            # fetchall, not fetchone: DuckDB keeps a result open until a fetch finds it empty.
            ((count,),) = con.execute(
                f"SELECT count(*) FROM {target} WHERE {quote(column)} = ANY({p})", [values]
            ).fetchall()
            if count:
                found[column] = int(count)
    return found
