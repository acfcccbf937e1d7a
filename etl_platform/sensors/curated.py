"""Rebuilds a day's curated models once all their staging inputs for that day exist and changed.

A day whose staging tables failed a blocking check (recorded per day in their materialization
metadata) is held back; the other days proceed.

One run builds the whole dbt graph for the day. Per-model automation conditions were tried first:
they fire for subsets as each source lands, and on a fresh warehouse a subset's dbt tests then
query marts that do not exist yet (a relationships test on fct_order_lines failed that way).

When a file lands for a day whose other inputs are already staged, its landing sensor builds the
day's models in the ingest run itself (`CuratedFollowOn`): one run launch and one sensor wait
fewer between a file and its rows in curated (13 s of a 43 s p50). This sensor then leaves that
day alone while such a run is in flight, and catches whatever the run did not build.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from etl_platform.assets.recorded import latest_for_day

MAX_DAYS_PER_TICK = 31
# A run tagged so builds the curated models of its day after staging them.
CURATES_TAG = "etl/curates"
IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
}


def stale_days(
    inputs: list[dict[str, int]], built: dict[str, int], limit: int = MAX_DAYS_PER_TICK
) -> list[str]:
    """Days every input has, where some input is newer than the last build; oldest first.

    Inputs and build are maps of day to the storage id of its latest materialization: storage ids
    grow with time across all assets, so comparing them orders events without clocks.
    """
    if not inputs:
        return []
    ready = set.intersection(*(set(i) for i in inputs))
    stale = [d for d in ready if max(i[d] for i in inputs) > built.get(d, -1)]
    return sorted(stale)[:limit]


def _blocking_failures(
    instance: dg.DagsterInstance, input_keys: list[dg.AssetKey], day: str
) -> list[str]:
    """The blocking checks the day's latest staging materializations recorded as failed."""
    failed: list[str] = []
    for key in input_keys:
        names = (latest_for_day(instance, key, day) or {}).get("blocking_checks_failed")
        if isinstance(names, list):
            failed.extend(f"{key.to_user_string()}:{name}" for name in names)
    return failed


def _day_ready(instance: dg.DagsterInstance, input_keys: Sequence[dg.AssetKey], day: str) -> bool:
    """Whether every input has the day staged and none failed a blocking check on it."""
    for key in input_keys:
        recorded = latest_for_day(instance, key, day)
        if recorded is None or recorded.get("blocking_checks_failed"):
            return False
    return True


@dataclass(frozen=True)
class CuratedFollowOn:
    """What lets a landing sensor build a day's curated models in the ingest run itself.

    `job` selects every ingest asset and the curated ones; a request picks its source's and the
    curated keys from it. Only single-day runs follow on: a range run's blocking checks pass or
    fail the whole range, and the curated sensor holds back only the days that failed.
    """

    job: Any  # what dg.define_asset_job returns; its class is not public
    input_keys: list[dg.AssetKey]  # the staging tables the curated models read
    asset_keys: list[dg.AssetKey]  # the curated models and what is built beside them

    def extend(
        self,
        instance: dg.DagsterInstance,
        ingest: dg.RunRequest,
        ingested: Sequence[dg.AssetKey],
        staged: dg.AssetKey,
    ) -> dg.RunRequest:
        """The ingest request extended to the day's curated models if the day's others are ready.

        `ingested`: the keys the ingest run builds; `staged` is the curated input among them.
        """
        day = ingest.partition_key
        others = [k for k in self.input_keys if k != staged]
        if day is None or staged not in self.input_keys or not _day_ready(instance, others, day):
            return ingest
        return dg.RunRequest(
            run_key=ingest.run_key,
            partition_key=day,
            job_name=self.job.name,
            asset_selection=[*ingested, *self.asset_keys],
            tags={**ingest.tags, CURATES_TAG: "true"},
        )


def _newest_input(
    inputs: list[dict[str, int]], input_keys: list[dg.AssetKey], day: str
) -> tuple[dg.AssetKey, int]:
    """The input whose materialization of the day is the newest, and that storage id."""
    ids = {key: i[day] for i, key in zip(inputs, input_keys, strict=True)}
    key = max(ids, key=lambda k: ids[k])
    return key, ids[key]


def _curating_run_in_flight(
    instance: dg.DagsterInstance, key: dg.AssetKey, storage_id: int
) -> bool:
    """Whether the run that wrote this materialization is still going and builds curated next."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, storage_ids=[storage_id]), limit=1
    ).records
    run = instance.get_run_by_id(records[0].run_id) if records else None
    return run is not None and run.status in IN_FLIGHT and run.tags.get(CURATES_TAG) == "true"


def build_curated_sensor(
    job_name: str, input_keys: list[dg.AssetKey], built_key: dg.AssetKey
) -> dg.SensorDefinition:
    """A sensor requesting one curated run per day whose staging inputs are all newer-complete."""

    @dg.sensor(
        name="curated_sensor",
        job_name=job_name,
        # A tick reads five storage-id maps from the instance (measured p50 0.7 s). Most files
        # reach curated in their own ingest run now, so this is the fallback (range runs, a
        # day's last source to arrive by another path, a failed curated step): every other pass
        # of the daemon's 5 s loop, not every pass, to leave the 2 cores to the runs.
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Builds a day's dbt models once all its staging tables exist and one changed.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        materialized = dg.DagsterEventType.ASSET_MATERIALIZATION
        instance = context.instance
        inputs = [
            dict(instance.get_latest_storage_id_by_partition(key, materialized))
            for key in input_keys
        ]
        built = dict(instance.get_latest_storage_id_by_partition(built_key, materialized))
        # A day whose newest input came from a run that curates it next is left to that run.
        days = [
            day
            for day in stale_days(inputs, built)
            if not _curating_run_in_flight(instance, *_newest_input(inputs, input_keys, day))
        ]
        blocked = {
            day: failed for day in days if (failed := _blocking_failures(instance, input_keys, day))
        }
        for day, failed in blocked.items():
            context.log.warning(
                f"{day}: curated models held back, blocking checks failed: {failed}"
            )
        ready = [day for day in days if day not in blocked]
        if not ready:
            return dg.SensorResult(skip_reason="no day ready to build")
        return dg.SensorResult(
            run_requests=[
                # The run key is the inputs' state: one run per change, however often we tick.
                dg.RunRequest(partition_key=day, run_key=f"{day}:{max(i[day] for i in inputs)}")
                for day in ready
            ]
        )

    return _sensor
