"""The latency benchmark end to end: the real daemon, sensors and queue, on tiny files."""

import os
from pathlib import Path

import duckdb
import pytest

from etl_platform.bench.daemon import DaemonError, running_daemon
from etl_platform.bench.deliveries import platform_today
from etl_platform.bench.latency import measure_latency

FILES, ROWS = 2, 1_000


def processes_with(variable: str, value: str) -> list[int]:
    """Our processes whose environment holds `variable=value`."""
    found = []
    needle = f"{variable}={value}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def test_two_files_reach_curated_and_every_part_of_the_floor_is_reported(tmp_path):
    result = measure_latency(tmp_path, FILES, ROWS, file_timeout_s=300)

    with duckdb.connect(str(tmp_path / "platform" / "warehouse.duckdb"), read_only=True) as con:
        (rows,) = con.execute(
            "SELECT count(*) FROM curated.fct_order_lines WHERE order_date = ?", [platform_today()]
        ).fetchone()
    assert rows == (FILES + 1) * ROWS  # the warm-up file and both timed ones
    assert result["files"] == FILES and len(result["detail"]) == FILES
    assert set(result["latency_s"]) == {"n", "p50", "p95", "max"}
    assert result["latency_s"]["n"] == FILES and result["latency_s"]["p50"] > 0
    # The day's other sources are staged before the timed files land: each file's own run
    # builds it to curated, with no curated sensor wait or second launch.
    assert result["files_in_one_run"] == FILES
    for part in (
        "landing_sensor_wait_s",
        "ingest_queue_launch_s",
        "ingest_start_to_first_step_s",
        "raw_step_s",
        "staging_step_s",
        "staged_to_visible_s",
    ):
        assert result["floor"][part]["n"] == FILES, part
    for part in ("staged_to_curated_tick_s", "curated_queue_launch_s", "curated_run_s"):
        assert result["floor"][part]["n"] == 0, part
    assert {"orders_landing_sensor", "curated_sensor"} <= set(result["sensor_tick_s"])
    home = str(tmp_path / "platform" / "dagster_home")
    assert processes_with("DAGSTER_HOME", home) == []  # the daemon and its runs are gone


def test_a_daemon_that_never_becomes_ready_is_stopped_with_its_log(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ETL_DATA_DIR": str(tmp_path)}
    log = tmp_path / "daemon.log"
    with (
        pytest.raises(DaemonError, match="not ready after"),
        running_daemon(env, log, ready=lambda: False, timeout_s=2),
    ):
        pass
    assert processes_with("DAGSTER_HOME", str(home)) == []
