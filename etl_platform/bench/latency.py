"""Latency from a file landing to its rows in curated, with the real daemon, sensors and queue.

`python -m etl_platform.bench.latency --files 20 --rows-per-file 100000 --work-dir DIR` (or
`measure_latency(...)`) lands order files for today one after another, each only once the previous
one's rows are in `curated.fct_order_lines`: landing them faster would measure the queue behind
the previous file, not the floor a file pays on its own. Before the timed files, the other three
sources and one order file of the same size land and are built once, untimed, so every timed file
finds the curated tables (and dbt's incremental models) in place.

A file's rows are visible when dbt has committed `fct_order_lines` for the day, which is when the
run records that model's materialization; that moment is the end of its latency. The DuckDB file
is only read (row count) once no run is in progress: DuckDB takes one writer, and a reader that
holds the file while a run opens it would fail that run.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import dagster as dg
import duckdb

from etl_platform.bench.daemon import DaemonError, log_tail, running_daemon
from etl_platform.bench.dagster_runs import prepare
from etl_platform.bench.deliveries import NO_DEFECTS, land, platform_today, write_order_files
from etl_platform.bench.latency_report import PROGRESS, VISIBLE_KEY, render, report
from etl_platform.bench.timings import sensor_ticks
from etl_platform.demo.generator import generate

# `render` and `report` are part of this module's interface (`make bench` prints the table).
__all__ = ["LatencyTimeoutError", "measure_latency", "render", "report"]
log = logging.getLogger(__name__)
CURATED_TABLE = "curated.fct_order_lines"
DIMENSIONS = ("customers", "products", "payments")
POLL_SECONDS = 0.5
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class LatencyTimeoutError(TimeoutError):
    """Rows did not reach curated in time; the message says what was last seen."""


def _count_rows(warehouse: Path, day: date) -> int:
    """The day's rows in the curated fact table, read-only; retried while a writer holds it."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                found = con.execute(
                    f"SELECT count(*) FROM {CURATED_TABLE} WHERE order_date = ?", [day]
                ).fetchone()
            return int(found[0]) if found else 0
        except duckdb.CatalogException:
            return 0
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_SECONDS)


def _failed_runs(instance: dg.DagsterInstance, since: float) -> list[str]:
    records = instance.get_run_records(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.FAILURE],
            created_after=datetime.fromtimestamp(since, tz=UTC),
        )
    )
    return [f"{r.dagster_run.job_name} {r.dagster_run.run_id}" for r in records]


def _quiet(instance: dg.DagsterInstance) -> bool:
    """No run queued or in progress: nothing holds the DuckDB file."""
    return not instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS), limit=1)


@dataclass
class _Watch:
    """Polls until the day's curated rows reach a count; fails fast on a failed run."""

    instance: dg.DagsterInstance
    warehouse: Path
    day: date
    since: float
    daemon_log: Path
    last_storage_id: int = -1

    def _latest(self) -> dg.EventLogRecord | None:
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=VISIBLE_KEY, asset_partitions=[self.day.isoformat()]),
            limit=1,
        ).records
        return records[0] if records else None

    def _check(self, what: str, deadline: float) -> None:
        failed = _failed_runs(self.instance, self.since)
        if failed:
            raise RuntimeError(
                f"{what}: runs failed: {failed}; see `dagster run list` in DAGSTER_HOME"
            )
        if time.monotonic() > deadline:
            raise LatencyTimeoutError(
                f"{what}: not in curated after the timeout; last fct_order_lines "
                f"materialization storage id {self.last_storage_id}; daemon log:\n"
                f"{log_tail(self.daemon_log)}"
            )

    def rows(self, expected: int, timeout_s: float, what: str) -> dg.EventLogRecord:
        """The materialization that made `expected` rows visible, once its runs are done."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._check(what, deadline)
            record = self._latest()
            if record is not None and record.storage_id > self.last_storage_id:
                while not _quiet(self.instance):
                    self._check(what, deadline)
                    time.sleep(POLL_SECONDS)
                self.last_storage_id = record.storage_id
                if _count_rows(self.warehouse, self.day) >= expected:
                    return record
            time.sleep(POLL_SECONDS)

    def staged(self, sources: tuple[str, ...], timeout_s: float) -> None:
        """Wait until each source's staging table has the day and no run is in progress."""
        deadline = time.monotonic() + timeout_s
        keys = [dg.AssetKey(["staging", s]) for s in sources]
        while True:
            self._check(f"staging of {', '.join(sources)}", deadline)
            done = all(
                self.instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=k, asset_partitions=[self.day.isoformat()]),
                    limit=1,
                ).records
                for k in keys
            )
            if done and _quiet(self.instance):
                return
            time.sleep(POLL_SECONDS)


