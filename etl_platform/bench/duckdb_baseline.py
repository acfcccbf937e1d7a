"""The limit: the orders staging work and a daily aggregate as one bare DuckDB query.

Run by the benchmark in a process of its own (`python -m etl_platform.bench.duckdb_baseline
<landing>`), so its wall time and peak memory are measured exactly like the platform's. It imports
nothing of the platform: what it costs is DuckDB's cost.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from etl_platform.bench.figures import DayFigures, EngineResult, order_files

QUERY = Path(__file__).with_name("duckdb_baseline.sql")


def run(landing: Path, timezone: str) -> EngineResult:
    """Stage the landed orders and aggregate them per day, all inside DuckDB."""
    ZoneInfo(timezone)  # refuse an unknown zone before it reaches SQL
    started = time.perf_counter()
    files = [str(path) for path in order_files(landing)]
    con = duckdb.connect()
    try:
        con.execute(f"SET TimeZone = '{timezone}'")
        rows = con.execute(QUERY.read_text(), {"files": files}).fetchall()
    finally:
        con.close()
    daily = {
        day.isoformat(): DayFigures(int(staged), int(revenue), int(lines))
        for day, _, staged, revenue, lines in rows
    }
    read = sum(int(r[1]) for r in rows)
    return EngineResult("duckdb", read, time.perf_counter() - started, daily)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, print the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m etl_platform.bench.duckdb_baseline")
    parser.add_argument("landing", type=Path, help="the landing folder (holds orders/<day>/)")
    parser.add_argument("--timezone", default="Asia/Kolkata")
    args = parser.parse_args(argv)
    run(args.landing, args.timezone).write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
