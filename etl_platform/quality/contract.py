"""The data contract, checked on the staged rows of the run's partitions before they are written.

Rows passed the spec's row checks one by one; this checks the result as a whole (types, ranges,
primary key unique per day), so a regression in cleansing or dedup blocks the day instead of
reaching the marts.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandera.errors
import pyarrow as pa

from etl_platform.io.sql import quote
from etl_platform.partitions import platform_timezone
from etl_platform.quality.partition_checks import CheckOutcome
from etl_platform.quality.schema import build_schema
from etl_platform.quality.validate import PANDAS_TYPES
from etl_platform.sources.model import SourceSpec
from etl_platform.transform import cleanse

CHUNK_ROWS = 100_000
SAMPLE_SIZE = 5


def check_contract(staged: pa.Table, spec: SourceSpec, days: list[str]) -> CheckOutcome:
    """Pandera on each day's staged rows, plus primary-key uniqueness per day, in bounded chunks."""
    con = duckdb.connect()
    try:
        # Timestamps come out in the session's zone; the contract expects the platform's.
        con.execute(f"SET TimeZone = '{ZoneInfo(platform_timezone()).key}'")
        con.register("staged", staged)
        return _check(con, spec, days)
    finally:
        con.close()


def _check(con: duckdb.DuckDBPyConnection, spec: SourceSpec, days: list[str]) -> CheckOutcome:
    schema = build_schema(spec, masked=True)
    target = "staged"
    columns = ", ".join(cleanse.for_validation(c) for c in spec.columns)
    failing: dict[str, str] = {}
    failures = 0
    sample: list[dict[str, Any]] = []
    keys = ", ".join(quote(k) for k in spec.primary_key)
    duplicates = dict(
        con.execute(
            f"SELECT _partition_date::VARCHAR, count(*) - count(DISTINCT ({keys})) FROM {target} "
            "GROUP BY ALL"
        ).fetchall()
    )
    for day in days:
        duplicate_keys = int(duplicates.get(day, 0))
        if duplicate_keys:
            sample.append(
                {
                    "partition": day,
                    "check": "primary_key_unique",
                    "failure_case": str(duplicate_keys),
                }
            )
        day_failures = 0
        reader = con.sql(
            f"SELECT {columns} FROM {target} WHERE _partition_date = ?::DATE", params=[day]
        ).to_arrow_reader(CHUNK_ROWS)
        for batch in reader:
            try:
                schema.validate(batch.to_pandas(types_mapper=PANDAS_TYPES.get), lazy=True)
            except pandera.errors.SchemaErrors as errors:
                cases = errors.failure_cases
                day_failures += len(cases)
                head = cases[["column", "check", "failure_case"]].head(SAMPLE_SIZE)
                sample.extend(
                    {"partition": day, **{k: str(v) for k, v in case.items()}}
                    for case in head.to_dict("records")
                )
        reader.close()  # DuckDB keeps the result pending until its reader is closed
        if day_failures or duplicate_keys:
            failing[day] = f"{day_failures} contract failures, {duplicate_keys} duplicate keys"
            failures += day_failures + duplicate_keys
    return CheckOutcome(failing, {"failures": failures, "sample": sample[:SAMPLE_SIZE]})
