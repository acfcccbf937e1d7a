"""Small commands the README uses: `python -m etl_platform.cli demo`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from etl_platform.demo.generator import generate
from etl_platform.demo.summary import render, render_quality, summarize
from etl_platform.environment import PROJECT_ROOT, data_dir

log = logging.getLogger("etl_platform.cli")
LOCAL_INSTANCE_CONFIG = PROJECT_ROOT / "deploy" / "local" / "dagster.yaml"


def materialize_range(start: date, end: date, dagster_home: Path) -> None:
    """Build every asset for the days, as one run, through the real `dagster` CLI."""
    dagster = str(Path(sys.executable).parent / "dagster")
    command = [
        dagster, "asset", "materialize", "-m", "etl_platform.definitions", "--select", "*",
        "--partition-range", f"{start.isoformat()}...{end.isoformat()}",
    ]  # fmt: skip
    log.info("running %s", " ".join(command))
    subprocess.run(command, check=True, env={**os.environ, "DAGSTER_HOME": str(dagster_home)})


def demo(days: int, orders_per_day: int, seed: int, start: date) -> int:
    """Fresh demo data, one range run of the whole graph, then the summary against the manifest."""
    root = data_dir()
    for stale in ("landing", "lake", "warehouse.duckdb", "dagster_home"):
        path = root / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    dagster_home = root / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(LOCAL_INSTANCE_CONFIG, dagster_home / "dagster.yaml")
    manifest_path = root / "demo_manifest.json"
    started = time.perf_counter()
    generate(
        root / "landing", manifest_path, seed=seed, start=start, days=days,
        orders_per_day=orders_per_day,
    )  # fmt: skip
    generated = time.perf_counter()
    materialize_range(start, start + timedelta(days=days - 1), dagster_home)
    built = time.perf_counter()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        summaries, curated = summarize(json.loads(manifest_path.read_text()), root, instance)
        quality = render_quality(root, instance)
    sys.stdout.write(render(summaries, curated) + "\n\n" + quality + "\n")
    sys.stdout.write(
        f"\ngenerate {generated - started:.1f} s, materialize {built - generated:.1f} s\n"
    )
    problems = [m for s in summaries for m in s.mismatches()]
    if problems:
        sys.stdout.write(
            "MISMATCH with the ground-truth manifest:\n  " + "\n  ".join(problems) + "\n"
        )
        return 1
    sys.stdout.write("All counts match the ground-truth manifest.\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="python -m etl_platform.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_cmd = commands.add_parser("demo", help="generate demo files and build every layer")
    demo_cmd.add_argument("--days", type=int, default=3)
    demo_cmd.add_argument("--orders-per-day", type=int, default=2_000)
    demo_cmd.add_argument("--seed", type=int, default=7)
    demo_cmd.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return demo(args.days, args.orders_per_day, args.seed, args.start)


if __name__ == "__main__":
    sys.exit(main())
