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
import csv
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from etl_platform.bench.daemon import DaemonError, log_tail, running_daemon
from etl_platform.bench.dagster_runs import prepare
from etl_platform.bench.timings import (
    RunTiming,
    Tick,
    requesting_tick,
    run_timing,
    sensor_ticks,
    summary,
    tick_durations,
)
from etl_platform.demo.generator import DefectRates, generate
from etl_platform.partitions import platform_timezone

log = logging.getLogger(__name__)
CURATED_TABLE = "curated.fct_order_lines"
VISIBLE_KEY = dg.AssetKey(["curated", "fct_order_lines"])
DIMENSIONS = ("customers", "products", "payments")
POLL_SECONDS = 0.5
PROGRESS = "progress.json"
STAGED_KEY = "staging/orders"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# Clean rows: every landed line is staged, so a day's curated count is exactly the rows landed.
NO_DEFECTS = DefectRates(**{f.name: 0.0 for f in fields(DefectRates)})


class LatencyTimeoutError(TimeoutError):
    """Rows did not reach curated in time; the message says what was last seen."""


def platform_today() -> date:
    """Today in the platform time zone: the partition files landing now belong to."""
    return datetime.now(ZoneInfo(platform_timezone())).date()


def write_order_files(source: Path, pending: Path, day: date, count: int, rows: int) -> list[Path]:
    """Cut the generated day's order lines into `count` CSV files of exactly `rows` lines."""
    folder = source / "orders" / day.isoformat()
    readers = sorted(p for p in folder.glob("*.csv") if "_resend" not in p.name)
    pending.mkdir(parents=True, exist_ok=True)
    paths = [pending / f"orders_{day.isoformat()}_{n:03d}.csv" for n in range(count)]
    lines = (row for path in readers for row in _rows(path))
    header: list[str] | None = None
    for path in paths:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            for n, (head, row) in enumerate(lines):
                header = header or head
                if n == 0:
                    writer.writerow(header)
                writer.writerow(row)
                if n + 1 == rows:
                    break
            else:
                raise ValueError(f"the generated day has fewer than {count} x {rows} order lines")
    return paths


def _rows(path: Path) -> Any:
    """(header, row) per line, without the generator's extra `coupon_code` column."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        width = len(header) - (header[-1] == "coupon_code")
        for row in reader:
            yield header[:width], row[:width]


def land(source_file: Path, landing: Path, prefix: str, day: date) -> float:
    """Deliver a file atomically (a hidden temporary name, then a rename); return the time."""
    folder = landing / prefix / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{source_file.name}.part"
    shutil.copyfile(source_file, temporary)
    os.replace(temporary, folder / source_file.name)
    return time.time()


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
            created_after=datetime.fromtimestamp(since),
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


def _first_run(instance: dg.DagsterInstance, job: str, after: float, before: float) -> RunTiming:
    records = instance.get_run_records(
        dg.RunsFilter(job_name=job, created_after=datetime.fromtimestamp(after)), ascending=True
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
    """One file's latency split into what the sensors, queue, run workers and steps took."""
    curated = run_timing(instance, visible.run_id)
    ingest = _first_run(instance, "ingest_orders", landed, curated.created)
    landing_tick = requesting_tick(ticks, ingest.run_id)
    staged = ingest.materialized.get(STAGED_KEY, ingest.ended)
    curated_tick = requesting_tick(ticks, curated.run_id)
    return {
        "latency_s": round(visible.timestamp - landed, 3),
        "to_curated_run_end_s": round(curated.ended - landed, 3),
        "landing_sensor_wait_s": round(landing_tick.start - landed, 3)
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
        "staged_to_curated_run_created_s": round(curated.created - staged, 3),
        "curated_queue_launch_s": round(curated.queue_launch_s, 3),
        "curated_start_to_first_step_s": round(curated.start_to_first_step_s, 3),
        "curated_start_to_visible_s": round(visible.timestamp - curated.started, 3),
        "curated_run_s": round(curated.ended - curated.started, 3),
        "ingest": ingest.as_dict(),
        "curated": curated.as_dict(),
    }


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
            for n, path in enumerate(order_files[1:], start=1):
                landed = land(path, landing, "orders", day)
                shown = watch.rows((n + 1) * rows_per_file, file_timeout_s, path.name)
                progress["landed"].append([landed, shown.storage_id])
                # Kept as it goes: `--report-only` reads it back if a long run is stopped.
                (work / PROGRESS).write_text(json.dumps(progress))
                log.info("%s: %.1f s to curated", path.name, shown.timestamp - landed)
    return report(work)


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
        "floor": {p: summary(d[p] for d in detail) for p in parts if p != "latency_s"},
        "sensor_tick_s": tick_durations(ticks),
        "detail": detail,
    }


def render(result: dict[str, Any]) -> str:
    """The result as a short table: the floor's parts, then the sensors' tick durations."""
    lines = [
        f"{result['files']} files x {result['rows_per_file']:,} rows for {result['day']}, "
        f"{result['spacing']}",
        f"{'':42} {'p50':>8} {'p95':>8} {'max':>8}",
    ]
    rows = {"latency (landed -> rows in curated)": result["latency_s"], **result["floor"]}
    rows |= {f"tick {name}": s for name, s in result["sensor_tick_s"].items()}
    for name, s in rows.items():
        lines.append(f"{name:42} {s['p50']:8.2f} {s['p95']:8.2f} {s['max']:8.2f}")
    return "\n".join(lines)


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
