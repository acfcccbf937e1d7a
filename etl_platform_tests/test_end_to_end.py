"""The whole platform through its real entry points: the demo command and the `dagster` CLI."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from deltalake import DeltaTable

from etl_platform.definitions import defs
from etl_platform_tests.conftest import dbt

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
BIN = Path(sys.executable).parent


def run(args: list[str], data_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ETL_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(data_dir / "dagster_home"),
    }
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def materialize(data_dir: Path, select: str, day: str, check: bool = True) -> int:
    """`dagster asset materialize` of `select` for `day`; its exit code."""
    return run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "etl_platform.definitions",
         "--select", select, "--partition", day],
        data_dir, check,
    ).returncode  # fmt: skip


def query(data_dir: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    data_dir = tmp_path_factory.mktemp("data")
    result = run(
        [
            sys.executable,
            "-m",
            "etl_platform.cli",
            "demo",
            "--days",
            "3",
            "--orders-per-day",
            "400",
        ],
        data_dir,
    )
    return data_dir, result.stdout


def expected(data_dir: Path, source: str) -> dict:
    manifest = json.loads((data_dir / "demo_manifest.json").read_text())
    return manifest["sources"][source]


def test_the_demo_matches_the_ground_truth_manifest(demo):
    data_dir, stdout = demo
    assert "All counts match the ground-truth manifest." in stdout
    for source in ("orders", "payments", "customers", "products"):
        truth = expected(data_dir, source)
        for day in DAYS:
            want = truth[day]["expected"]
            staged = query(
                data_dir,
                f"SELECT count(*) FROM staging.{source} WHERE _partition_date = DATE '{day}'",
            )[0][0]
            reasons = dict(
                query(
                    data_dir,
                    f"SELECT _reason, count(*) FROM quarantine.{source} "
                    f"WHERE _partition_date = DATE '{day}' GROUP BY ALL",
                )
            )
            assert staged == want["staged"], (source, day)
            assert reasons == want["quarantined"], (source, day)


def test_every_partition_accounts_for_every_row_read(demo):
    data_dir, _ = demo
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        for source in ("orders", "payments", "customers", "products"):
            records = instance.fetch_materializations(dg.AssetKey(["staging", source]), limit=50)
            by_day = {
                r.asset_materialization.partition: r.asset_materialization.metadata
                for r in records.records
            }
            assert sorted(by_day) == DAYS
            for day, meta in by_day.items():
                quarantined = sum(meta["quarantined_by_reason"].value.values())
                assert meta["rows_read"].value == (
                    meta["rows_staged"].value + quarantined + meta["duplicates_dropped"].value
                )
                assert meta["rows_read"].value == expected(data_dir, source)[day]["rows_read"]
                assert (
                    meta["duplicates_dropped"].value
                    == expected(data_dir, source)[day]["expected"]["duplicates_dropped"]
                )


def test_a_range_backfill_runs_every_layer_as_one_run(demo):
    data_dir, _ = demo
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        runs = instance.get_runs()
    assert len(runs) == 1
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert runs[0].tags["dagster/asset_partition_range_start"] == DAYS[0]
    assert runs[0].tags["dagster/asset_partition_range_end"] == DAYS[-1]


def test_raw_keeps_rows_as_read_with_lineage_and_the_extra_column(demo):
    data_dir, _ = demo
    raw = DeltaTable(str(data_dir / "lake" / "raw" / "orders")).to_pyarrow_table()
    assert {"_source_file", "_source_line", "_file_sha256", "_ingested_at", "coupon_code"} <= set(
        raw.column_names
    )
    assert set(raw.column("_partition_date").to_pylist()) == set(DAYS)
    assert not any(f.endswith("_resend.csv") for f in raw.column("_source_file").to_pylist())


def test_no_raw_pii_value_reaches_staging_quarantine_or_curated(demo):
    data_dir, _ = demo
    raw = DeltaTable(str(data_dir / "lake" / "raw" / "customers")).to_pyarrow_table()
    secrets = {
        v.strip()
        for column in ("name", "email", "pan")
        for v in raw.column(column).to_pylist()
        if v and v.strip() and v.strip().lower() not in ("na", "n/a", "null")
    }
    tables = [
        "staging.customers", "quarantine.customers", "curated.dim_customers",
        "curated.stg_marketplace__customers", "curated.fct_order_lines",
    ]  # fmt: skip
    for table in tables:
        values = {v for row in query(data_dir, f"SELECT * FROM {table}") for v in row}
        assert not (secrets & values), table


def test_curated_marts_are_built_for_every_day(demo):
    data_dir, _ = demo
    lines = dict(
        query(
            data_dir,
            "SELECT order_date::VARCHAR, count(*) FROM curated.fct_order_lines GROUP BY ALL",
        )
    )
    staged = dict(
        query(
            data_dir, "SELECT _partition_date::VARCHAR, count(*) FROM staging.orders GROUP BY ALL"
        )
    )
    assert lines == staged
    reasons = {
        r
        for (r,) in query(
            data_dir, "SELECT DISTINCT mismatch_reason FROM curated.payment_reconciliation"
        )
    }
    assert {"matched", "no_payment"} <= reasons


def test_a_days_dbt_tests_read_that_day_of_the_marts_and_staging_views(demo, tmp_path):
    data_dir, _ = demo
    shutil.copy(data_dir / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:  # a defect on the first day only, in a daily mart and under a staging view
        for table, column in (
            ("curated.fct_order_lines", "order_date"),
            ("staging.orders", "_partition_date"),
        ):
            con.execute(f"UPDATE {table} SET customer_id = NULL WHERE {column} = DATE '{DAYS[0]}'")
    finally:
        con.close()

    def dbt_test_on(day: str | None) -> subprocess.CompletedProcess:
        window = {"ETL_MIN_DATE": day, "ETL_MAX_DATE": day} if day else {}
        return dbt(
            ["test"], ["fct_order_lines", "stg_marketplace__orders"], "local", tmp_path / "target",
            {"ETL_DATA_DIR": str(tmp_path), **window},
        )  # fmt: skip

    for day in DAYS[1:]:
        result = dbt_test_on(day)
        assert result.returncode == 0, result.stdout[-3000:]
    for day in (DAYS[0], None):  # the defect's day, and every day when no window is given
        result = dbt_test_on(day)
        assert result.returncode == 1, result.stdout[-3000:]
        failed = set(re.findall(r"Failure in test (\w+)", result.stdout))
        assert failed == {
            "not_null_fct_order_lines_customer_id",
            "not_null_stg_marketplace__orders_customer_id",
        }, result.stdout[-3000:]


def test_a_daily_mart_rebuild_replaces_exactly_its_window(demo, tmp_path):
    data_dir, _ = demo
    shutil.copy(data_dir / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    lines = "SELECT * FROM curated.fct_order_lines WHERE order_date = DATE '{}' ORDER BY ALL"
    before = {day: query(tmp_path, lines.format(day)) for day in DAYS}
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:  # the middle day's lines withdrawn; a change on the first day, outside the window
        con.execute(f"DELETE FROM staging.orders WHERE _partition_date = DATE '{DAYS[1]}'")
        con.execute(f"UPDATE staging.orders SET quantity = 99 WHERE _partition_date = '{DAYS[0]}'")
    finally:
        con.close()

    def run_mart(*flags: str) -> subprocess.CompletedProcess:
        window = {"ETL_MIN_DATE": DAYS[1], "ETL_MAX_DATE": DAYS[1]}
        return dbt(
            ["run", *flags], ["fct_order_lines"], "local", tmp_path / "target",
            {"ETL_DATA_DIR": str(tmp_path), **window},
        )  # fmt: skip

    result = run_mart()
    assert result.returncode == 0, result.stdout[-3000:]
    assert query(tmp_path, lines.format(DAYS[1])) == []  # an empty rebuild empties its day
    assert query(tmp_path, lines.format(DAYS[0])) == before[DAYS[0]]  # outside the window
    assert query(tmp_path, lines.format(DAYS[2])) == before[DAYS[2]]

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        con.execute("ALTER TABLE curated.fct_order_lines ADD COLUMN retired_column INTEGER")
    finally:
        con.close()
    result = run_mart()
    assert result.returncode == 1 and "rebuild it with --full-refresh" in result.stdout
    result = run_mart("--full-refresh")  # every day, from staging as it is now
    assert result.returncode == 0, result.stdout[-3000:]
    quantities = query(
        tmp_path,
        "SELECT order_date, min(quantity), max(quantity) FROM curated.fct_order_lines GROUP BY 1",
    )
    assert {(str(day), low, high) for day, low, high in quantities if low == high == 99} == {
        (DAYS[0], 99, 99)
    }
    assert DAYS[1] not in {str(day) for day, *_ in quantities}


def test_the_curated_no_leak_check_finds_a_raw_pii_value_in_the_runs_day_of_a_view(demo, tmp_path):
    """A raw customer email put into one staged order line of a day, as a bad model would.

    The day's curated run flags the staging view and the mart that copies the column, and only
    them; the next day's run, whose raw holds the same email but whose window leaves that line
    out, passes them.
    """
    data_dir = tmp_path / "data"
    shutil.copytree(demo[0], data_dir, symlinks=True)
    day, next_day = DAYS[1], DAYS[2]
    raw_customers = DeltaTable(str(data_dir / "lake" / "raw" / "customers"))

    def emails(partition: str) -> set[str]:
        table = raw_customers.to_pyarrow_table(filters=[("_partition_date", "=", partition)])
        return {e.strip() for e in table.column("email").to_pylist() if e and "@" in e}

    # Raw on both days, so only the window keeps the next day's run from finding it.
    email = min(emails(day) & emails(next_day))
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        con.execute(
            "UPDATE staging.orders SET product_id = ? WHERE rowid = "
            "(SELECT min(rowid) FROM staging.orders WHERE _partition_date = ?)",
            [email, day],
        )
    finally:
        con.close()

    def no_leak_failures(partition: str) -> dict[str, dict]:
        """The models whose no-leak check failed in a curated run of `partition`, with metadata.

        A failed blocking check fails the run: its exit code must say so.
        """
        exit_code = materialize(data_dir, "group:curated", partition, check=False)
        with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
            (run,) = instance.get_runs(limit=1)
            evaluations = [
                e.dagster_event.event_specific_data
                for e in instance.all_logs(
                    run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
            ]
        checked = [e for e in evaluations if e.check_name == "pii_no_leak"]
        assert len(checked) > 5  # every model the run built
        failed = {
            e.asset_key.path[-1]: e.metadata["leaked_cells_by_column"].value
            for e in checked
            if not e.passed
        }
        assert (exit_code != 0) == bool(failed)
        return failed

    assert no_leak_failures(day) == {
        "stg_marketplace__orders": {"product_id": 1},
        "fct_order_lines": {"product_id": 1},
    }
    assert no_leak_failures(next_day) == {}


def test_rematerializing_a_partition_gives_identical_rows(demo):
    data_dir, _ = demo
    day = DAYS[1]
    snapshot = (
        f"SELECT * EXCLUDE (_source_file) FROM staging.orders WHERE _partition_date = DATE '{day}' "
        "ORDER BY _source_file, _source_line"
    )
    curated = f"SELECT * FROM curated.fct_order_lines WHERE order_date = DATE '{day}' ORDER BY ALL"
    before, before_curated = query(data_dir, snapshot), query(data_dir, curated)
    other_days = query(
        data_dir, f"SELECT count(*) FROM staging.orders WHERE _partition_date <> DATE '{day}'"
    )
    materialize(data_dir, "raw/orders,staging/orders,quarantine/orders", day)
    materialize(data_dir, "group:curated", day)
    assert query(data_dir, snapshot) == before
    assert query(data_dir, curated) == before_curated
    assert (
        query(
            data_dir, f"SELECT count(*) FROM staging.orders WHERE _partition_date <> DATE '{day}'"
        )
        == other_days
    )


def test_a_restaged_source_rebuilds_only_the_curated_models_it_feeds(demo):
    data_dir, _ = demo
    day = DAYS[0]
    fct_order_lines, fct_payments = (
        dg.AssetKey(["curated", m]) for m in ("fct_order_lines", "fct_payments")
    )
    materialize(data_dir, "raw/orders,staging/orders,quarantine/orders", day)
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        sensor = defs.resolve_sensor_def("curated_sensor")
        requests = sensor(dg.build_sensor_context(instance=instance)).run_requests or []
        (request,) = [r for r in requests if r.partition_key == day]
        assert fct_order_lines in request.asset_selection
        assert fct_payments not in request.asset_selection

        def latest(key: dg.AssetKey) -> int:
            event = dg.DagsterEventType.ASSET_MATERIALIZATION
            return instance.get_latest_storage_id_by_partition(key, event)[day]

        before = {key: latest(key) for key in (fct_order_lines, fct_payments)}
        select = ",".join(k.to_user_string() for k in request.asset_selection)
        materialize(data_dir, select, day)
        assert latest(fct_order_lines) > before[fct_order_lines]
        assert latest(fct_payments) == before[fct_payments]
        (run,) = instance.get_runs(limit=1)
        checks = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
        ]
        checked = {c.asset_key for c in checks}
        assert fct_order_lines in checked and fct_payments not in checked  # dbt tests, no-leak
        # The mart's relationship tests run though the dimensions they read are not rebuilt.
        relationships = {c.check_name for c in checks if c.check_name.startswith("relationships")}
        assert len(relationships) == 2
        requests = sensor(dg.build_sensor_context(instance=instance)).run_requests or []
        assert day not in {r.partition_key for r in requests}


def test_a_dimension_built_alone_runs_its_own_tests_not_those_of_the_marts_reading_it(
    demo, tmp_path
):
    """`fct_order_lines`' relationship test reads `dim_customers`, but is a check of the mart.

    A run of the dimension alone, on a warehouse without the mart, runs the dimension's tests
    and succeeds; dbt's default test selection ran the mart's test too, which failed.
    """
    data_dir, _ = demo
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy, symlinks=True)
    con = duckdb.connect(str(copy / "warehouse.duckdb"))
    con.execute("DROP TABLE curated.fct_order_lines")
    con.close()
    materialize(copy, "curated/dim_customers", DAYS[0])
    with dg.DagsterInstance.from_config(str(copy / "dagster_home")) as instance:
        (run,) = instance.get_runs(limit=1)
        checked = {
            (e.dagster_event.event_specific_data.asset_key.path[-1],
             e.dagster_event.event_specific_data.check_name)
            for e in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
        }  # fmt: skip
    assert ("dim_customers", "unique_dim_customers_customer_id") in checked
    assert {model for model, _ in checked} == {"dim_customers"}


def test_a_file_landing_again_under_a_new_name_adds_nothing(demo):
    data_dir, _ = demo
    day = DAYS[2]
    folder = data_dir / "landing" / "orders" / day
    original = sorted(folder.glob("*.csv"))[0]
    shutil.copy(original, folder / "orders_late_redelivery.csv")
    raw_path = str(data_dir / "lake" / "raw" / "orders")
    before = DeltaTable(raw_path).count()
    staged_before = query(data_dir, "SELECT count(*) FROM staging.orders")
    materialize(data_dir, "raw/orders,staging/orders,quarantine/orders", day)
    assert DeltaTable(raw_path).count() == before
    assert query(data_dir, "SELECT count(*) FROM staging.orders") == staged_before
    status = query(
        data_dir,
        "SELECT status, duplicate_of FROM _etl.file_ledger "
        "WHERE file_key LIKE '%orders_late_redelivery.csv'",
    )
    assert status == [("duplicate", original.relative_to(data_dir / "landing").as_posix())]
