"""A year of daily partitions in one run per layer: what a partition costs beyond its rows.

Every asset has a single-run backfill policy, so a range is one run whose steps see every day at
once. What each extra day still costs (event-log writes for its materializations, a Delta
partition, a day's metadata, dbt's per-day work) is measured as the difference between a one-day
and a `days`-day backfill of the same small days, divided by the extra days.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from etl_platform.bench.dagster_runs import materialize_command, prepare
from etl_platform.bench.deliveries import NO_DEFECTS
from etl_platform.bench.measure import Measurement, run_measured
from etl_platform.demo.generator import generate

log = logging.getLogger("etl_platform.bench")
# The whole graph, layer by layer, for every source.
BACKFILL_LAYERS = (
    ("raw", "group:raw"),
    ("staging", "group:staging,group:quarantine"),
    ("curated", "group:curated"),
)
START = date(2025, 1, 1)


def _backfill(root: Path, landing: Path, days: int) -> dict[str, Measurement]:
    """Each layer as one range run over `days` days, measured, in a fresh data folder."""
    env = prepare(root, landing)
    last = START + timedelta(days=days - 1)
    return {
        layer: run_measured(
            materialize_command(select, START, last), env, root / "logs" / f"{layer}.log"
        )
        for layer, select in BACKFILL_LAYERS
    }


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
    log.info("backfill: one day, then %d days, one run per layer", days)
    one = _backfill(work / "one_day", landing, 1)
    year = _backfill(work / "range", landing, days)
    layers = {
        layer: {
            "one_day_s": round(one[layer].wall_s, 2),
            "range_s": round(year[layer].wall_s, 2),
            "per_extra_partition_s": round(
                (year[layer].wall_s - one[layer].wall_s) / max(1, days - 1), 3
            ),
            "range_peak_rss_mb": round(year[layer].peak_rss_mb),
        }
        for layer, _ in BACKFILL_LAYERS
    }
    total_one = sum(m.wall_s for m in one.values())
    total_year = sum(m.wall_s for m in year.values())
    return {
        "days": days,
        "orders_per_day": orders_per_day,
        "layers": layers,
        "range_s": round(total_year, 2),
        "per_extra_partition_s": round((total_year - total_one) / max(1, days - 1), 3),
    }


def render_backfill(result: dict[str, Any]) -> str:
    """The backfill's lines for the benchmark's summary."""
    lines = [
        f"{result['days']}-day backfill, one run per layer ({result['orders_per_day']} orders "
        f"a day): {result['range_s']:.1f} s; each extra partition "
        f"{result['per_extra_partition_s'] * 1000:.0f} ms"
    ]
    for layer, figures in result["layers"].items():
        lines.append(
            f"  {layer:<8} 1 day {figures['one_day_s']:>6.1f} s   {result['days']} days "
            f"{figures['range_s']:>7.1f} s   +{figures['per_extra_partition_s'] * 1000:.0f} ms "
            "per partition"
        )
    return "\n".join(lines)
