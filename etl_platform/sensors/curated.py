"""Rebuilds a day's curated models once all their staging inputs for that day exist and one changed.

A day whose staging tables failed a blocking check (recorded per day in their materialization
metadata) is held back; the other days proceed.

A run rebuilds the models the changed inputs feed, not the whole dbt graph: when only orders
changed, `fct_payments` and the dimensions are current, and rebuilding them was a quarter of a
day's dbt build (12.6 of 51.6 s at 10 M order lines). A day never built is built whole. Per-model
automation conditions were tried first: they fire for subsets as each source lands, and on a
fresh warehouse a subset's dbt tests then query marts that do not exist yet (a relationships test
on fct_order_lines failed that way); here a subset runs only once all inputs are staged and the
day was built whole before.

When a file lands for a day whose other inputs are already staged, its landing sensor builds the
day's models in the ingest run itself (`CuratedFollowOn`): one run launch and one sensor wait
fewer between a file and its rows in curated (13 s of a 43 s p50). This sensor then leaves that
day alone while such a run is in flight, and catches whatever the run did not build.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from etl_platform.assets.recorded import latest_for_day, latest_record_for_day, metadata_values

MAX_DAYS_PER_TICK = 31
# A run tagged so builds the curated models of its day after staging them.
CURATES_TAG = "etl/curates"
IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
}
# Day -> storage id of an asset's latest materialization of that day. Storage ids grow with time
# across all assets, so comparing them orders events without clocks.
Ids = Mapping[str, int]


@dataclass(frozen=True)
class CuratedGraph:
    """Which curated models each staging input feeds, and which of them date its last build.

    `feeds[input]`: every model downstream of the input. `last[input]`: those no model reads.
    dbt builds them after the rest of the chain and skips them when anything before them fails,
    so an input is built through once they are all newer than it.
    """

    feeds: Mapping[dg.AssetKey, frozenset[dg.AssetKey]]
    last: Mapping[dg.AssetKey, frozenset[dg.AssetKey]]

    @classmethod
    def of(cls, specs: Iterable[dg.AssetSpec]) -> "CuratedGraph":
        """The graph of the curated models' specs; their deps outside the models are inputs."""
        readers: dict[dg.AssetKey, set[dg.AssetKey]] = {}
        for spec in specs:
            for dep in spec.deps:
                readers.setdefault(dep.asset_key, set()).add(spec.key)
        models = set().union(*readers.values())
        feeds: dict[dg.AssetKey, frozenset[dg.AssetKey]] = {}
        for key in sorted(readers.keys() - models):
            fed: set[dg.AssetKey] = set()
            todo = [key]
            while todo:
                for reader in readers.get(todo.pop(), set()) - fed:
                    fed.add(reader)
                    todo.append(reader)
            feeds[key] = frozenset(fed)
        last = {key: frozenset(m for m in fed if m not in readers) for key, fed in feeds.items()}
        return cls(feeds, last)

    @property
    def input_keys(self) -> list[dg.AssetKey]:
        """The staging tables the models read."""
        return sorted(self.feeds)

    @property
    def dating_keys(self) -> list[dg.AssetKey]:
        """The models whose materializations date the builds."""
        return sorted(set().union(*self.last.values()))

    def stale(
        self, day: str, inputs: Mapping[dg.AssetKey, Ids], built: Mapping[dg.AssetKey, Ids]
    ) -> list[dg.AssetKey]:
        """The inputs among `inputs` whose day is newer than its chain's last build of the day.

        On a day never built, every input is stale: the first build is the whole graph.
        """
        return [
            key
            for key, ids in sorted(inputs.items())
            if day in ids and ids[day] > min(built.get(m, {}).get(day, -1) for m in self.last[key])
        ]

    def models(self, inputs: Iterable[dg.AssetKey]) -> list[dg.AssetKey]:
        """The models these inputs feed."""
        return sorted(set().union(*(self.feeds[key] for key in inputs)))


def stale_days(
    graph: CuratedGraph,
    inputs: Mapping[dg.AssetKey, Ids],
    built: Mapping[dg.AssetKey, Ids],
    limit: int = MAX_DAYS_PER_TICK,
) -> dict[str, list[dg.AssetKey]]:
    """Days every input has where some input is newer than its build: those inputs, oldest first."""
    if not inputs:
        return {}
    ready = set.intersection(*(set(ids) for ids in inputs.values()))
    found = {day: stale for day in sorted(ready) if (stale := graph.stale(day, inputs, built))}
    return dict(list(found.items())[:limit])


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


