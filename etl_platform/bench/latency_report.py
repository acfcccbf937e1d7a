"""The latency benchmark's result: each file's latency split into what Dagster recorded doing.

Read back from the measurement's progress file (when each file landed, which materialization
showed its rows) and its Dagster instance, so a long measurement that was stopped can still be
reported (`--report-only`).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from etl_platform.bench.timings import (
    RunTiming,
    Tick,
    requesting_tick,
    run_timing,
    sensor_ticks,
    summary,
    tick_durations,
)

VISIBLE_KEY = dg.AssetKey(["curated", "fct_order_lines"])
STAGED_KEY = "staging/orders"
PROGRESS = "progress.json"


def _first_run(instance: dg.DagsterInstance, job: str, after: float, before: float) -> RunTiming:
    records = instance.get_run_records(
        dg.RunsFilter(job_name=job, created_after=datetime.fromtimestamp(after, tz=UTC)),
        ascending=True,
    )
    chosen = next(
        (r for r in records if r.create_timestamp.timestamp() <= before),
        records[0] if records else None,
    )
    if chosen is None:
        raise RuntimeError(f"no {job} run was created after {after}")
    return run_timing(instance, chosen.dagster_run.run_id)


def _sum_steps(run: RunTiming, prefix: str) -> float:
    return sum(v for k, v in run.steps.items() if k.startswith(prefix))


def _breakdown(
    instance: dg.DagsterInstance, ticks: list[Tick], landed: float, visible: dg.EventLogRecord
) -> dict[str, Any]:
    """One file's latency split into what the sensors, queue, run workers and steps took.

    A file whose day's other sources were staged is built to curated by its ingest run
    (`ingest_and_curate`); the curated sensor and the second launch then take no part, and their
    parts are NaN (left out of the summary).
    """
    curated = run_timing(instance, visible.run_id)
    one_run = curated.job_name != "build_curated"
    ingest = curated if one_run else _first_run(instance, "ingest_orders", landed, curated.created)
    landing_tick = requesting_tick(ticks, ingest.run_id)
    staged = ingest.materialized.get(STAGED_KEY, ingest.ended)
    curated_tick = None if one_run else requesting_tick(ticks, curated.run_id)

    def second_run(seconds: float) -> float:
        """A part of a curated run launched after the ingest run: none when there was one run."""
        return math.nan if one_run else round(seconds, 3)

    return {
        "latency_s": round(visible.timestamp - landed, 3),
        "to_curated_run_end_s": round(curated.ended - landed, 3),
        "one_run": one_run,
        # Zero when the tick that listed the file had started before it landed.
        "landing_sensor_wait_s": round(max(0.0, landing_tick.start - landed), 3)
        if landing_tick
        else math.nan,
        "landing_tick_s": round(landing_tick.end - landing_tick.start, 3)
        if landing_tick
        else math.nan,
        "landed_to_ingest_run_created_s": round(ingest.created - landed, 3),
        "ingest_queue_launch_s": round(ingest.queue_launch_s, 3),
        "ingest_start_to_first_step_s": round(ingest.start_to_first_step_s, 3),
        "raw_step_s": round(_sum_steps(ingest, "raw"), 3),
        "staging_step_s": round(_sum_steps(ingest, "stage"), 3),
        "ingest_run_s": round(ingest.ended - ingest.started, 3),
        # The curated sensor sees the staging materialization, which comes before the run ends.
        "staged_to_curated_tick_s": round(curated_tick.start - staged, 3)
        if curated_tick
        else math.nan,
        "curated_tick_s": round(curated_tick.end - curated_tick.start, 3)
        if curated_tick
        else math.nan,
        "staged_to_curated_run_created_s": second_run(curated.created - staged),
        "curated_queue_launch_s": second_run(curated.queue_launch_s),
        "curated_start_to_first_step_s": second_run(curated.start_to_first_step_s),
        "curated_start_to_visible_s": second_run(visible.timestamp - curated.started),
        # dbt's start, its models and tests before the fact table: in either shape.
        "staged_to_visible_s": round(visible.timestamp - staged, 3),
        "curated_run_s": second_run(curated.ended - curated.started),
        "ingest": ingest.as_dict(),
        "curated": curated.as_dict(),
    }


def report(work: Path) -> dict[str, Any]:
    """The result of a measurement from its progress file and its Dagster instance."""
    progress = json.loads((work / PROGRESS).read_text())
    day = progress["day"]
    home = work / "platform" / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ticks = sensor_ticks(instance, progress["timed_since"])
        detail = []
        for landed, storage_id in progress["landed"]:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=VISIBLE_KEY,
                    asset_partitions=[day],
                    after_storage_id=storage_id - 1,
                    before_storage_id=storage_id + 1,
                ),
                limit=1,
            ).records
            detail.append(_breakdown(instance, ticks, landed, records[0]))
    parts = [k for k, v in detail[0].items() if isinstance(v, float)] if detail else []
    return {
        "day": day,
        "files": len(detail),
        "files_planned": progress["files"],
        "rows_per_file": progress["rows_per_file"],
        "spacing": "serial: each file lands once the previous one's rows are in curated",
        "generate_s": progress["generate_s"],
        "latency_s": summary(d["latency_s"] for d in detail),
        "files_in_one_run": sum(d["one_run"] for d in detail),
        "floor": {p: summary(d[p] for d in detail) for p in parts if p != "latency_s"},
        "sensor_tick_s": tick_durations(ticks),
        "detail": detail,
    }


def render(result: dict[str, Any]) -> str:
    """The result as a short table: the floor's parts, then the sensors' tick durations."""
    lines = [
        f"{result['files']} files x {result['rows_per_file']:,} rows for {result['day']}, "
        f"{result['spacing']}; {result['files_in_one_run']} built to curated by their ingest run",
        f"{'':42} {'p50':>8} {'p95':>8} {'max':>8}",
    ]
    rows = {"latency (landed -> rows in curated)": result["latency_s"], **result["floor"]}
    rows |= {f"tick {name}": s for name, s in result["sensor_tick_s"].items()}
    for name, s in rows.items():
        if s["n"] == 0:  # a part no file went through (the second run, when all ran in one)
            continue
        lines.append(f"{name:42} {s['p50']:8.2f} {s['p95']:8.2f} {s['max']:8.2f}")
    return "\n".join(lines)