def measure_latency(
    work: Path, files: int, rows_per_file: int, *, file_timeout_s: float = 900.0
) -> dict[str, Any]:
    """Land `files` order files of `rows_per_file` lines for today; time each into curated.

    Args:
        work: A scratch folder; its `platform/` data folder and `DAGSTER_HOME` are recreated.
        files: Timed files, landed one after another.
        rows_per_file: Order lines per file.
        file_timeout_s: How long one file (and the untimed warm-up) may take to reach curated.

    Returns:
        A JSON-able dict (see `report`): p50/p95/max latency, the floor's parts (each
        p50/p95/max), sensor tick durations, and every file's breakdown.
    """
    day = platform_today()
    work = work.resolve()
    source, pending, landing = work / "source", work / "pending", work / "landing"
    for folder in (source, pending, landing):
        shutil.rmtree(folder, ignore_errors=True)
    (work / PROGRESS).unlink(missing_ok=True)
    began = time.perf_counter()
    generate(
        source,
        work / "manifest.json",
        start=day,
        days=1,
        orders_per_day=(files + 1) * rows_per_file,
        rates=NO_DEFECTS,
    )
    order_files = write_order_files(source, pending, day, files + 1, rows_per_file)
    progress: dict[str, Any] = {
        "day": day.isoformat(),
        "files": files,
        "rows_per_file": rows_per_file,
        "generate_s": round(time.perf_counter() - began, 1),
        "landed": [],  # [landing time, storage id of the materialization that showed its rows]
    }
    root = work / "platform"
    env = prepare(root, landing)
    daemon_log = work / "daemon.log"
    since = time.time()
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:  # created once, here
        watch = _Watch(instance, root / "warehouse.duckdb", day, since, daemon_log)
        for name in DIMENSIONS:
            for path in sorted((source / name / day.isoformat()).iterdir()):
                land(path, landing, name, day)

        def ready() -> bool:
            return any(t.sensor == "orders_landing_sensor" for t in sensor_ticks(instance, since))

        with running_daemon(env, daemon_log, ready):
            log.info("daemon ready; building %s for %s (untimed)", ", ".join(DIMENSIONS), day)
            watch.staged(DIMENSIONS, file_timeout_s)
            land(order_files[0], landing, "orders", day)
            watch.rows(rows_per_file, file_timeout_s, "warm-up order file")
            progress["timed_since"] = time.time()
            # Kept as it goes: `--report-only` reads it back if a long run is stopped.
            (work / PROGRESS).write_text(json.dumps(progress))
            for n, path in enumerate(order_files[1:], start=1):
                landed = land(path, landing, "orders", day)
                shown = watch.rows((n + 1) * rows_per_file, file_timeout_s, path.name)
                progress["landed"].append([landed, shown.storage_id])
                (work / PROGRESS).write_text(json.dumps(progress))
                log.info("%s: %.1f s to curated", path.name, shown.timestamp - landed)
    return report(work)


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Command line: measure, print the table, write `latency.json` into the work folder."""
    parser = argparse.ArgumentParser(prog="python -m etl_platform.bench.latency")
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--work-dir", type=Path, default=Path("data/bench/latency"))
    parser.add_argument("--file-timeout", type=float, default=900.0)
    parser.add_argument(
        "--report-only", action="store_true", help="report the files a stopped run completed"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # A stopped command still stops its daemon: SIGTERM, and SIGINT, which a shell's background
    # job ignores by default, unwind through the daemon's cleanup.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _exit)
    try:
        if args.report_only:
            result = report(args.work_dir.resolve())
        else:
            result = measure_latency(
                args.work_dir, args.files, args.rows_per_file, file_timeout_s=args.file_timeout
            )
    except (DaemonError, LatencyTimeoutError, RuntimeError) as error:
        sys.stderr.write(f"latency benchmark failed: {error}\n")
        return 1
    (args.work_dir / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(render(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
