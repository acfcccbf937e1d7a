"""`python -m etl_platform.bench`: the platform's rows/s and peak memory against the bare engines.

One run generates the demo data once, then measures, on the same files, the bare DuckDB baseline
(the limit), a plain pandas script, the platform's Spark path on `local[2]`, and the platform from
landing to curated in one run through the `dagster` CLI, so the platform's overhead is a ratio
measured on this machine today. The engines must agree on every day's staged rows (and revenue and
which lines won), or the run prints MISMATCH and exits 1: a benchmark whose baseline does less work
flatters nobody.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from etl_platform.bench.backfill import measure_backfill, render_backfill
from etl_platform.bench.dagster_runs import LAYERS, PlatformResult, run_platform
from etl_platform.bench.figures import ORDERS, DayFigures, EngineResult, order_files
from etl_platform.bench.latency import measure_latency
from etl_platform.bench.latency import render as render_latency
from etl_platform.bench.measure import CommandFailedError, Measurement, run_measured
from etl_platform.bench.report import ENGINES, Row, disagreements, machine, render, with_ratios
from etl_platform.demo.generator import generate
from etl_platform.environment import data_dir
from etl_platform.partitions import platform_timezone

log = logging.getLogger("etl_platform.bench")
BASELINES = ("duckdb", "pandas", "spark")


def _row(engine: str, layer: str, m: Measurement, rows: int) -> Row:
    return Row(engine, layer, m.wall_s, rows / m.wall_s, m.peak_rss_mb, m.peak_single_rss_mb, None)


def _platform_rows(result: PlatformResult, rows: int) -> list[Row]:
    if result.total is None:
        raise ValueError("the platform's run was not measured")
    layers = [_row("platform", layer, result.layers[layer], rows) for layer in LAYERS]
    return [*layers, _row("platform", "end-to-end", result.total, rows)]


def _baseline(engine: str, landing: Path, logs: Path) -> tuple[Measurement, EngineResult]:
    """One baseline in a process of its own, measured exactly as the platform's runs are."""
    command = [sys.executable, "-m", f"etl_platform.bench.{engine}_baseline", str(landing)]
    command += ["--timezone", platform_timezone()]
    out = logs / f"{engine}.json"
    measured = run_measured(command, dict(os.environ), logs / f"{engine}.log", stdout=out)
    return measured, EngineResult.from_json(out.read_text())


def _landed(manifest: dict[str, Any]) -> tuple[int, dict[str, int], int]:
    """Order rows landed (re-delivered files included), staged rows due per day, rows raw loads."""
    days = manifest["sources"][ORDERS]
    landed = sum(d["rows_read"] + d["rows_in_duplicate_files"] for d in days.values())
    expected = {day: d["expected"]["staged"] for day, d in days.items()}
    return landed, expected, sum(d["rows_read"] for d in days.values())


@dataclass
class _Measured:
    """Everything the engines produced, in the order they ran."""

    rows: list[Row] = field(default_factory=list)
    daily: dict[str, dict[str, DayFigures]] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)  # baselines only
    inner_seconds: dict[str, float] = field(default_factory=dict)  # baselines only
    platform: PlatformResult | None = None


def _measure(args: argparse.Namespace, work: Path, landed: int) -> _Measured:
    """Each selected engine on the same files: the baselines, then the platform's layers."""
    landing = work / "landing"
    out = _Measured()
    for engine in (e for e in BASELINES if e in args.only):
        log.info("running the %s baseline", engine)
        measured, result = _baseline(engine, landing, work / "logs")
        out.rows.append(_row(engine, "bare", measured, landed))
        out.daily[engine] = result.daily
        out.rows_read[engine] = result.rows_read
        out.inner_seconds[engine] = result.seconds
    if "platform" in args.only:
        log.info("running the platform: orders from landing to curated, one dagster run")
        last = args.start + timedelta(days=args.days - 1)
        out.platform = run_platform(work / "platform", landing, args.start, last)
        out.rows += _platform_rows(out.platform, landed)
        out.daily["platform"] = out.platform.daily
    out.rows = with_ratios(out.rows)
    return out


