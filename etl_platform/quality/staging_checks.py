"""The asset checks of a staging table: specs, evaluation over the run's days, and results."""

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from etl_platform.quality import partition_checks
from etl_platform.quality.contract import ContractAudit
from etl_platform.quality.partition_checks import CheckOutcome
from etl_platform.quality.pii_leak import LeakAudit
from etl_platform.sources.model import SourceSpec
from etl_platform.transform.stage import StagedRows

CONSERVATION = "conservation"
CONTRACT = "contract"
QUARANTINE_RATE = "quarantine_rate"
ROW_VOLUME = "row_volume"
BUSINESS_RULES = "business_rules"
PII_NO_LEAK = "pii_no_leak"


def check_specs(spec: SourceSpec, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The checks every staging table carries; `error` ones block its day's curated models."""
    rate_blocks = spec.quality.quarantine_rate_severity == "error"
    warn_rules = [r.name for r in spec.rules if r.severity == "warn"]
    rules = [
        dg.AssetCheckSpec(
            BUSINESS_RULES,
            asset=asset,
            description=f"Staged rows keep the warn-severity rules {warn_rules} (warn).",
        )
    ]
    return (rules if warn_rules else []) + [
        dg.AssetCheckSpec(
            CONSERVATION,
            asset=asset,
            blocking=True,
            description="Rows landed in raw = staged + quarantined + duplicates dropped, per day.",
        ),
        dg.AssetCheckSpec(
            CONTRACT,
            asset=asset,
            blocking=True,
            description="The pandera contract from the spec and a unique primary key, per day.",
        ),
        dg.AssetCheckSpec(
            QUARANTINE_RATE,
            asset=asset,
            blocking=rate_blocks,
            description=f"At most {spec.quality.max_quarantine_rate:.1%} of a day's rows "
            f"quarantined ({spec.quality.quarantine_rate_severity}).",
        ),
        dg.AssetCheckSpec(
            PII_NO_LEAK,
            asset=asset,
            blocking=True,
            description="No raw value of a PII column appears anywhere in staging or quarantine.",
        ),
        dg.AssetCheckSpec(
            ROW_VOLUME,
            asset=asset,
            description=f"A day's rows within median ± {spec.quality.volume_mad_k}·MAD of the "
            f"previous {spec.quality.volume_lookback_days} days (warn).",
        ),
    ]


def _raw_counts(raw: ds.Dataset) -> dict[str, int]:
    """Rows per day in raw, counted by the engine without loading the rows."""
    con = duckdb.connect()
    try:
        con.register("raw", raw)
        counts = con.execute("SELECT _partition_date, count(*) FROM raw GROUP BY ALL").fetchall()
    finally:
        con.close()
    return {str(day): int(n) for day, n in counts}


class OutputAudit:
    """What the checks need of the rows about to be written, gathered in one pass over them.

    Rows per day (an independent recount for conservation), the pandera contract on each staged
    batch, and the raw-PII probe on every batch of both outputs: a batch's worth of memory.
    """

    def __init__(self, spec: SourceSpec, days: list[str], raw: ds.Dataset) -> None:
        self.contract = ContractAudit(spec, days)
        self.leaks = LeakAudit(raw, spec)
        self.rows: dict[str, Counter[str]] = {"staging": Counter(), "quarantine": Counter()}

    def read(self, output: str, reader: pa.RecordBatchReader) -> None:
        """Observe every batch of one output (`staging` or `quarantine`)."""
        for batch in reader:
            self._observe(output, batch)

    def passing(
        self, output: str, reader: pa.RecordBatchReader, then: Callable[[], None]
    ) -> pa.RecordBatchReader:
        """`reader`'s batches, each observed on its way to the writer; `then()` after the last.

        The checks see the rows in the one pass that writes them: reading the staged rows once
        for the checks and again for the write ran the staging query, the masking and the scrub
        twice.
        """

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                self._observe(output, batch)
                yield batch
            then()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def _observe(self, output: str, batch: pa.RecordBatch) -> None:
        days = pc.value_counts(pc.cast(batch.column("_partition_date"), pa.string()))
        for item in days.to_pylist():
            self.rows[output][item["values"]] += item["counts"]
        if output == "staging":
            self.contract.observe(batch)
        self.leaks.observe(output, batch)


@dataclass(frozen=True)
class Recounts:
    """What the checks count set-wise, independently of staging's own accounting, per day."""

    raw_rows: dict[str, int]
    duplicate_keys: dict[str, int]


def recount(raw: ds.Dataset, staging: StagedRows) -> Recounts:
    """Raw's rows and the staged duplicate keys per day: queries, run before the rows stream out."""
    return Recounts(_raw_counts(raw), staging.duplicate_keys())


def evaluate(
    spec: SourceSpec,
    days: list[str],
    recounts: Recounts,
    staging: StagedRows,
    audit: OutputAudit,
    history: list[int],
) -> dict[str, CheckOutcome]:
    """Every check of the staging table over the run's days, from independent recounts."""
    raw_rows = recounts.raw_rows
    staged, quarantined = dict(audit.rows["staging"]), dict(audit.rows["quarantine"])
    dropped = {d: s.exact_duplicates + s.superseded for d, s in staging.stats.items()}
    quality = spec.quality
    outcomes = {
        CONSERVATION: partition_checks.conservation(days, raw_rows, staged, quarantined, dropped),
        CONTRACT: audit.contract.outcome(recounts.duplicate_keys),
        QUARANTINE_RATE: partition_checks.quarantine_rate(
            days, raw_rows, quarantined, quality.max_quarantine_rate
        ),
        ROW_VOLUME: partition_checks.volume_anomaly(days, raw_rows, history, quality.volume_mad_k),
        PII_NO_LEAK: audit.leaks.outcome(days),
    }
    if any(r.severity == "warn" for r in spec.rules):
        warnings = staging.rule_warnings
        outcomes[BUSINESS_RULES] = CheckOutcome(
            failing={d: f"rows breaking rules: {w}" for d, w in warnings.items()},
            metadata={"violations_by_partition": warnings},
        )
    return outcomes


def failures_by_day(
    spec: SourceSpec, outcomes: dict[str, CheckOutcome], *, blocking_only: bool
) -> dict[str, list[str]]:
    """For each day, the checks it failed (only the blocking ones: its curated models wait)."""
    blocking = {c.name for c in check_specs(spec, dg.AssetKey("x")) if c.blocking}
    failed: dict[str, list[str]] = {}
    for name, outcome in outcomes.items():
        if name in blocking or not blocking_only:
            for day in outcome.failing:
                failed.setdefault(day, []).append(name)
    return failed


def check_results(
    spec: SourceSpec, asset: dg.AssetKey, outcomes: dict[str, CheckOutcome]
) -> list[dg.AssetCheckResult]:
    """One result per check, its failing days and evidence in metadata."""
    specs = {c.name: c for c in check_specs(spec, asset)}
    return [
        dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=outcome.passed,
            severity=(
                dg.AssetCheckSeverity.ERROR if specs[name].blocking else dg.AssetCheckSeverity.WARN
            ),
            metadata={
                "failing_partitions": dg.MetadataValue.json(outcome.failing),
                **{
                    k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
                    for k, v in outcome.metadata.items()
                },
            },
        )
        for name, outcome in outcomes.items()
    ]
