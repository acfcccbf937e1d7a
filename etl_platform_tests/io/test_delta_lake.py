import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from etl_platform.io import lake_files
from etl_platform.io.delta_lake import DeltaLakeIOManager

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="Asia/Kolkata")
ROWS = 5_000


@dg.asset(key=["raw", "wide"], partitions_def=PARTITIONS, io_manager_key="lake_io_manager")
def wide(context: dg.AssetExecutionContext) -> pa.RecordBatchReader:
    day = context.partition_key
    table = pa.table(
        {
            "v": pa.array(range(ROWS)),
            "_partition_date": pa.array([day] * ROWS),
            "_source_file": pa.array([f"{day}.csv"] * ROWS),
        }
    )
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=700))


def materialize_day(asset: dg.AssetsDefinition, lake: DeltaLakeIOManager) -> bool:
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            [asset],
            partition_key="2026-11-01",
            resources={"lake_io_manager": lake},
            instance=instance,
            raise_on_error=False,
        ).success


def test_lake_files_are_written_in_row_groups_a_reader_can_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(lake_files, "ROW_GROUP_ROWS", 1_000)
    lake = DeltaLakeIOManager(root=str(tmp_path / "lake"))
    assert materialize_day(wide, lake)

    files = DeltaTable(str(tmp_path / "lake" / "raw" / "wide")).file_uris()
    footers = [pq.ParquetFile(f).metadata for f in files]
    groups = [m.row_group(i).num_rows for m in footers for i in range(m.num_row_groups)]
    assert sum(groups) == ROWS
    assert max(groups) == 1_000 and len(groups) == 5


STRAY = {"on": False}


@dg.asset(key=["raw", "stray"], partitions_def=PARTITIONS, io_manager_key="lake_io_manager")
def stray(context: dg.AssetExecutionContext) -> pa.RecordBatchReader:
    """Its day's rows, then one of the next day: a day the write does not replace."""
    day = context.partition_key
    days = [day] * ROWS + (["2026-11-09"] if STRAY["on"] else [])
    table = pa.table(
        {"v": range(len(days)), "_partition_date": days, "_source_file": ["f"] * len(days)}
    )
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=700))


def test_a_row_of_another_day_fails_the_write_and_leaves_the_lake_as_it_was(tmp_path, monkeypatch):
    lake = DeltaLakeIOManager(root=str(tmp_path / "lake"))
    root = tmp_path / "lake" / "raw" / "stray"
    assert materialize_day(stray, lake)
    files = sorted(root.rglob("*.parquet"))
    monkeypatch.setitem(STRAY, "on", True)
    assert not materialize_day(stray, lake)

    assert sorted(root.rglob("*.parquet")) == files  # the failed write's files are gone
    assert DeltaTable(str(root)).version() == 0
    assert DeltaTable(str(root)).to_pyarrow_table().num_rows == ROWS


def test_a_partition_key_that_is_not_a_date_never_becomes_a_folder(tmp_path):
    lake = DeltaLakeIOManager(root=str(tmp_path / "lake"))
    context = dg.build_output_context(asset_key=dg.AssetKey(["raw", "t"]), partition_key="../x")
    with pytest.raises(ValueError, match=r"refusing partition key '\.\./x'"):
        lake.handle_output(context, pa.table({"_partition_date": ["../x"], "_source_file": ["f"]}))
