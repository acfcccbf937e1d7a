"""A year of daily partitions as one run of the whole graph: what a partition costs beyond its rows.

Every asset has a single-run backfill policy, so a range is one run whose steps see every day at
once. What each extra day still costs (event-log writes for its materializations, a Delta
partition, a day's metadata, dbt's per-day work) is measured as the difference between a one-day
and a `days`-day backfill of the same small days, divided by the extra days: for the whole run,
for each layer's steps, and for what happens around the steps (process start, definitions load,
creating the run with its planned events).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from etl_platform.bench.dagster_runs import LAYERS, materialize_command, prepare, step_layers
from etl_platform.bench.deliveries import NO_DEFECTS
from etl_platform.bench.measure import Measurement, run_measured
from etl_platform.bench.timings import run_timing
from etl_platform.demo.generator import generate

log = logging.getLogger("etl_platform.bench")
# The whole graph, every source, as the one run a UI "materialize all" over a range launches.
BACKFILL_SELECT = "group:raw,group:staging,group:quarantine,group:curated"
AROUND = "around steps"
START = date(2025, 1, 1)


@dataclass(frozen=True)
class _Backfill:
    measured: Measurement
    seconds: dict[str, float]  # per layer, its steps' seconds; AROUND, the rest of the wall time


def _backfill(root: Path, landing: Path, days: int) -> _Backfill:
    """The whole graph as one range run over `days` days, measured, in a fresh data folder."""
    env = prepare(root, landing)
    last = START + timedelta(days=days - 1)
    measured = run_measured(
        materialize_command(BACKFILL_SELECT, START, last), env, root / "logs" / "backfill.log"
    )
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        if len(runs) != 1:
            raise RuntimeError(f"a {days}-day backfill made {len(runs)} runs, not one")
        timing = run_timing(instance, runs[0].run_id)
    layers = step_layers(timing)
    seconds = {layer: 0.0 for layer in LAYERS}
    for step, duration in timing.steps.items():
        if step in layers:  # a step that touched no asset counts as around the steps
            seconds[layers[step]] += duration
    seconds[AROUND] = measured.wall_s - sum(seconds.values())
    return _Backfill(measured, seconds)


def measure_backfill(work: Path, days: int, orders_per_day: int, seed: int) -> dict[str, Any]:
    """One-day and `days`-day backfills of the same data; per layer, the cost of a partition."""
    landing = work / "landing"
    log.info("backfill: generating %d days of %d orders in %s", days, orders_per_day, work)
    # Clean days: with a few dozen rows a day, the demo's defect rates would trip the blocking
    # quarantine-rate check on some days, and a failed run measures nothing.
    generate(
        landing, work / "manifest.json", seed=seed, start=START, days=days,
        orders_per_day=orders_per_day, rates=NO_DEFECTS,
    )  # fmt: skip
    log.info("backfill: one day, then %d days, each one run of the whole graph", days)
    one = _backfill(work / "one_day", landing, 1)
    year = _backfill(work / "range", landing, days)
    extra = max(1, days - 1)
    parts = {
        part: {
            "one_day_s": round(one.seconds[part], 2),
            "range_s": round(year.seconds[part], 2),
            "per_extra_partition_s": round((year.seconds[part] - one.seconds[part]) / extra, 3),
        }
        for part in one.seconds
    }
    return {
        "days": days,
        "orders_per_day": orders_per_day,
        "layers": parts,
        "one_day_s": round(one.measured.wall_s, 2),
        "range_s": round(year.measured.wall_s, 2),
        "per_extra_partition_s": round((year.measured.wall_s - one.measured.wall_s) / extra, 3),
        "range_peak_rss_mb": round(year.measured.peak_rss_mb),
    }


def render_backfill(result: dict[str, Any]) -> str:
    """The backfill's lines for the benchmark's summary."""
    lines = [
        f"{result['days']}-day backfill as one run ({result['orders_per_day']} orders a day): "
        f"{result['range_s']:.1f} s, peak {result['range_peak_rss_mb']:,} MB (1 day "
        f"{result['one_day_s']:.1f} s); each extra partition "
        f"{result['per_extra_partition_s'] * 1000:.0f} ms"
    ]
    for part, figures in result["layers"].items():
        lines.append(
            f"  {part:<12} 1 day {figures['one_day_s']:>6.1f} s   {result['days']} days "
            f"{figures['range_s']:>7.1f} s   +{figures['per_extra_partition_s'] * 1000:.0f} ms "
            "per partition"
        )
    return "\n".join(lines)
