"""New-file sensors: one per source, proposing a run per day that received files.

The sensor only proposes work; the ledger decides what is new, so a lost cursor or a file touched
again costs a redundant run, never a duplicate load.
"""

import json
from collections import defaultdict

import dagster as dg

from etl_platform.ingest.landing import LandedFile, LandingZone
from etl_platform.sources.model import SourceSpec

MAX_FILES_PER_TICK = 500


def _watermark(cursor: str | None) -> tuple[int, str]:
    if not cursor:
        return (-1, "")
    data = json.loads(cursor)
    return (int(data["mtime_ns"]), str(data["key"]))


def _cursor(last: LandedFile) -> str:
    return json.dumps({"mtime_ns": last.mtime_ns, "key": last.key})


def new_files(files: list[LandedFile], cursor: str | None, limit: int) -> list[LandedFile]:
    """Files past the (modification time, key) watermark, oldest first, at most `limit`.

    The key breaks ties between files written in the same clock tick, so none is skipped.
    """
    mark = _watermark(cursor)
    fresh = sorted(
        (f for f in files if (f.mtime_ns, f.key) > mark), key=lambda f: (f.mtime_ns, f.key)
    )
    return fresh[:limit]


def build_landing_sensor(
    spec: SourceSpec, job_name: str, partitions: dg.PartitionsDefinition
) -> dg.SensorDefinition:
    """A sensor requesting one run of the job per daily partition that received new files."""

    @dg.sensor(
        name=f"{spec.name}_landing_sensor",
        job_name=job_name,
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs {job_name} for each day that new {spec.name} files landed in.",
    )
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        files = new_files(
            landing.list_files(spec.landing.prefix, spec.landing.pattern),
            context.cursor,
            MAX_FILES_PER_TICK,
        )
        if not files:
            return dg.SensorResult(skip_reason=f"no new {spec.name} files")
        valid = set(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
        by_day: dict[str, list[LandedFile]] = defaultdict(list)
        for f in files:
            if f.partition_key in valid:
                by_day[f.partition_key].append(f)
            else:
                context.log.warning(f"{f.key}: day {f.partition_key} is outside the partitions")
        requests = [
            dg.RunRequest(
                partition_key=day,
                run_key=f"{spec.name}:{day}:{_cursor(batch[-1])}",
                tags={"etl/files": str(len(batch))},
            )
            for day, batch in sorted(by_day.items())
        ]
        return dg.SensorResult(run_requests=requests, cursor=_cursor(files[-1]))

    return _sensor