def _ready_ids(
    instance: dg.DagsterInstance, input_keys: Sequence[dg.AssetKey], day: str
) -> dict[dg.AssetKey, dict[str, int]] | None:
    """The inputs' storage ids of the day; None unless all staged it, none failing a block."""
    ids: dict[dg.AssetKey, dict[str, int]] = {}
    for key in input_keys:
        record = latest_record_for_day(instance, key, day)
        if record is None or (metadata_values(record) or {}).get("blocking_checks_failed"):
            return None
        ids[key] = {day: record.storage_id}
    return ids


def _ids_of_day(
    instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey], day: str
) -> dict[dg.AssetKey, dict[str, int]]:
    """Each key's storage id of its latest materialization of the day (no entry: none)."""
    records = {key: latest_record_for_day(instance, key, day) for key in keys}
    return {key: {day: r.storage_id} if r else {} for key, r in records.items()}


@dataclass(frozen=True)
class CuratedFollowOn:
    """What lets a landing sensor build a day's curated models in the ingest run itself.

    `job` selects every ingest asset and the curated ones; a request picks its source's keys, the
    models its staging table feeds (and those of any other input newer than its build), and
    `also`. Only single-day runs follow on: a range run's blocking checks pass or fail the whole
    range, and the curated sensor holds back only the days that failed.
    """

    job: Any  # what dg.define_asset_job returns; its class is not public
    graph: CuratedGraph
    also: list[dg.AssetKey]  # built in every curated run (the quality report)

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
        others = [k for k in self.graph.input_keys if k != staged]
        if day is None or staged not in self.graph.feeds:
            return ingest
        ready = _ready_ids(instance, others, day)
        if ready is None:
            return ingest
        stale = self.graph.stale(day, ready, _ids_of_day(instance, self.graph.dating_keys, day))
        return dg.RunRequest(
            run_key=ingest.run_key,
            partition_key=day,
            job_name=self.job.name,
            asset_selection=[*ingested, *self.graph.models([staged, *stale]), *self.also],
            tags={**ingest.tags, CURATES_TAG: "true"},
        )


def _newest_input(inputs: Mapping[dg.AssetKey, Ids], day: str) -> tuple[dg.AssetKey, int]:
    """The input whose materialization of the day is the newest, and that storage id."""
    key = max(inputs, key=lambda k: inputs[k][day])
    return key, inputs[key][day]


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
    job_name: str, graph: CuratedGraph, also: list[dg.AssetKey]
) -> dg.SensorDefinition:
    """A sensor requesting a curated run per day whose inputs are all staged and one changed.

    Each run selects the models the changed inputs feed, and `also`.
    """

    @dg.sensor(
        name="curated_sensor",
        job_name=job_name,
        # A tick reads six storage-id maps from the instance (five measured p50 0.7 s). Most
        # files reach curated in their own ingest run now, so this is the fallback (range runs, a
        # day's last source to arrive by another path, a failed curated step): every other pass
        # of the daemon's 5 s loop, not every pass, to leave the 2 cores to the runs.
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Builds a day's dbt models once all its staging tables exist and one changed.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        materialized = dg.DagsterEventType.ASSET_MATERIALIZATION
        instance = context.instance

        def ids(keys: list[dg.AssetKey]) -> dict[dg.AssetKey, dict[str, int]]:
            return {
                k: dict(instance.get_latest_storage_id_by_partition(k, materialized)) for k in keys
            }

        inputs, built = ids(graph.input_keys), ids(graph.dating_keys)
        # A day whose newest input came from a run that curates it next is left to that run.
        days = {
            day: stale
            for day, stale in stale_days(graph, inputs, built).items()
            if not _curating_run_in_flight(instance, *_newest_input(inputs, day))
        }
        blocked = {
            day: failed
            for day in days
            if (failed := _blocking_failures(instance, graph.input_keys, day))
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
                dg.RunRequest(
                    partition_key=day,
                    run_key=f"{day}:{max(i[day] for i in inputs.values())}",
                    asset_selection=[*graph.models(days[day]), *also],
                )
                for day in ready
            ]
        )

    return _sensor