def bench(args: argparse.Namespace) -> int:
    """Generate, measure every selected engine, print the table, write the JSON, check agreement."""
    began = time.perf_counter()
    work: Path = args.work_dir.resolve()
    for stale in (work / "landing", work / "logs"):
        shutil.rmtree(stale, ignore_errors=True)
    per_day = max(1, args.rows // args.days)
    log.info("generating %d order lines over %d days in %s", args.rows, args.days, work)
    manifest = generate(
        work / "landing", work / "demo_manifest.json", seed=args.seed, start=args.start,
        days=args.days, orders_per_day=per_day,
    )  # fmt: skip
    landed, expected, loaded = _landed(manifest)
    measured = _measure(args, work, landed)
    problems = disagreements(measured.daily, expected, measured.rows_read, landed)
    files = order_files(work / "landing")
    report: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": {
            "rows": args.rows,
            "days": args.days,
            "orders_per_day": per_day,
            "start": args.start.isoformat(),
            "seed": args.seed,
            "timezone": platform_timezone(),
            "only": list(args.only),
        },
        "landed": {
            "rows": landed,
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
            # The ledger skips a re-delivered file by checksum; the baselines read every file.
            "rows_loaded_by_platform_raw": loaded,
        },
        "results": [asdict(r) for r in measured.rows],
        "baseline_inner_seconds": measured.inner_seconds,
        "platform_fixed_costs": _fixed_costs(measured.platform),
        "platform_runs": measured.platform.runs if measured.platform else None,
        "daily": {
            engine: {day: asdict(f) for day, f in sorted(by_day.items())}
            for engine, by_day in measured.daily.items()
        },
        "expected_rows": expected,
        "agreement": {"ok": not problems, "mismatches": problems},
    }
    if args.backfill_days:
        try:
            report["backfill"] = measure_backfill(
                work / "backfill", args.backfill_days, args.backfill_orders, args.seed
            )
        except CommandFailedError as error:  # keep the measurements already made
            report["backfill"] = {"error": str(error)[-2000:]}
    if args.latency_files:
        report["latency"] = measure_latency(work / "latency", args.latency_files, args.latency_rows)
    report["run_seconds"] = time.perf_counter() - began
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if "error" in report.get("backfill", {}):
        problems = [*problems, "BACKFILL FAILED: see backfill.error in the JSON"]
    sys.stdout.write(_summary(report, measured.rows, problems))
    return 1 if problems else 0


def _fixed_costs(platform: PlatformResult | None) -> dict[str, Any] | None:
    """Definitions load (every try, the best, its memory) and the untimed curated preparation."""
    if platform is None or platform.definitions_load is None or platform.other_sources is None:
        return None
    return {
        "definitions_load_s": platform.definitions_load_s,
        "definitions_load_best_s": platform.definitions_load.wall_s,
        "definitions_load_peak_rss_mb": platform.definitions_load.peak_rss_mb,
        "other_sources_prep_s": platform.other_sources.wall_s,
        "other_sources_prep_peak_rss_mb": platform.other_sources.peak_rss_mb,
    }


def _summary(report: dict[str, Any], rows: list[Row], problems: list[str]) -> str:
    params, landed = report["params"], report["landed"]
    text = [
        f"{landed['rows']:,} order lines landed in {landed['files']} files over {params['days']} "
        f"days ({landed['bytes'] / 2**20:,.0f} MiB); rows/s = landed rows / wall s",
        "",
        render(rows),
        "",
    ]
    fixed = report["platform_fixed_costs"]
    if fixed:
        loads = ", ".join(f"{s:.1f}" for s in fixed["definitions_load_s"])
        text.append(
            f"Dagster fixed costs: definitions load {fixed['definitions_load_best_s']:.1f} s "
            f"(best of 3: {loads} s); other sources built for curated, not in the total: "
            f"{fixed['other_sources_prep_s']:.1f} s, "
            f"{fixed['other_sources_prep_peak_rss_mb']:,.0f} MB"
        )
    runs = report["platform_runs"]
    if runs:
        firsts = ", ".join(f"{layer} {r['start_to_first_step_s']:.2f}" for layer, r in runs.items())
        text.append(f"Run start to first step (s): {firsts}")
    if "backfill" in report and "error" not in report["backfill"]:
        text.append(render_backfill(report["backfill"]))
    if "latency" in report:
        text.append(render_latency(report["latency"]))
    text += problems or ["All engines agree on every day's staged rows, revenue and lines."]
    text.append(f"Benchmark run {report['run_seconds']:.0f} s; results in the JSON.")
    return "\n".join(text) + "\n"


def _engines(value: str) -> tuple[str, ...]:
    chosen = tuple(e.strip() for e in value.split(",") if e.strip())
    unknown = set(chosen) - set(ENGINES)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(ENGINES)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m etl_platform.bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000, help="order lines in total")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument(
        "--only", type=_engines, default=ENGINES, help="platform,duckdb,pandas,spark"
    )
    parser.add_argument("--work-dir", type=Path, default=data_dir() / "bench")
    parser.add_argument("--out", type=Path, help="default: <work-dir>/results.json")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--backfill-days", type=int, default=365, help="range backfill length; 0 skips it"
    )
    parser.add_argument("--backfill-orders", type=int, default=200, help="orders a backfill day")
    parser.add_argument(
        "--latency-files", type=int, default=20, help="files timed into curated; 0 skips it"
    )
    parser.add_argument("--latency-rows", type=int, default=100_000, help="rows a latency file")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    args = parser.parse_args(argv)
    if args.days < 1 or args.rows < args.days:
        parser.error("--days must be at least 1 and --rows at least --days")
    args.out = args.out or args.work_dir / "results.json"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return bench(args)
    except CommandFailedError as error:
        log.error("%s", error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
