import dagster as dg

from etl_platform.assets.raw import build_raw_asset
from etl_platform.assets.staging import build_staging_assets
from etl_platform.environment import local_resources
from etl_platform.sensors.curated import CuratedGraph, build_curated_sensor
from etl_platform.sources.model import SPEC_DIR, load_spec

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
HEADER = ",".join(ORDERS.column_names)
STAGING = dg.AssetKey(["staging", "orders"])


def land_day(tmp_path, day: str, rows: int, negative: int) -> None:
    folder = tmp_path / "landing" / "orders" / day
    folder.mkdir(parents=True)
    ts = f"{day}T10:00:00+05:30"
    lines = [HEADER]
    for i in range(rows):
        quantity = -1 if i < negative else 2
        lines.append(f"ORD-{i:08d},1,CUST-000001,PRD-00001,{quantity},10.00,placed,web,{ts},{ts}")
    (folder / "orders.csv").write_text("\n".join(lines) + "\n")


def run_day(tmp_path, instance, day: str) -> dg.ExecuteInProcessResult:
    resources = local_resources(tmp_path)
    return dg.materialize(
        [build_raw_asset(ORDERS), build_staging_assets(ORDERS)], partition_key=day,
        resources=resources, instance=instance, raise_on_error=False,
    )  # fmt: skip


def latest_metadata(instance, day: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=STAGING, asset_partitions=[day]), limit=1
    ).records
    return records[0].asset_materialization.metadata


def test_a_blocking_check_failing_on_one_day_holds_back_only_that_days_curated_models(tmp_path):
    land_day(tmp_path, "2026-11-01", rows=40, negative=0)
    land_day(tmp_path, "2026-11-02", rows=40, negative=20)  # half the rows quarantined
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_day(tmp_path, instance, "2026-11-01").success
        failed = run_day(tmp_path, instance, "2026-11-02")
        assert not failed.success  # the blocking check stops the run

        evaluations = {
            e.check_name: e for e in failed.get_asset_check_evaluations() if e.asset_key == STAGING
        }
        rate = evaluations["quarantine_rate"]
        assert not rate.passed and rate.severity == dg.AssetCheckSeverity.ERROR
        assert "2026-11-02" in rate.metadata["failing_partitions"].value
        assert evaluations["conservation"].passed and evaluations["contract"].passed

        day_one = latest_metadata(instance, "2026-11-01")
        assert day_one["blocking_checks_failed"].value == []
        lineage = day_one["dagster/column_lineage"].value.deps_by_column["quantity"]
        assert [(d.asset_key, d.column_name) for d in lineage] == [
            (dg.AssetKey(["raw", "orders"]), "quantity")
        ]
        assert latest_metadata(instance, "2026-11-02")["quarantine_rate"].value == 0.5
        assert latest_metadata(instance, "2026-11-02")["blocking_checks_failed"].value == [
            "quarantine_rate"
        ]
        graph = CuratedGraph.of([dg.AssetSpec(["curated", "fct"], deps=[STAGING])])
        sensor = build_curated_sensor("build_curated", graph, also=[])
        result = sensor(dg.build_sensor_context(instance=instance))
        assert [r.partition_key for r in result.run_requests] == ["2026-11-01"]


def test_the_row_volume_check_warns_on_a_collapsed_day(tmp_path):
    days = [f"2026-11-0{i}" for i in range(1, 6)]
    for day in days[:4]:
        land_day(tmp_path, day, rows=100, negative=0)
    land_day(tmp_path, days[4], rows=10, negative=0)
    with dg.DagsterInstance.ephemeral() as instance:
        for day in days:
            result = run_day(tmp_path, instance, day)
            assert result.success  # a warning never stops the run
        volume = next(
            e for e in result.get_asset_check_evaluations() if e.check_name == "row_volume"
        )
    assert not volume.passed
    assert volume.severity == dg.AssetCheckSeverity.WARN
    assert volume.metadata["failing_partitions"].value == {
        "2026-11-05": "10 rows, expected 95..105"
    }


CUSTOMERS = load_spec(SPEC_DIR / "customers.yaml")


def test_a_raw_pii_value_in_the_wrong_column_fails_the_day_as_its_rows_are_written(tmp_path):
    """The leak is confirmed against raw at the end of the write's one pass over the rows."""
    day = "2026-11-01"
    folder = tmp_path / "landing" / "customers" / day
    folder.mkdir(parents=True)
    ts = f"{day}T10:00:00+05:30"
    rows = [
        ",".join(CUSTOMERS.column_names),
        f"CUST-000001,Ravi Kumar,ravi@example.com,9876543210,ABCPK1234F,Pune,Maharashtra,{ts}",
        f"CUST-000002,Asha Rao,asha@example.com,9876543211,ABCPR1234G,Ravi Kumar,Kerala,{ts}",
    ]
    (folder / "customers.csv").write_text("\n".join(rows) + "\n")
    key = dg.AssetKey(["staging", "customers"])
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [build_raw_asset(CUSTOMERS), build_staging_assets(CUSTOMERS)], partition_key=day,
            resources=local_resources(tmp_path), instance=instance, raise_on_error=False,
        )  # fmt: skip
        assert not result.success  # a blocking check failed
        leak = next(
            e for e in result.get_asset_check_evaluations() if e.check_name == "pii_no_leak"
        )
        assert not leak.passed
        assert leak.metadata["failing_partitions"].value == {
            day: "1 raw PII values found in ['staging.city']"
        }
        (record,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
        ).records
        metadata = record.asset_materialization.metadata
        assert metadata["blocking_checks_failed"].value == ["pii_no_leak"]
        assert metadata["rows_staged"].value == 2
