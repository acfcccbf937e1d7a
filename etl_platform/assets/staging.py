"""Staging (silver) and quarantine: typed, cleansed, deduplicated, masked and validated rows."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as ds

from etl_platform.assets.raw import WAREHOUSE_POOL, raw_key
from etl_platform.assets.recorded import latest_by_day
from etl_platform.memory import return_freed_memory
from etl_platform.partitions import daily_partitions, platform_timezone
from etl_platform.quality.partition_checks import CheckOutcome
from etl_platform.quality.staging_checks import (
    OutputAudit,
    check_results,
    check_specs,
    evaluate,
    failures_by_day,
    recount,
)
from etl_platform.sources.model import SourceSpec
from etl_platform.transform.cleanse import SQL_TYPES
from etl_platform.transform.stage import PartitionStats, StagedRows, StagedTables, open_staging


def staging_key(spec: SourceSpec) -> dg.AssetKey:
    """`staging/<source>`."""
    return dg.AssetKey(["staging", spec.name])


def quarantine_key(spec: SourceSpec) -> dg.AssetKey:
    """`quarantine/<source>`."""
    return dg.AssetKey(["quarantine", spec.name])


def _column_schema(spec: SourceSpec) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                SQL_TYPES[c.type],
                description=c.description + (f" (PII, masked: {c.pii.value})" if c.pii else ""),
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in spec.columns
        ]
    )


def column_lineage(spec: SourceSpec) -> dg.TableColumnLineage:
    """Each staged column comes from the raw column of the same name (masked ones included)."""
    return dg.TableColumnLineage(
        deps_by_column={
            c.name: [dg.TableColumnDep(asset_key=raw_key(spec), column_name=c.name)]
            for c in spec.columns
        }
    )


def partition_metadata(stats: PartitionStats) -> dict[str, dg.MetadataValue]:
    """One partition's accounting: read = staged + quarantined + duplicates dropped."""
    quarantined = sum(stats.quarantined.values())
    return {
        # A float per day, so the UI plots the quarantine rate over time.
        "quarantine_rate": dg.MetadataValue.float(quarantined / stats.read if stats.read else 0.0),
        "dagster/row_count": dg.MetadataValue.int(stats.staged),
        "rows_read": dg.MetadataValue.int(stats.read),
        "rows_staged": dg.MetadataValue.int(stats.staged),
        "rows_quarantined": dg.MetadataValue.int(quarantined),
        "quarantined_by_reason": dg.MetadataValue.json(dict(sorted(stats.quarantined.items()))),
        "duplicates_dropped": dg.MetadataValue.int(stats.exact_duplicates + stats.superseded),
        "exact_duplicates": dg.MetadataValue.int(stats.exact_duplicates),
        "superseded_versions": dg.MetadataValue.int(stats.superseded),
    }


def rows_read_history(
    instance: dg.DagsterInstance, key: dg.AssetKey, before: str, days: int
) -> list[int]:
    """Rows read on the latest `days` partitions before `before`, from the recorded metadata."""
    recorded = latest_by_day(instance, key, limit=days * 10)
    earlier = sorted(
        d for d, m in recorded.items() if d < before and isinstance(m.get("rows_read"), int)
    )
    return [recorded[d]["rows_read"] for d in earlier[-days:]]


