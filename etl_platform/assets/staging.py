"""Staging (silver) and quarantine: typed, cleansed, deduplicated, masked and validated rows."""

from collections.abc import Iterator

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as ds

from etl_platform.assets.raw import WAREHOUSE_POOL, raw_key
from etl_platform.assets.recorded import latest_by_day
from etl_platform.partitions import daily_partitions, platform_timezone
from etl_platform.quality.staging_checks import (
    check_results,
    check_specs,
    evaluate,
    failures_by_day,
)
from etl_platform.sources.model import SourceSpec
from etl_platform.transform.cleanse import SQL_TYPES
from etl_platform.transform.pii_key import PiiKey
from etl_platform.transform.stage import PartitionStats, stage


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

    @dg.multi_asset(
        outs={
            "staged": dg.AssetOut(
                key=staging_key(spec),
                description=f"{spec.description} Typed, deduplicated, PII-masked, validated.",
                group_name="staging",
                kinds={"duckdb"},
                io_manager_key="warehouse_io_manager",
                metadata={"dagster/column_schema": _column_schema(spec)},
            ),
            "quarantined": dg.AssetOut(
                key=quarantine_key(spec),
                description=f"Rows of {spec.name} that failed a check, with reason, check, column "
                "and source line; PII masked.",
                group_name="quarantine",
                kinds={"duckdb"},
                io_manager_key="warehouse_io_manager",
            ),
        },
        ins={"raw": dg.AssetIn(key=raw_key(spec))},
        check_specs=check_specs(spec, staging_key(spec)),
        name=f"stage_{spec.name}",
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def _staging(
        context: dg.AssetExecutionContext, raw: ds.Dataset, pii: PiiKey
    ) -> Iterator[dg.Output[pa.Table] | dg.AssetCheckResult]:
        days = sorted(context.partition_keys)
        result = stage(raw, spec, days, pii.key_bytes(), platform_timezone())
        history = rows_read_history(
            context.instance, staging_key(spec), days[0], spec.quality.volume_lookback_days
        )
        outcomes = evaluate(spec, days, raw, result, history)
        blocked = failures_by_day(spec, outcomes, blocking_only=True)
        failed = failures_by_day(spec, outcomes, blocking_only=False)
        lineage = column_lineage(spec)
        # A range run records one materialization per day; each carries its own day's figures.
        for day, stats in result.stats.items():
            accounting = partition_metadata(stats)
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
        yield dg.Output(
            result.staged,
            output_name="staged",
            # Identifiers found in free-text columns and replaced by tokens, over the whole run.
            metadata={"run_pii_scrubbed": dg.MetadataValue.json(result.pii_scrubbed)},
        )
        yield dg.Output(result.quarantined, output_name="quarantined")
        yield from check_results(spec, staging_key(spec), outcomes)

    return _staging
