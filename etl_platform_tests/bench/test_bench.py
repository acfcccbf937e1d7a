"""The benchmark: its measurements, its agreement guard, and the command end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from etl_platform.bench import duckdb_baseline, pandas_baseline
from etl_platform.bench.figures import DayFigures
from etl_platform.bench.measure import Measurement, Sample, Timeline, run_measured
from etl_platform.bench.report import disagreements
from etl_platform.ingest.readers import read_batches
from etl_platform.sources.model import SPEC_DIR, load_spec
from etl_platform.transform.stage import stage

HEADER = (
    "order_id,line_number,customer_id,product_id,quantity,unit_price_inr,status,channel,"
    "order_ts,updated_at\n"
)
AT_11 = "2026-11-01T10:00:00+05:30,2026-11-01T11:00:00+05:30"
AT_12 = "2026-11-01T12:00:00+05:30,2026-11-01T12:00:00+05:30"
# (epoch s, tree KiB, largest process KiB): a peak in each half of a 4 s command.
SAMPLES = ((10.0, 1024, 1024), (11.0, 3072, 2048), (12.5, 4096, 3072), (13.0, 2048, 2048))


def run_bench(work: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "etl_platform.bench", "--work-dir", str(work), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k not in ("ETL_DATA_DIR", "DAGSTER_HOME")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result, json.loads((work / "results.json").read_text())


def test_peak_memory_counts_the_processes_a_command_starts(tmp_path):
    child = "b = bytearray(b'x') * (200 << 20); import time; time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    measured = run_measured([sys.executable, "-c", parent], dict(os.environ), tmp_path / "log")
    assert measured.peak_rss_mb > 200
    assert measured.peak_single_rss_mb > 200
    assert measured.wall_s > 1.5


def test_a_window_of_a_timeline_keeps_its_own_seconds_and_peaks():
    samples = tuple(Sample(at, tree, single) for at, tree, single in SAMPLES)
    timeline = Timeline(10.0, 14.0, samples)
    assert timeline.window(10.0, 12.0) == Measurement(2.0, 3.0, 2.0)
    assert timeline.window(12.0, 14.0) == Measurement(2.0, 4.0, 3.0)
    assert timeline.window(13.5, 14.0) == Measurement(0.5, 0.0, 0.0)  # no sample inside


@pytest.fixture
def tied_landing(tmp_path) -> Path:
    day = tmp_path / "landing" / "orders" / "2026-11-01"
    day.mkdir(parents=True)
    (day / "orders_a.csv").write_text(
        HEADER
        + f"ORD-00000001,1,CUST-000001,PRD-10001,1,10.00,placed,web,{AT_11}\n"  # line 2
        + f"ORD-00000001,1,CUST-000001,PRD-10001,1,10.00,shipped,web,{AT_11}\n"  # 3: tie
        + f"ORD-00000002,1,CUST-000002,PRD-10002,2,20.00,placed,ios,{AT_12}\n"  # 4: first copy
        + f"ORD-00000002,1,CUST-000002,PRD-10002,2,20.00,placed,ios,{AT_12}\n"  # 5: copy
    )
    (day / "orders_b.csv").write_text(
        HEADER
        + f"ORD-00000002,1,CUST-000002,PRD-10002,2, 20.00,placed,ios,{AT_12}\n"  # 2: copy
        + f"ORD-00000003,1,CUST-000003,PRD-10003,-1,5.00,placed,web,{AT_12}\n"  # 3: out of range
        + f"ORD-00000001,1,CUST-000001,PRD-10001,1,10.00,delivered,web,{AT_11}\n"  # 4: tie wins
        + f"ORD-00000004,1,CUST-000004,PRD-10004,3,5.50, shipped , NA ,{AT_12}\n"  # 5: valid
    )
    return tmp_path / "landing"


@pytest.mark.parametrize("engine", [duckdb_baseline, pandas_baseline])
def test_ties_go_to_the_later_file_and_line_and_copies_to_the_first(engine, tied_landing):
    result = engine.run(tied_landing, "Asia/Kolkata")
    # Winners: b line 4 (tie, later file), a line 4 (first exact copy), b line 5.
    assert result.daily == {"2026-11-01": DayFigures(3, 1_000 + 4_000 + 1_650, 4 + 4 + 5)}
    assert result.rows_read == 8


def test_the_platform_breaks_ties_and_drops_copies_as_the_baselines_do(tied_landing):
    spec = load_spec(SPEC_DIR / "orders.yaml")
    tables = []
    for path in sorted((tied_landing / "orders" / "2026-11-01").glob("*.csv")):
        table = pa.Table.from_batches(list(read_batches(path, "csv", spec.column_names)))
        n = table.num_rows
        key = path.relative_to(tied_landing).as_posix()
        tables.append(
            table.append_column("_file_rejected", pa.nulls(n, pa.string()))
            .append_column("_source_file", pa.array([key] * n))
            .append_column("_partition_date", pa.array(["2026-11-01"] * n))
        )
    staged = stage(
        pa.concat_tables(tables), spec, ["2026-11-01"], b"k" * 16, "Asia/Kolkata"
    ).staged.to_pylist()
    revenue = sum(int(r["quantity"] * r["unit_price_inr"] * 100) for r in staged)
    lines = sum(r["_source_line"] for r in staged)
    assert (len(staged), revenue, lines) == (3, 1_000 + 4_000 + 1_650, 4 + 4 + 5)


def test_an_engine_that_keeps_other_rows_is_a_mismatch():
    right = {"2026-11-01": DayFigures(3, 6_650, 13)}
    # Same count and revenue, but the last exact copy kept instead of the first.
    wrong = {"2026-11-01": DayFigures(3, 6_650, 11)}
    problems = disagreements(
        {"duckdb": right, "pandas": wrong}, {"2026-11-01": 3}, {"duckdb": 8, "pandas": 8}, 8
    )
    assert problems == ["MISMATCH 2026-11-01 line_checksum: duckdb=13, pandas=11"]
    assert disagreements({"duckdb": right}, {"2026-11-01": 4}, {"duckdb": 7}, 8) == [
        "MISMATCH rows read: duckdb read 7 of 8 landed rows",
        "MISMATCH 2026-11-01 rows: duckdb=3, manifest=4",
    ]


def test_the_baselines_agree_with_each_other_and_the_manifest(tmp_path):
    result, report = run_bench(
        tmp_path, "--rows", "3000", "--days", "2", "--only", "duckdb,pandas,spark",
        "--backfill-days", "0", "--latency-files", "0",
    )  # fmt: skip
    assert "All engines agree" in result.stdout
    assert {"machine", "params", "landed", "results", "daily", "agreement", "run_seconds"} <= set(
        report
    )
    assert {"cores", "python", "duckdb", "pandas"} <= set(report["machine"])
    assert (report["params"]["rows"], report["params"]["days"]) == (3000, 2)
    assert [(r["engine"], r["layer"]) for r in report["results"]] == [
        ("duckdb", "bare"),
        ("pandas", "bare"),
        ("spark", "bare"),
    ]
    for row in report["results"]:
        assert row["wall_s"] > 0 and row["rows_per_s"] > 0 and row["peak_rss_mb"] > 0
    assert report["results"][0]["ratio_to_duckdb"] == 1.0
    assert report["agreement"] == {"ok": True, "mismatches": []}
    assert report["daily"]["duckdb"] == report["daily"]["pandas"] == report["daily"]["spark"]
    staged = {day: figures["rows"] for day, figures in report["daily"]["duckdb"].items()}
    assert staged == report["expected_rows"]
    assert len(staged) == 2


def test_the_platform_agrees_with_the_bare_engines(tmp_path):
    result, report = run_bench(
        tmp_path, "--rows", "1000", "--days", "2", "--only", "duckdb,pandas,platform",
        "--backfill-days", "2", "--backfill-orders", "20", "--latency-files", "0",
    )  # fmt: skip
    layers = [(r["engine"], r["layer"]) for r in report["results"]]
    assert layers == [
        ("duckdb", "bare"),
        ("pandas", "bare"),
        ("platform", "raw"),
        ("platform", "staging"),
        ("platform", "curated"),
        ("platform", "end-to-end"),
    ]
    assert report["agreement"]["ok"], report["agreement"]["mismatches"]
    assert report["daily"]["platform"] == report["daily"]["duckdb"]
    fixed = report["platform_fixed_costs"]
    assert len(fixed["definitions_load_s"]) == 3
    assert fixed["definitions_load_best_s"] == min(fixed["definitions_load_s"])
    # One run from raw to curated, whose layers are consecutive windows of it.
    (run,) = report["platform_runs"].values()
    assert 0 < run["start_to_first_step_s"] < run["run_s"]
    assert {"raw__orders", "stage_orders", "curated_models"} <= set(run["steps_s"])
    *windows, total = report["results"][2:]
    assert all(w["wall_s"] > 0 and w["peak_rss_mb"] > 0 for w in windows)
    assert sum(w["wall_s"] for w in windows) == pytest.approx(total["wall_s"], abs=0.2)
    assert total["peak_rss_mb"] == max(w["peak_rss_mb"] for w in windows)
    backfill = report["backfill"]
    parts = backfill["layers"]
    assert backfill["days"] == 2 and list(parts) == ["raw", "staging", "curated", "around steps"]
    assert all(f["range_s"] > 0 and f["one_day_s"] > 0 for f in parts.values())
    # The parts of the one run add up to its wall time.
    assert sum(f["range_s"] for f in parts.values()) == pytest.approx(backfill["range_s"], abs=0.1)
    assert "2-day backfill" in result.stdout
