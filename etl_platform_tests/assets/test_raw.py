import dagster as dg
from deltalake import DeltaTable

from etl_platform.assets.raw import build_raw_asset
from etl_platform.ingest.landing import LocalLandingZone
from etl_platform.io.delta_lake import DeltaLakeIOManager
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse
from etl_platform.sources.model import SPEC_DIR, SchemaPolicy, load_spec

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
HEADER = ",".join(ORDERS.column_names)
TS = "2026-11-01T10:00:00+05:30"
ROW = f"ORD-00000001,1,CUST-000001,PRD-00001,2,10.00,placed,web,{TS},{TS}"
DAY = "2026-11-01"


def land(tmp_path, name: str, header: str, rows: list[str]) -> None:
    folder = tmp_path / "landing" / "orders" / DAY
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *rows]) + "\n")


def materialize_raw(tmp_path, policy: SchemaPolicy) -> dg.ExecuteInProcessResult:
    spec = ORDERS.model_copy(update={"schema_policy": policy})
    resources = {
        "landing": LocalLandingZone(root=str(tmp_path / "landing")),
        "warehouse": DuckDBWarehouse(path=str(tmp_path / "wh.duckdb")),
        "lake_io_manager": DeltaLakeIOManager(root=str(tmp_path / "lake")),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            [build_raw_asset(spec)], partition_key=DAY, resources=resources, instance=instance,
            raise_on_error=False,
        )  # fmt: skip


def raw_columns(tmp_path) -> list[str]:
    return DeltaTable(str(tmp_path / "lake" / "raw" / "orders")).to_pyarrow_table().column_names


def test_evolve_keeps_an_extra_column_in_raw_and_records_the_drift(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    land(
        tmp_path,
        "b.csv",
        HEADER + ",coupon_code",
        [ROW.replace("ORD-00000001", "ORD-00000002") + ",DIWALI10"],
    )
    result = materialize_raw(tmp_path, SchemaPolicy.EVOLVE)
    assert result.success
    assert "coupon_code" in raw_columns(tmp_path)
    metadata = result.asset_materializations_for_node("raw__orders")[0].metadata
    assert metadata["schema_drift"].value == {
        f"orders/{DAY}/b.csv": {"extra": ["coupon_code"], "missing": []}
    }
    assert metadata["dagster/row_count"].value == 2


def test_discard_columns_drops_the_extra_column_and_loads_the_rows(tmp_path):
    land(tmp_path, "b.csv", HEADER + ",coupon_code", [ROW + ",DIWALI10"])
    assert materialize_raw(tmp_path, SchemaPolicy.DISCARD_COLUMNS).success
    assert "coupon_code" not in raw_columns(tmp_path)
    assert DeltaTable(str(tmp_path / "lake" / "raw" / "orders")).count() == 1


def test_freeze_refuses_a_file_with_an_extra_column_and_writes_nothing(tmp_path):
    land(tmp_path, "b.csv", HEADER + ",coupon_code", [ROW + ",DIWALI10"])
    result = materialize_raw(tmp_path, SchemaPolicy.FREEZE)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "coupon_code" in str(failure.cause.message if failure.cause else failure.message)
    assert not (tmp_path / "lake" / "raw" / "orders" / "_delta_log").exists()
    assert not (tmp_path / "wh.duckdb").exists()  # nothing registered in the file ledger


def test_a_missing_column_arrives_as_null_for_staging_to_judge(tmp_path):
    land(tmp_path, "a.csv", HEADER.replace(",channel", ""), [ROW.replace(",web", "")])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE).success
    table = DeltaTable(str(tmp_path / "lake" / "raw" / "orders")).to_pyarrow_table()
    assert table.column("channel").to_pylist() == [None]
