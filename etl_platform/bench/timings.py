"""What the Dagster instance recorded about a run and a sensor, as the latency floor's parts.

Every timestamp here comes from the instance (run records, the event log, sensor ticks), not from
the process that measures: the floor is then broken down by what Dagster itself did and when.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (`q` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Iterable[float]) -> dict[str, float | int]:
    """p50, p95 and max of some durations, rounded to milliseconds, with their count."""
    found = [v for v in values if not math.isnan(v)]
    return {
        "n": len(found),
        "p50": round(percentile(found, 50), 3),
        "p95": round(percentile(found, 95), 3),
        "max": round(max(found), 3) if found else math.nan,
    }


@dataclass(frozen=True)
class RunTiming:
    """One run's timeline: created, started, each step, ended (epoch seconds)."""

    run_id: str
    job_name: str
    created: float
    started: float
    ended: float
    first_step: float
    steps: dict[str, float] = field(default_factory=dict)  # step key -> duration
    step_starts: dict[str, float] = field(default_factory=dict)  # step key -> STEP_START
    materialized: dict[str, float] = field(default_factory=dict)  # asset key -> first event
    # step key -> the first asset it materialized or checked
    step_assets: dict[str, dg.AssetKey] = field(default_factory=dict)

    @property
    def queue_launch_s(self) -> float:
        """Run created (by the sensor tick) to RUN_START: queue, dequeue, process, load."""
        return self.started - self.created

    @property
    def start_to_first_step_s(self) -> float:
        """RUN_START to the first STEP_START: the run worker's own fixed cost."""
        return self.first_step - self.started

    def as_dict(self) -> dict[str, Any]:
        """The timeline as durations, for the JSON report."""
        return {
            "run_id": self.run_id,
            "queue_launch_s": round(self.queue_launch_s, 3),
            "start_to_first_step_s": round(self.start_to_first_step_s, 3),
            "steps_s": {k: round(v, 3) for k, v in self.steps.items()},
            "run_s": round(self.ended - self.started, 3),
        }


def run_timing(instance: dg.DagsterInstance, run_id: str) -> RunTiming:
    """A finished run's timeline from its run record and its step events."""
    record = instance.get_run_record_by_id(run_id)
    if record is None or record.start_time is None or record.end_time is None:
        raise ValueError(f"run {run_id} has not finished")
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    materialized: dict[str, float] = {}
    step_assets: dict[str, dg.AssetKey] = {}
    for entry in instance.all_logs(run_id, of_type=STEP_EVENTS):
        step, kind, event = entry.step_key, entry.dagster_event_type, entry.dagster_event
        if entry.asset_materialization is not None:
            key = entry.asset_materialization.asset_key
            materialized.setdefault(key.to_user_string(), entry.timestamp)
            if step is not None:
                step_assets.setdefault(step, key)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            if step is not None and event is not None:
                step_assets.setdefault(step, event.asset_check_evaluation_data.asset_key)
        elif step is not None and kind == dg.DagsterEventType.STEP_START:
            started[step] = entry.timestamp
        elif step is not None and step in started:
            steps[step] = entry.timestamp - started[step]
    return RunTiming(
        run_id=run_id,
        job_name=record.dagster_run.job_name,
        created=record.create_timestamp.timestamp(),
        started=record.start_time,
        ended=record.end_time,
        first_step=min(started.values(), default=record.end_time),
        steps=steps,
        step_starts=started,
        materialized=materialized,
        step_assets=step_assets,
    )


@dataclass(frozen=True)
class Tick:
    """One sensor evaluation: when it started and ended, and the runs it requested."""

    sensor: str
    start: float
    end: float
    run_ids: tuple[str, ...]


# How long before a moment a tick may have started and still have ended after it.
TICK_LOOKBACK_S = 60.0


def sensor_ticks(instance: dg.DagsterInstance, since: float) -> list[Tick]:
    """Every sensor tick that ended after a moment, oldest first.

    By its end, not its start: a tick that started just before a file landed can still list it
    (a tick that submits a run takes 3-7 s, most of it writing the run's planned events).
    """
    ticks: list[Tick] = []
    for state in instance.all_instigator_state():
        for tick in instance.get_ticks(
            state.instigator_origin_id, state.selector_id, after=since - TICK_LOOKBACK_S
        ):
            if tick.end_timestamp is not None and tick.end_timestamp >= since:
                ticks.append(
                    Tick(
                        state.instigator_name,
                        tick.timestamp,
                        tick.end_timestamp,
                        tuple(tick.run_ids),
                    )
                )
    return sorted(ticks, key=lambda t: t.start)


def tick_durations(ticks: Iterable[Tick]) -> dict[str, dict[str, float | int]]:
    """Per sensor, p50/p95/max of a tick's duration (end minus start), in seconds."""
    by_sensor: dict[str, list[float]] = {}
    for tick in ticks:
        by_sensor.setdefault(tick.sensor, []).append(tick.end - tick.start)
    return {name: summary(durations) for name, durations in sorted(by_sensor.items())}


def requesting_tick(ticks: Iterable[Tick], run_id: str) -> Tick | None:
    """The tick that requested a run, if it is recorded."""
    return next((t for t in ticks if run_id in t.run_ids), None)


def sensor_names(instance: dg.DagsterInstance) -> set[str]:
    """The sensors the daemon has recorded state for (it does once it evaluates them)."""
    return {state.instigator_name for state in instance.all_instigator_state()}
