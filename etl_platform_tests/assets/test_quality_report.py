import json

import dagster as dg

from etl_platform.assets.quality_report import build_quality_report
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse
from etl_platform.io.warehouse import WarehouseIOManager
from etl_platform_tests.assets.test_staging_checks import ORDERS, land_day, run_day


def test_the_report_shows_each_day_per_source_with_its_status_and_counts(tmp_path):
    land_day(tmp_path, "2026-11-01", rows=40, negative=0)
    land_day(tmp_path, "2026-11-02", rows=40, negative=20)
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    with dg.DagsterInstance.ephemeral() as instance:
        for day in ("2026-11-01", "2026-11-02"):
            run_day(tmp_path, instance, day)
        report = build_quality_report([ORDERS])
        resources = {"warehouse_io_manager": WarehouseIOManager(warehouse=warehouse)}
        for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
            result = dg.materialize(
                [report], partition_key=day, resources=resources, instance=instance
            )
            assert result.success
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT _partition_date::VARCHAR, status, rows_read, rows_staged, rows_quarantined, "
            "quarantined_by_reason, blocking_checks_failed FROM quality.report ORDER BY 1"
        ).fetchall()
    assert rows[0] == ("2026-11-01", "ok", 40, 40, 0, "{}", "[]")
    assert rows[1][:5] == ("2026-11-02", "blocked", 40, 20, 20)
    assert json.loads(rows[1][5]) == {"out_of_range": 20}
    assert json.loads(rows[1][6]) == ["quarantine_rate"]
    assert rows[2][:3] == ("2026-11-03", "missing", None)
