"""The data contract, checked on the staged rows of the run's partitions as they are written.

Rows passed the spec's row checks one by one; this checks the result as a whole (types, ranges,
primary key unique per day), so a regression in cleansing or dedup blocks the day instead of
reaching the marts. The audit sees each staged batch once, on its way to the warehouse, so the
contract costs no second read and no more memory than a batch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import duckdb
import pandera.errors
import polars as pl
import pyarrow as pa

from etl_platform.io.sql import quote
from etl_platform.quality.partition_checks import CheckOutcome
from etl_platform.quality.schema import build_schema, validation_frame
from etl_platform.sources.model import SourceSpec

SAMPLE_SIZE = 5


def duplicate_keys_sql(spec: SourceSpec, relation: str) -> str:
    """SQL counting, per day, rows whose primary key another row of the day already holds."""
    keys = ", ".join(quote(k) for k in spec.primary_key)
    return (
        f"SELECT _partition_date::VARCHAR, count(*) - count(DISTINCT ({keys})) FROM {relation} "
        "GROUP BY ALL"
    )


class ContractAudit:
    """Pandera (polars backend) on each staged batch, failures counted per day."""

    def __init__(self, spec: SourceSpec, days: list[str]) -> None:
        self._spec = spec
        self._schema = build_schema(spec, masked=True)
        self._days = set(days)
        self._failures: Counter[str] = Counter()
        self._sample: list[dict[str, Any]] = []

    def observe(self, batch: pa.RecordBatch) -> None:
        """Validate one batch; remember its failures by the day of the failing row."""
        frame = validation_frame(batch, self._spec)
        try:
            self._schema.validate(frame, lazy=True)
            return
        except pandera.errors.SchemaErrors as errors:
            cases = errors.failure_cases
        assert isinstance(cases, pl.DataFrame)
        day_of_row = frame.get_column("_partition_date").cast(pl.String)
        batch_days = sorted(set(day_of_row.to_list()) & self._days)
        for case in cases.iter_rows(named=True):
            index = case["index"]
            # A failure of the whole column (a wrong dtype) counts against every day it holds.
            for day in [str(day_of_row[index])] if index is not None else batch_days:
                if day not in self._days:
                    continue
                self._failures[day] += 1
                if len(self._sample) < SAMPLE_SIZE:
                    self._sample.append(
                        {"partition": day, "column": str(case["column"]),
                         "check": str(case["check"]), "failure_case": str(case["failure_case"])}
                    )  # fmt: skip

    def outcome(self, duplicate_keys: dict[str, int]) -> CheckOutcome:
        """The contract's result, given each day's duplicate primary keys (counted set-wise)."""
        failing: dict[str, str] = {}
        sample = list(self._sample)
        for day in sorted(self._days):
            duplicates = int(duplicate_keys.get(day, 0))
            if duplicates:
                sample.append(
                    {
                        "partition": day,
                        "check": "primary_key_unique",
                        "failure_case": str(duplicates),
                    }
                )
            if self._failures[day] or duplicates:
                failing[day] = (
                    f"{self._failures[day]} contract failures, {duplicates} duplicate keys"
                )
        failures = sum(self._failures[d] for d in self._days)
        failures += sum(int(duplicate_keys.get(d, 0)) for d in self._days)
        return CheckOutcome(failing, {"failures": failures, "sample": sample[:SAMPLE_SIZE]})


def check_contract(staged: pa.Table, spec: SourceSpec, days: list[str]) -> CheckOutcome:
    """The contract on a whole staged table (small inputs, tests): the audit over its batches."""
    audit = ContractAudit(spec, days)
    for batch in staged.to_batches(max_chunksize=100_000):
        audit.observe(batch)
    con = duckdb.connect()
    try:
        con.register("staged", staged)
        duplicates = dict(con.execute(duplicate_keys_sql(spec, "staged")).fetchall())
    finally:
        con.close()
    return audit.outcome(duplicates)
