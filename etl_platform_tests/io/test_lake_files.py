import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from etl_platform.io import lake_files
from etl_platform.io.lake_files import (
    ConcurrentDayWriteError,
    PartitionedParquetFiles,
    commit_files,
)

DAYS = ["2026-11-01", "2026-11-02"]


def rows(day: str, n: int, tag: str = "a", **extra: list) -> pa.Table:
    return pa.table(
        {
            "v": [f"{day}:{tag}:{i}" for i in range(n)],
            "_source_line": list(range(n)),
            **extra,
            "_partition_date": [day] * n,
        }
    )


def version(root) -> int | None:
    try:
        return DeltaTable(str(root)).version()
    except TableNotFoundError:
        return None


def write(
    root,
    tables: list[pa.Table],
    days: list[str],
    replace: bool = True,
    read_version: int | str | None = "latest",
) -> None:
    """What the lake IO manager does: files for the days, then one commit replacing them."""
    schema = tables[0].schema
    files = PartitionedParquetFiles(
        pafs.LocalFileSystem(), str(root), schema, "_partition_date", days, ["_source_line"]
    )
    for table in tables:
        for batch in table.to_batches(max_chunksize=300):
            files.write(batch)
    planned = version(root) if read_version == "latest" else read_version
    commit_files(
        str(root), None, files.close(), schema, "_partition_date", days,
        replace=replace, read_version=planned,
    )  # fmt: skip


def read(root) -> list[dict]:
    return sorted(DeltaTable(str(root)).to_pyarrow_table().to_pylist(), key=lambda r: r["v"])


def test_a_range_write_replaces_exactly_its_days_in_one_commit(tmp_path):
    root = tmp_path / "t"
    write(root, [rows(DAYS[0], 5), rows(DAYS[1], 5)], DAYS)
    write(root, [rows("2026-11-03", 2)], ["2026-11-03"])
    # A rerun of the first two days, one of which now has no rows at all.
    write(root, [rows(DAYS[0], 3, tag="b")], DAYS)

    table = DeltaTable(str(root))
    assert table.version() == 2
    assert table.metadata().partition_columns == ["_partition_date"]
    assert [r["v"] for r in read(root)] == [
        *(f"{DAYS[0]}:b:{i}" for i in range(3)),
        *(f"2026-11-03:a:{i}" for i in range(2)),
    ]
    actions = pa.table(table.get_add_actions(flatten=True)).sort_by("partition._partition_date")
    assert actions.column("num_records").to_pylist() == [3, 2]  # the commit's statistics


def test_a_new_column_joins_the_table_and_older_days_read_it_as_null(tmp_path):
    root = tmp_path / "t"
    write(root, [rows(DAYS[0], 2)], [DAYS[0]])
    write(root, [rows(DAYS[1], 2, coupon=["X", None])], [DAYS[1]])
    # A later write without the column keeps it in the table.
    write(root, [rows(DAYS[0], 1, tag="b")], [DAYS[0]])

    assert DeltaTable(str(root)).schema().to_arrow().names == [
        "v",
        "_source_line",
        "_partition_date",
        "coupon",
    ]
    assert [(r["v"], r["coupon"]) for r in read(root)] == [
        (f"{DAYS[0]}:b:0", None),
        (f"{DAYS[1]}:a:0", "X"),
        (f"{DAYS[1]}:a:1", None),
    ]


def test_a_column_whose_type_changed_is_refused(tmp_path):
    root = tmp_path / "t"
    write(root, [rows(DAYS[0], 2, qty=["1", "2"])], [DAYS[0]])
    with pytest.raises(ValueError, match="column 'qty' was string in the lake and is long now"):
        write(root, [rows(DAYS[0], 2, qty=[1, 2])], [DAYS[0]])
    assert [r["qty"] for r in read(root)] == ["1", "2"]


