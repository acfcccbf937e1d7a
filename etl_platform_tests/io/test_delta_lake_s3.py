import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable, write_deltalake

from etl_platform.io.delta_lake import DayWrite, DeltaLakeIOManager

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="Asia/Kolkata")
VERSION = {"v": 1}  # what the asset writes: bumped to prove a rerun replaces a partition


@pytest.fixture
def lake(s3_server, s3_bucket) -> DeltaLakeIOManager:
    return DeltaLakeIOManager(
        root=f"s3://{s3_bucket}/lake",
        endpoint_url=s3_server,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )


@dg.asset(key=["raw", "t"], partitions_def=PARTITIONS, io_manager_key="lake_io_manager")
def t(context: dg.AssetExecutionContext) -> pa.Table:
    days = context.partition_keys
    return pa.table(
        {
            "v": [f"{day}:{VERSION['v']}:{i}" for day in days for i in range(3)],
            "_partition_date": [day for day in days for _ in range(3)],
            "_source_file": [f"{day}.csv" for day in days for _ in range(3)],
        }
    )


def read_back(lake: DeltaLakeIOManager, days: list[str]) -> list[tuple]:
    seen: list[tuple] = []

    @dg.asset(
        partitions_def=PARTITIONS,
        ins={"t": dg.AssetIn(key=["raw", "t"], input_manager_key="lake_io_manager")},
    )
    def reader(t: ds.Dataset) -> None:
        rows = duckdb.sql("SELECT v, _partition_date FROM t ORDER BY v").fetchall()
        seen.extend(rows)

    # A range run is what a single-run backfill does: the reader gets every day of the range.
    tags = {
        "dagster/asset_partition_range_start": days[0],
        "dagster/asset_partition_range_end": days[-1],
    }
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize(
            [t, reader],
            selection=[reader],
            tags=tags,
            resources={"lake_io_manager": lake},
            instance=instance,
        ).success
    return seen


def materialize(lake: DeltaLakeIOManager, day: str) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [t], partition_key=day, resources={"lake_io_manager": lake}, instance=instance
        )
    assert result.success
    return result


def table(lake: DeltaLakeIOManager) -> DeltaTable:
    return DeltaTable(f"{lake.root}/raw/t", storage_options=lake.storage_options())


def test_partitions_on_s3_are_replaced_one_commit_each_and_read_back_as_asked(lake, monkeypatch):
    monkeypatch.setitem(VERSION, "v", 1)
    materialize(lake, "2026-11-01")
    materialize(lake, "2026-11-02")
    monkeypatch.setitem(VERSION, "v", 2)
    result = materialize(lake, "2026-11-01")

    assert table(lake).version() == 2  # one commit per materialization
    metadata = result.asset_materializations_for_node("raw__t")[0].metadata
    assert metadata["run_rows_by_partition"].value == {"2026-11-01": 3}
    assert metadata["path"].value == f"{lake.root}/raw/t"
    assert read_back(lake, ["2026-11-01"]) == [
        (f"2026-11-01:2:{i}", "2026-11-01") for i in range(3)
    ]
    assert read_back(lake, ["2026-11-02"]) == [
        (f"2026-11-02:1:{i}", "2026-11-02") for i in range(3)
    ]
    assert len(read_back(lake, ["2026-11-01", "2026-11-02"])) == 6


def test_rerunning_a_partition_on_s3_gives_the_same_rows(lake):
    materialize(lake, "2026-11-01")
    first = sorted(table(lake).to_pyarrow_table().to_pylist(), key=str)
    materialize(lake, "2026-11-01")
    assert sorted(table(lake).to_pyarrow_table().to_pylist(), key=str) == first
    assert table(lake).version() == 1


@dg.asset(key=["raw", "t"], partitions_def=PARTITIONS, io_manager_key="lake_io_manager")
def t_added(
    context: dg.AssetExecutionContext, lake_io_manager: dg.ResourceParam[DeltaLakeIOManager]
) -> DayWrite:
    """Rows of another file, added to the day as planned on the table: what raw writes."""
    day = context.partition_key
    held = lake_io_manager.read_days(dg.AssetKey(["raw", "t"]), [day], ["_source_file"])
    rows = pa.table({"v": [f"{day}:added"], "_partition_date": [day], "_source_file": ["b"]})
    return DayWrite(rows, append=True, read_version=held.version)


def test_rows_added_to_a_day_on_s3_keep_its_rows_in_one_commit(lake):
    materialize(lake, "2026-11-01")
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [t_added], partition_key="2026-11-01", resources={"lake_io_manager": lake},
            instance=instance,
        )  # fmt: skip

    metadata = {
        k: v.value for k, v in result.asset_materializations_for_node("raw__t")[0].metadata.items()
    }
    assert metadata["lake_write"] == "append" and metadata["dagster/row_count"] == 4
    assert table(lake).version() == 1
    assert len(read_back(lake, ["2026-11-01"])) == 4
    held = lake.read_days(dg.AssetKey(["raw", "t"]), ["2026-11-01"], ["_source_file"])
    assert held.values == {("2026-11-01.csv",), ("b",)} and held.version == 1
    missing = lake.read_days(dg.AssetKey(["raw", "none"]), ["2026-11-01"], ["v"])
    assert missing.values == set() and missing.version is None


def test_two_writers_committing_at_once_both_land(lake):
    # Commits are conditional puts: the writer that loses the race retries on the new version
    # instead of overwriting it (a plain rename on S3 would silently drop one day).
    materialize(lake, "2026-11-01")
    materialize(lake, "2026-11-02")
    first, second = table(lake), table(lake)  # both at the same version
    for writer, day in ((first, "2026-11-01"), (second, "2026-11-02")):
        write_deltalake(
            writer,
            pa.table({"v": [f"{day}:late"], "_partition_date": [day], "_source_file": ["x"]}),
            mode="overwrite",
            predicate=f"_partition_date = '{day}'",
        )
    rows = table(lake).to_pyarrow_table().to_pylist()
    assert sorted(r["v"] for r in rows) == ["2026-11-01:late", "2026-11-02:late"]
    assert table(lake).version() == 3


def test_s3_storage_options_allow_http_only_for_an_http_endpoint():
    secure = DeltaLakeIOManager(root="s3://b/lake", endpoint_url="https://minio.internal:9000")
    assert "AWS_ALLOW_HTTP" not in (secure.storage_options() or {})
    assert DeltaLakeIOManager(root="/tmp/lake").storage_options() is None


def test_credentials_never_show_in_the_io_manager_repr():
    lake = DeltaLakeIOManager(root="s3://b/lake", access_key_id="AKIDX", secret_access_key="S3CR3T")
    assert "AKIDX" not in repr(lake) and "S3CR3T" not in repr(lake)
