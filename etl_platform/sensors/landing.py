"""New-file sensors: one per source, proposing a run per day that received files.

The sensor only proposes work; the ledger decides what is new, so a lost cursor or a file proposed
again costs a redundant run, never a duplicate load. The cursor still keeps proposals exact, because
a plain `(modification time, key)` watermark fails on S3 in three ways: `LastModified` has 1-second
resolution (files of the same second arrive out of key order), an overwrite keeps its key, and a
multipart upload is stamped with the time it *started*, so it shows up behind newer files. Hence
the cursor is the watermark plus every `(key, etag)` proposed within a lookback window: a file
stamped inside the window and not in the cursor is new, whatever its key or stamp.

Dagster copies the cursor into every tick it records (skipped ticks are kept 7 days, successful
ones forever), so the window also closes on the wall clock: 15 minutes after the last delivery the
cursor is back to a watermark of ~200 bytes, however large the burst was.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg

from etl_platform.ingest.landing import LandingZone
from etl_platform.sensors.curated import CuratedFollowOn
from etl_platform.sensors.landing_cursor import DayBatch, LandingCursor, TickLimits, plan_tick
from etl_platform.sources.model import SourceSpec

ONE_DAY = timedelta(days=1)
# Dagster's run tags for a partition range (what `--partition-range` and backfills set).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def contiguous(batches: list[DayBatch]) -> list[list[DayBatch]]:
    """Days grouped into runs of consecutive days, oldest first."""
    groups: list[list[DayBatch]] = []
    for batch in sorted(batches, key=lambda b: b.day):
        previous = groups[-1][-1].day if groups else None
        if previous and date.fromisoformat(batch.day) - date.fromisoformat(previous) == ONE_DAY:
            groups[-1].append(batch)
        else:
            groups.append([batch])
    return groups


def _run_request(job_name: str, source: str, group: list[DayBatch]) -> dg.RunRequest:
    """One run for consecutive days, whose run key is the files' (key, etag) digests.

    The assets' single-run backfill policy builds a whole range in one pass, so a burst of a
    month's files is one run, not thirty process starts. A run cannot target days that are not
    consecutive, hence the grouping.
    """
    first, last = group[0].day, group[-1].day
    digest = hashlib.sha256("".join(b.digest for b in group).encode()).hexdigest()[:24]
    tags = {
        "etl/files": str(sum(b.files for b in group)),
        "etl/files_by_day": json.dumps({b.day: b.files for b in group}),
    }
    if first == last:
        run_key = f"{source}:{first}:{digest}"
        return dg.RunRequest(job_name=job_name, partition_key=first, run_key=run_key, tags=tags)
    range_tags = {RANGE_START_TAG: first, RANGE_END_TAG: last}
    run_key = f"{source}:{first}...{last}:{digest}"
    return dg.RunRequest(job_name=job_name, run_key=run_key, tags={**tags, **range_tags})


@dataclass(frozen=True)
class IngestJob:
    """The job a landing sensor runs, and the keys it builds (the curated input among them)."""

    job: Any  # what dg.define_asset_job returns; its class is not public
    keys: list[dg.AssetKey]
    staged: dg.AssetKey


def build_landing_sensor(
    spec: SourceSpec,
    ingest: IngestJob,
    partitions: dg.PartitionsDefinition,
    limits: TickLimits | None = None,
    curate: CuratedFollowOn | None = None,
) -> dg.SensorDefinition:
    """A sensor requesting one run of the job per daily partition that received new files.

    With `curate`, a day whose other curated inputs are staged gets its curated models built in
    the same run.
    """
    tick_limits = limits or TickLimits()
    job_name = ingest.job.name

    @dg.sensor(
        name=f"{spec.name}_landing_sensor",
        jobs=[ingest.job, curate.job] if curate else [ingest.job],
        # A tick is one listing, bounded by the tick limits (measured p50 0.6 s), so it ticks at
        # every pass of the daemon's sensor loop (5 s, Dagster's). Asking for 5 s ticked every
        # 10 s, measured: a pass comes a hair under 5 s after the last tick and is skipped.
        minimum_interval_seconds=1,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs {job_name} for each day that new {spec.name} files landed in"
        + (f", or {curate.job.name} when the day's other sources are staged." if curate else "."),
    )
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        tick = plan_tick(
            landing.list_files(spec.landing.prefix, spec.landing.pattern),
            LandingCursor.parse(context.cursor),
            partitions.get_partition_keys(dynamic_partitions_store=context.instance),
            tick_limits,
            time.time_ns(),
        )
        if tick.capped:
            context.log.warning(
                f"more {spec.name} files landed within {tick_limits.lookback} than the cursor "
                f"holds ({tick_limits.max_cursor_entries}): the lookback window is shortened"
            )
        for f in tick.skipped:
            context.log.warning(f"{f.key}: day {f.partition_key} is outside the partitions")
        for f in tick.waiting:
            context.log.info(f"{f.key}: day {f.partition_key} waits until it is a partition")
        requests = [_run_request(job_name, spec.name, g) for g in contiguous(tick.batches)]
        if curate:
            requests = [
                curate.extend(context.instance, r, ingest.keys, ingest.staged) for r in requests
            ]
        cursor = tick.cursor.dumps()
        if not requests:
            return dg.SensorResult(skip_reason=f"no new {spec.name} files to run", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor
