"""Raw (bronze): each source's landed files in the lake, rows exactly as read, plus lineage."""

import dagster as dg
import pyarrow as pa

from etl_platform.ingest import ledger
from etl_platform.ingest.drift import detect, raw_columns
from etl_platform.ingest.landing import LocalLandingZone
from etl_platform.ingest.raw_stream import raw_stream
from etl_platform.ingest.readers import file_columns
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse
from etl_platform.partitions import daily_partitions
from etl_platform.sources.model import SourceSpec

WAREHOUSE_POOL = "duckdb_warehouse"


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
    )
    def _raw(
        context: dg.AssetExecutionContext, landing: LocalLandingZone, warehouse: DuckDBWarehouse
    ) -> pa.RecordBatchReader:
        files = landing.files_for(spec.landing.prefix, spec.landing.pattern, context.partition_keys)
        # Drift first: a file the schema policy refuses must not be registered as delivered.
        drifts = [
            drift
            for f in files
            if (drift := detect(spec, f.key, file_columns(landing.local_path(f.key), spec.format)))
        ]
        columns = raw_columns(spec, drifts)
        hashed = [(f, landing.sha256(f.key)) for f in files]
        with warehouse.connect() as con:
            decisions = ledger.register(con, spec.name, hashed, context.run_id)
        loaded = [d for d in decisions if d.load]
        context.add_output_metadata(
            {
                "files_loaded": len(loaded),
                "files_skipped_as_redelivered": {
                    d.file.key: d.duplicate_of for d in decisions if not d.load
                },
                "schema_drift": {
                    d.file_key: {"extra": list(d.extra), "missing": list(d.missing)} for d in drifts
                },
                "schema_policy": spec.schema_policy.value,
            }
        )
        return raw_stream(landing, loaded, spec.format, columns)

    return _raw
