import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from etl_platform.io import delta_lake
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


def test_lake_files_are_written_in_row_groups_a_reader_can_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(delta_lake, "ROW_GROUP_ROWS", 1_000)
    lake = DeltaLakeIOManager(root=str(tmp_path / "lake"))
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize(
            [wide],
            partition_key="2026-11-01",
            resources={"lake_io_manager": lake},
            instance=instance,
        ).success

    files = DeltaTable(str(tmp_path / "lake" / "raw" / "wide")).file_uris()
    footers = [pq.ParquetFile(f).metadata for f in files]
    groups = [m.row_group(i).num_rows for m in footers for i in range(m.num_row_groups)]
    assert sum(groups) == ROWS
    assert max(groups) == 1_000 and len(groups) == 5
