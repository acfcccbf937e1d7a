"""Raw (bronze): each source's landed files in the lake, rows exactly as read, plus lineage."""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from etl_platform.ingest import ledger
from etl_platform.ingest.drift import detect, raw_columns, rejection
from etl_platform.ingest.landing import LandingZone
from etl_platform.ingest.ledger import LedgerDecision
from etl_platform.ingest.raw_stream import FILE_IDENTITY, landed_header, raw_stream
from etl_platform.io.delta_lake import DayWrite, DeltaLakeIOManager
from etl_platform.io.warehouse import Warehouse
from etl_platform.memory import return_freed_memory
from etl_platform.partitions import daily_partitions
from etl_platform.sources.model import SourceSpec

WAREHOUSE_POOL = "warehouse"
SCHEMA_DRIFT_CHECK = "schema_drift"


def raw_key(spec: SourceSpec) -> dg.AssetKey:
    """`raw/<source>`."""
    return dg.AssetKey(["raw", spec.name])


class RawConfig(dg.Config):
    """How a run writes its days to the lake."""

    rewrite: bool = Field(
        default=False,
        description="Read every file of the run's days again and replace the days, instead of "
        "adding only the files the lake does not hold yet: after a change to the source's spec "
        "(its columns or schema policy) or to a reader, which changes the rows of files already "
        "loaded.",
    )


def files_to_add(
    loaded: list[LedgerDecision], rejected: dict[str, str], held: set[tuple[str | None, ...]]
) -> list[LedgerDecision] | None:
    """The files a write adds to the days' partitions, or None when the days must be replaced.

    A file's raw rows depend on the file alone (its content, and the rejection its own header
    earns), so when every file the partitions hold (`held`: `FILE_IDENTITY` values) would be
    written again as it is, the days need only the files they lack: a day's run then reads its
    new file, not every file of the day so far. A held file that changed, was rejected
    differently, or is no longer loaded (a copy, or gone) means a replacement.
    """
    writing = {(d.file.key, d.sha256, rejected.get(d.file.key)) for d in loaded}
    if not held <= writing:
        return None
    held_keys = {key for key, *_ in held}
    return [d for d in loaded if d.file.key not in held_keys]


def build_raw_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """The raw asset of a source: its day's files, deduplicated by content, streamed to Delta.

    A run adds the files its days lack (`files_to_add`), or replaces the days when a file they
    hold changed or `RawConfig.rewrite` is set.
    """

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
        # Two runs of a day at once (files landing seconds apart, in prod's larger pool): the
        # later commit fails rather than add a file twice, and its retry reads the day again.
        retry_policy=dg.RetryPolicy(max_retries=2, delay=1),
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
        context: dg.AssetExecutionContext,
        config: RawConfig,
        landing: LandingZone,
        warehouse: Warehouse,
        lake_io_manager: dg.ResourceParam[DeltaLakeIOManager],
    ) -> Iterator[dg.Output[DayWrite] | dg.AssetCheckResult]:
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
        held = lake_io_manager.read_days(raw_key(spec), context.partition_keys, FILE_IDENTITY)
        adding = None if config.rewrite else files_to_add(loaded, rejected, held.values)
        reading = loaded if adding is None else adding
        stream = raw_stream(landing, reading, spec.format, raw_columns(spec, accepted), rejected)
        yield dg.Output(
            DayWrite(stream, append=adding is not None, read_version=held.version),
            metadata={
                "files_loaded": len(loaded),
                "files_read": len(reading),
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
