"""The platform's side of the benchmark: orders from landing to curated through the `dagster` CLI.

The orders' raw, staging and curated layers are one range run (`--partition-range`, single-run
backfill policy) of what the orders' landing sensor builds for a delivery (`selections`), started
the way an operator starts it: the figures include
what users pay (process start, definitions load, run storage, IO managers, asset checks). Each
layer's figures are a window of that run, cut where the next layer's first step starts. A fresh
data folder and `DAGSTER_HOME` per benchmark make runs independent of whatever `make demo` or
`make dev` left behind.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import dagster as dg

from etl_platform.assets.raw import raw_key
from etl_platform.assets.staging import quarantine_key, staging_key
from etl_platform.bench.figures import DayFigures
from etl_platform.bench.measure import Measurement, run_measured, run_sampled
from etl_platform.bench.timings import RunTiming, run_timing
from etl_platform.cli import LOCAL_INSTANCE_CONFIG
from etl_platform.environment import local_resources
from etl_platform.sources.model import load_specs

# The orders' layers in build order; together they are the one timed run.
LAYERS = ("raw", "staging", "curated")
# The layer of an asset key's first element; a step's is that of the assets it builds or checks.
LAYER_OF = {
    "raw": "raw",
    "staging": "staging",
    "quarantine": "staging",
    "curated": "curated",
    "quality": "curated",
}
DEFINITIONS_LOADS = 3
DAILY_SQL = Path(__file__).with_name("platform_daily.sql")


@dataclass
class PlatformResult:
    """Per-layer windows of the run, fixed costs, and the staged figures read from the warehouse."""

    layers: dict[str, Measurement] = field(default_factory=dict)
    total: Measurement | None = None  # the whole run, process start to exit
    # the run's timeline as the instance recorded it (RUN_START to first step, steps)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    definitions_load_s: list[float] = field(default_factory=list)
    definitions_load: Measurement | None = None  # the fastest of the loads
    other_sources: Measurement | None = None  # untimed preparation for the curated layer
    daily: dict[str, DayFigures] = field(default_factory=dict)


def prepare(root: Path, landing: Path) -> dict[str, str]:
    """A fresh data folder whose landing zone is the benchmark's files; the runs' environment."""
    shutil.rmtree(root, ignore_errors=True)
    home = root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(LOCAL_INSTANCE_CONFIG, home / "dagster.yaml")
    # A link, not a copy: 10 M rows are ~1 GB, and the landing zone resolves its root anyway.
    (root / "landing").symlink_to(landing.resolve(), target_is_directory=True)
    return {
        **os.environ,
        "ETL_ENV": "local",  # never a benchmark against whatever prod the shell points at
        "ETL_DATA_DIR": str(root.resolve()),
        "DAGSTER_HOME": str(home.resolve()),
    }


def materialize_command(select: str, first: date, last: date) -> list[str]:
    """The `dagster asset materialize` command building `select` for a range of days, as one run."""
    dagster = str(Path(sys.executable).parent / "dagster")
    return [
        dagster, "asset", "materialize", "-m", "etl_platform.definitions", "--select", select,
        "--partition-range", f"{first.isoformat()}...{last.isoformat()}",
    ]  # fmt: skip


def staged_figures(root: Path) -> dict[str, DayFigures]:
    """Per day, the rows `staging.orders` holds, their revenue and their source lines' sum."""
    warehouse = local_resources(root)["warehouse"]
    with warehouse.connect() as con:
        rows = con.execute(DAILY_SQL.read_text()).fetchall()
    return {
        day.isoformat(): DayFigures(int(staged), int(revenue), int(lines))
        for day, staged, revenue, lines in rows
    }


def step_layers(timing: RunTiming) -> dict[str, str]:
    """Each step's layer: that of the assets it materializes or checks."""
    return {step: LAYER_OF[key.path[0]] for step, key in timing.step_assets.items()}


def layer_starts(timing: RunTiming, layers: dict[str, str]) -> dict[str, float]:
    """When each layer's first step started (epoch seconds)."""
    starts: dict[str, float] = {}
    for step, layer in layers.items():
        started = timing.step_starts[step]
        starts[layer] = min(starts.get(layer, started), started)
    return starts


def _keys(keys: Iterable[dg.AssetKey]) -> str:
    """Asset keys as a `--select` value."""
    return ",".join(sorted(key.to_user_string() for key in keys))


def selections() -> tuple[str, str]:
    """The untimed run's selection, then the timed one's: what the orders' sensor builds.

    The timed run builds the orders' raw, staging and quarantine, every model their staging
    table feeds (`CuratedGraph.feeds`, the rule the landing sensor picks by) and the quality
    report. The dimensions, `fct_payments` and the other sources' views read no order line, so
    the untimed run builds them with the other sources.
    """
    # Imported here: the definitions load the dbt manifest, which only the platform's run needs.
    from etl_platform.definitions import curated

    layers = {s.name: [raw_key(s), staging_key(s), quarantine_key(s)] for s in load_specs()}
    orders = layers.pop("orders")
    fed = curated.follow_on.graph.feeds[orders[1]]
    models = [k for k in curated.assets.keys if k.path[0] == "curated"]
    others = [k for keys in layers.values() for k in keys]
    timed = [*orders, *fed, *curated.follow_on.also]
    return _keys([*others, *(k for k in models if k not in fed)]), _keys(timed)


def run_platform(root: Path, landing: Path, first: date, last: date) -> PlatformResult:
    """Definitions load (best of three), then the orders from raw to curated as one measured run.

    The curated models read all four sources' staging tables, so the other three sources and
    the models no order line reaches are built first, measured but kept out of the layer
    figures and the end-to-end total.
    """
    env = prepare(root, landing)
    logs = root / "logs"
    result = PlatformResult()
    loads = [
        run_measured(
            [sys.executable, "-c", "import etl_platform.definitions"], env, logs / f"load_{n}.log"
        )
        for n in range(DEFINITIONS_LOADS)
    ]
    result.definitions_load_s = [m.wall_s for m in loads]
    result.definitions_load = min(loads, key=lambda m: m.wall_s)
    untimed, select = selections()
    result.other_sources = run_measured(
        materialize_command(untimed, first, last), env, logs / "other_sources.log"
    )
    result.total, timeline = run_sampled(
        materialize_command(select, first, last), env, logs / "orders.log"
    )
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs(limit=1)  # the orders' run: the newest
        timing = run_timing(instance, run.run_id)
        starts = layer_starts(timing, step_layers(timing))
    result.runs["orders"] = timing.as_dict()
    cuts = [timeline.started, starts["staging"], starts["curated"], timeline.ended]
    for layer, (start, end) in zip(LAYERS, pairwise(cuts), strict=True):
        result.layers[layer] = timeline.window(start, end)
    result.daily = staged_figures(root)
    return result
