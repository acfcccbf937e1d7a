"""Staging (silver) and quarantine: typed, cleansed, deduplicated, masked and validated rows."""


from collections import Counter
from collections.abc import Iterator

import dagster as dg
import pyarrow.dataset as ds

from etl_platform.assets.raw import WAREHOUSE_POOL, raw_key
from etl_platform.partitions import daily_partitions, platform_timezone
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


def accounting_metadata(stats: dict[str, PartitionStats]) -> dict[str, dg.MetadataValue]:
    """Per-partition and total accounting: read = staged + quarantined + duplicates dropped."""
    reasons: Counter[str] = Counter()
    for s in stats.values():
        reasons.update(s.quarantined)
    rows = [
        dg.TableRecord(
            {
                "partition": day,
                "read": s.read,
                "staged": s.staged,
                "quarantined": sum(s.quarantined.values()),
                "exact_duplicates": s.exact_duplicates,
                "superseded": s.superseded,
            }
        )
        for day, s in sorted(stats.items())
    ]
    columns = ["partition", "read", "staged", "quarantined", "exact_duplicates", "superseded"]
    return {
        "rows_read": dg.MetadataValue.int(sum(s.read for s in stats.values())),
        "rows_staged": dg.MetadataValue.int(sum(s.staged for s in stats.values())),
        "rows_quarantined": dg.MetadataValue.int(sum(reasons.values())),
        "quarantined_by_reason": dg.MetadataValue.json(dict(sorted(reasons.items()))),
        "duplicates_dropped": dg.MetadataValue.int(
            sum(s.exact_duplicates + s.superseded for s in stats.values())
        ),
        "by_partition": dg.MetadataValue.table(
            rows,
            schema=dg.TableSchema(
                columns=[
                    dg.TableColumn(c, "string" if c == "partition" else "int") for c in columns
                ]
            ),
        ),
    }


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
        name=f"stage_{spec.name}",
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def _staging(
        context: dg.AssetExecutionContext, raw: ds.Dataset, pii: PiiKey
    ) -> Iterator[dg.Output]:
        result = stage(
            raw, spec, list(context.partition_keys), pii.key_bytes(), platform_timezone()
        )
        accounting = accounting_metadata(result.stats)
        yield dg.Output(result.staged, output_name="staged", metadata=accounting)
        yield dg.Output(
            result.quarantined,
            output_name="quarantined",
            metadata={"quarantined_by_reason": accounting["quarantined_by_reason"]},
        )

    return _staging