def build_staging_assets(spec: SourceSpec) -> dg.AssetsDefinition:
    """`staging/<source>` and `quarantine/<source>`, made in one step from one read of raw."""
    kinds = {"duckdb", "spark"} if spec.engine == "spark" else {"duckdb"}

    @dg.multi_asset(
        outs={
            "staged": dg.AssetOut(
                key=staging_key(spec),
                description=f"{spec.description} Typed, deduplicated, PII-masked, validated.",
                group_name="staging",
                kinds=kinds,
                io_manager_key="warehouse_io_manager",
                metadata={"dagster/column_schema": _column_schema(spec)},
            ),
            "quarantined": dg.AssetOut(
                key=quarantine_key(spec),
                description=f"Rows of {spec.name} that failed a check, with reason, check, column "
                "and source line; PII masked.",
                group_name="quarantine",
                kinds=kinds,
                io_manager_key="warehouse_io_manager",
            ),
        },
        ins={"raw": dg.AssetIn(key=raw_key(spec))},
        check_specs=check_specs(spec, staging_key(spec)),
        name=f"stage_{spec.name}",
        required_resource_keys={"pii"}
        | ({"spark", "lake_io_manager"} if spec.engine == "spark" else set()),
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def _staging(
        context: dg.AssetExecutionContext, raw: ds.Dataset
    ) -> Iterator[dg.Output[pa.RecordBatchReader] | dg.AssetCheckResult]:
        return_freed_memory()
        days = sorted(context.partition_keys)
        with _staged_rows(context, spec, raw, days) as staging:
            # The set-wise recounts first, with the whole memory budget; then the quarantined
            # rows (a few percent) are read once for the checks before they are written, and the
            # staged rows are checked batch by batch in the one pass that writes them.
            recounts = recount(raw, staging)
            history = rows_read_history(
                context.instance, staging_key(spec), days[0], spec.quality.volume_lookback_days
            )
            audit = OutputAudit(spec, days, raw)
            scrubbed: Counter[str] = Counter()
            audit.read("quarantine", staging.quarantined(scrubbed))
            outcomes: dict[str, CheckOutcome] = {}

            def judge() -> None:
                """After the last staged batch, before Dagster records the materializations.

                Dagster reads an asset's metadata once its IO manager has written the output,
                so each day's verdict still goes on that day's materialization (the curated
                sensor reads it there).
                """
                outcomes.update(evaluate(spec, days, recounts, staging, audit, history))
                _record_days(context, spec, staging.stats, outcomes)
                context.add_asset_metadata(
                    # Identifiers found in free-text columns and replaced by tokens, over the run.
                    {"run_pii_scrubbed": dg.MetadataValue.json(dict(scrubbed))},
                    asset_key=staging_key(spec),
                )

            with staging.streaming():
                staged = audit.passing("staging", staging.staged(scrubbed), then=judge)
                yield dg.Output(staged, output_name="staged")
            if not outcomes:
                raise RuntimeError(
                    f"the staged rows of {spec.name} were not read to the end by their IO "
                    "manager, so their checks could not be judged"
                )
            yield dg.Output(staging.quarantined(), output_name="quarantined")
        yield from check_results(spec, staging_key(spec), outcomes)

    return _staging


@contextmanager
def _staged_rows(
    context: dg.AssetExecutionContext, spec: SourceSpec, raw: ds.Dataset, days: list[str]
) -> Iterator[StagedRows]:
    """The run's staging on the spec's engine: DuckDB in process, or Spark (started lazily)."""
    key = context.resources.pii.key_bytes()
    if spec.engine == "duckdb":
        with open_staging(raw, spec, days, key, platform_timezone()) as staging:
            yield staging
        return
    # Imported here: pyspark costs every definitions load a second and most runs never use it.
    from etl_platform.transform.stage_spark import raw_frame, stage_spark

    spark = context.resources.spark.spark_session
    lake = context.resources.lake_io_manager
    frame = raw_frame(spark, lake.table_uri(raw_key(spec)), days, spec, lake.storage_options())
    result = stage_spark(spark, frame, spec, days, key, platform_timezone())
    yield StagedTables(result, spec)


def _record_days(
    context: dg.AssetExecutionContext,
    spec: SourceSpec,
    stats: dict[str, PartitionStats],
    outcomes: dict[str, CheckOutcome],
) -> None:
    """One materialization per day of a range run, each with its own day's figures."""
    blocked = failures_by_day(spec, outcomes, blocking_only=True)
    failed = failures_by_day(spec, outcomes, blocking_only=False)
    lineage = column_lineage(spec)
    for day, day_stats in stats.items():
        accounting = partition_metadata(day_stats)
        context.add_asset_metadata(
            {
                **accounting,
                "blocking_checks_failed": dg.MetadataValue.json(blocked.get(day, [])),
                "checks_failed": dg.MetadataValue.json(failed.get(day, [])),
                "dagster/column_lineage": lineage,
            },
            asset_key=staging_key(spec),
            partition_key=day,
        )
        context.add_asset_metadata(
            {
                "dagster/row_count": accounting["rows_quarantined"],
                "quarantined_by_reason": accounting["quarantined_by_reason"],
            },
            asset_key=quarantine_key(spec),
            partition_key=day,
        )
