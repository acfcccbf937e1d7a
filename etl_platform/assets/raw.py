"""Raw (bronze): each source's landed files in the lake, rows exactly as read, plus lineage."""

from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from etl_platform.ingest import ledger
from etl_platform.ingest.drift import detect, raw_columns, rejection
from etl_platform.ingest.landing import LandingZone
from etl_platform.ingest.raw_stream import landed_header, raw_stream
from etl_platform.io.warehouse import Warehouse
from etl_platform.memory import return_freed_memory
from etl_platform.partitions import daily_partitions
from etl_platform.sources.model import SourceSpec

WAREHOUSE_POOL = "warehouse"
SCHEMA_DRIFT_CHECK = "schema_drift"


def raw_key(spec: SourceSpec) -> dg.AssetKey:
    """`raw/<source>`."""
    return dg.AssetKey(["raw", spec.name])


def build_raw_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """The raw asset of a source: its day's files, deduplicated by content, streamed to Delta."""

    @dg.asset(
        key=raw_key(spec),
        description=f"{spec.description} Rows as read, with lineage columns.",
        group_name="raw",
        kinds={"delta", spec.format},
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="lake_io_manager",
        # The ledger lives in the DuckDB warehouse, which takes one writer at a time.
        pool=WAREHOUSE_POOL,
        metadata={"landing_prefix": spec.landing.prefix, "format": spec.format},
        check_specs=[
            dg.AssetCheckSpec(
                SCHEMA_DRIFT_CHECK,
                asset=raw_key(spec),
                description="Landed files' headers match the spec (warns on any drift; the "
                f"schema policy, {spec.schema_policy.value}, decides what loads).",
            )
        ],
    )
    def _raw(
        context: dg.AssetExecutionContext, landing: LandingZone, warehouse: Warehouse
    ) -> Iterator[dg.Output[pa.RecordBatchReader] | dg.AssetCheckResult]:
        return_freed_memory()
        files = landing.files_for(spec.landing.prefix, spec.landing.pattern, context.partition_keys)
        drifts = {
            f.key: detect(spec, f.key, landed_header(landing, f.key, spec.format)) for f in files
        }
        rejected = {key: why for key, d in drifts.items() if (why := rejection(spec, d))}
        accepted = [d for key, d in drifts.items() if d is not None and key not in rejected]
        known = ledger.known_hashes(warehouse, spec.name, files)
        hashed = [(f, known.get(f.key) or landing.sha256(f.key)) for f in files]
        decisions = ledger.register(warehouse, spec.name, hashed, context.run_id)
        loaded = [d for d in decisions if d.load]
        events = {key: d.describe() for key, d in drifts.items() if d is not None}
        yield dg.Output(
            raw_stream(landing, loaded, spec.format, raw_columns(spec, accepted), rejected),
            metadata={
                "files_loaded": len(loaded),
                "files_skipped_as_redelivered": {
                    d.file.key: d.duplicate_of for d in decisions if not d.load
                },
                "schema_drift": events,
                "files_rejected": rejected,
                "schema_policy": spec.schema_policy.value,
            },
        )
        yield dg.AssetCheckResult(
            check_name=SCHEMA_DRIFT_CHECK,
            passed=not events,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"drift": events, "files_rejected": rejected},
        )

    return _raw