def test_a_big_day_is_split_into_files_of_whole_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(lake_files, "ROW_GROUP_ROWS", 1_000)
    # Any file with a row group written is full: the next group starts a new file, and the
    # last rows (500, fewer than a group) go into the file open at the end.
    monkeypatch.setattr(lake_files, "FILE_BYTES", 1)
    root = tmp_path / "t"
    write(root, [rows(DAYS[0], 2_500)], [DAYS[0]])

    table = DeltaTable(str(root))
    footers = sorted(
        (pq.ParquetFile(f).metadata for f in table.file_uris()), key=lambda m: m.num_rows
    )
    groups = [[m.row_group(i).num_rows for i in range(m.num_row_groups)] for m in footers]
    assert groups == [[1_000], [1_000, 500]]
    assert "_partition_date" not in footers[0].schema.names  # in the folder name only
    assert [r["v"] for r in read(root)] == sorted(f"{DAYS[0]}:a:{i}" for i in range(2_500))
    # Statistics only where asked: the join column has them, the value column does not.
    group = footers[0].row_group(0)
    names = [group.column(i).path_in_schema for i in range(group.num_columns)]
    assert group.column(names.index("_source_line")).statistics is not None
    assert group.column(names.index("v")).statistics is None


def test_a_long_range_keeps_few_files_open_and_loses_no_row(tmp_path, monkeypatch):
    monkeypatch.setattr(lake_files, "OPEN_FILES", 3)
    days = [f"2026-11-{d:02d}" for d in range(1, 21)]
    # Day after day, then the first five days again, one batch each in turn.
    batches = [b for day in days for b in rows(day, 40).to_batches()]
    batches += [rows(day, 7, tag="b").to_batches()[0] for _ in range(2) for day in days[:5]]
    root = tmp_path / "t"
    files = PartitionedParquetFiles(
        pafs.LocalFileSystem(), str(root), batches[0].schema, "_partition_date", days, []
    )
    for batch in batches:
        files.write(batch)
        assert len(files._open) <= 3
    commit_files(
        str(root), None, files.close(), batches[0].schema, "_partition_date", days,
        replace=True, read_version=None,
    )  # fmt: skip

    assert len(read(root)) == 20 * 40 + 2 * 5 * 7
    counts = (
        pa.table(DeltaTable(str(root)).to_pyarrow_table())
        .group_by("_partition_date")
        .aggregate([("v", "count")])
    )
    assert dict(zip(*counts.to_pydict().values(), strict=True)) == {
        day: 40 + (14 if day in days[:5] else 0) for day in days
    }


def test_a_write_planned_before_another_write_to_its_day_fails_and_changes_nothing(tmp_path):
    root = tmp_path / "t"
    write(root, [rows(DAYS[0], 3), rows(DAYS[1], 2)], DAYS)
    planned = version(root)
    write(root, [rows(DAYS[0], 1, "b")], [DAYS[0]], replace=False)  # a run that got there first

    with pytest.raises(ConcurrentDayWriteError, match="committed after version 0"):
        write(root, [rows(DAYS[0], 1, "b")], [DAYS[0]], replace=False, read_version=planned)
    with pytest.raises(ConcurrentDayWriteError):
        write(root, [rows(DAYS[0], 1, "c")], [DAYS[0]], read_version=planned)
    assert [r["v"] for r in read(root)].count(f"{DAYS[0]}:b:0") == 1
    assert version(root) == 1

    write(root, [rows(DAYS[1], 1, "b")], [DAYS[1]], replace=False, read_version=planned)
    assert version(root) == 2  # another day's write since its plan does not stop it
    assert len(read(root)) == 3 + 2 + 1 + 1


def test_a_table_created_by_another_write_meanwhile_fails_the_first_write(tmp_path):
    root = tmp_path / "t"
    write(root, [rows(DAYS[0], 1)], [DAYS[0]], read_version=None)
    with pytest.raises(ConcurrentDayWriteError, match="created by another write"):
        write(root, [rows(DAYS[0], 1, "b")], [DAYS[0]], replace=False, read_version=None)
