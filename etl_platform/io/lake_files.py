"""Lake writes in bounded memory: Parquet files from pyarrow, committed to Delta in one transaction.

delta-rs's own writer (deltalake 1.6.6) held 390 MB above its process to write one day of 2 M
order rows and 640 MB for five days in one call, whatever its target file size (measured outside
Dagster, from the landed CSVs). pyarrow's Parquet writer holds the row group it is filling, per
partition it is writing. delta-rs then only commits: one transaction that removes the run's
partitions and adds the new files, so readers see the old days or the new ones, never half. A
write that fails deletes the files it made; none of them was ever part of the table.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Field, Schema, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.schema import PrimitiveType
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

# A reader holds about a row group per thread: at delta-rs's default of 1 M rows (77 MB decoded
# for orders) DuckDB could not stream raw in 128 MB; at 128 K rows it streams in 32 MB.
ROW_GROUP_ROWS = 131_072
# A file is closed once it passes this size, so a big day is several files readers can split.
FILE_BYTES = 128 << 20
# Partitions with a file open at once. Rows come day after day (a landed file is one day's), so
# a range of 365 days would otherwise hold 365 files, their pending rows and descriptors, open;
# the least recently written is closed, and a later row of its day opens a new file.
OPEN_FILES = 8


@dataclass
class _PartitionFile:
    """The file a partition's rows are going to, and the rows waiting for a full row group."""

    path: str  # relative to the table's root
    stream: pa.NativeFile
    writer: pq.ParquetWriter
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0
    written_bytes: int = 0  # as of the last row group written


class PartitionedParquetFiles:
    """Writes a stream's rows into new Parquet files, one folder per value of the partition column.

    The partition column lives in the folder name (`<column>=<value>`), not in the files, as
    Delta stores it. Rows whose partition is not one of `partitions` are refused: they would land
    in a day the commit does not replace.

    Row groups are encoded and written on a thread of their own while the caller reads the next
    rows (pyarrow releases the GIL to encode), one row group at a time, so memory stays a row
    group in flight plus one filling per open partition. Encoding is most of a raw write: 1.5 s
    a 2 M-row day of orders, a third of it column statistics, which are written only for
    `statistics_columns`.
    """

    def __init__(
        self,
        fs: pafs.FileSystem,
        root: str,
        schema: pa.Schema,
        partition_column: str,
        partitions: Iterable[str],
        statistics_columns: list[str],
    ) -> None:
        self._fs = fs
        self._root = root
        self._column = partition_column
        self._partitions = set(partitions)
        self._file_schema = schema.remove(schema.get_field_index(partition_column))
        self._statistics = [c for c in statistics_columns if c in self._file_schema.names]
        self._open: dict[str, _PartitionFile] = {}  # the file each partition is filling
        self._begun: list[_PartitionFile] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-writer")
        self._in_flight: Future[None] | None = None
        self._closing: list[Future[AddAction]] = []

    def write(self, batch: pa.RecordBatch) -> None:
        """Route a batch's rows to their partitions' files."""
        if batch.num_rows == 0:
            return
        values = batch.column(self._column)
        for value in pc.unique(values).to_pylist():
            if value not in self._partitions:
                raise ValueError(
                    f"a row of partition {value!r} is outside the partitions being written "
                    f"({', '.join(sorted(self._partitions))})"
                )
            rows = batch if len(self._partitions) == 1 else batch.filter(pc.equal(values, value))
            self._append(value, pa.Table.from_batches([rows.drop_columns([self._column])]))

    def _append(self, partition: str, rows: pa.Table) -> None:
        current = self._open.pop(partition, None) or self._begin(partition)
        self._open[partition] = current  # the most recently written, last
        current.pending.append(rows)
        current.pending_rows += rows.num_rows
        if current.pending_rows < ROW_GROUP_ROWS:
            return
        self._wait()  # the file's size is known once its last row group is written
        if current.written_bytes >= FILE_BYTES:  # the pending rows start the next file
            pending, pending_rows = current.pending, current.pending_rows
            current.pending, current.pending_rows = [], 0
            self._finish_later(partition, self._open.pop(partition))
            current = self._open[partition] = self._begin(partition)
            current.pending, current.pending_rows = pending, pending_rows
        self._flush(current, final=False)

    def _begin(self, partition: str) -> _PartitionFile:
        if len(self._open) >= OPEN_FILES:
            oldest = next(iter(self._open))
            self._finish_later(oldest, self._open.pop(oldest))
        path = f"{self._column}={partition}/part-{uuid.uuid4().hex}.parquet"
        self._fs.create_dir(f"{self._root}/{self._column}={partition}")
        stream = self._fs.open_output_stream(f"{self._root}/{path}")
        writer = pq.ParquetWriter(
            stream, self._file_schema, compression="snappy", write_statistics=self._statistics
        )
        self._begun.append(_PartitionFile(path, stream, writer))
        return self._begun[-1]

    def _wait(self) -> None:
        """Wait for the row group in flight: one at a time bounds the memory."""
        if self._in_flight is not None:
            self._in_flight.result()
            self._in_flight = None

    def _flush(self, current: _PartitionFile, final: bool) -> None:
        """Hand the pending rows to the writing thread in row groups of `ROW_GROUP_ROWS`."""
        rows = pa.concat_tables(current.pending)
        ready = rows.num_rows if final else rows.num_rows - rows.num_rows % ROW_GROUP_ROWS
        current.pending = [rows.slice(ready)]
        current.pending_rows = rows.num_rows - ready
        self._wait()
        self._in_flight = self._pool.submit(_write_groups, current, rows.slice(0, ready))

    def _finish_later(self, partition: str, current: _PartitionFile) -> None:
        """Close a file on the writing thread, whose tasks run in order: after its last group."""
        if current.pending_rows:
            self._flush(current, final=True)
        self._closing.append(self._pool.submit(_finish, current, self._column, partition))

    def close(self) -> list[AddAction]:
        """Finish every open file; the actions that add them all to the table."""
        for partition, current in self._open.items():
            self._finish_later(partition, current)
        self._open.clear()
        self._wait()  # a row group that failed fails the write
        actions = [closing.result() for closing in self._closing]
        self._pool.shutdown()
        return actions

    def discard(self) -> None:
        """Close and delete every file begun: after a failure, nothing of this write remains."""
        self._pool.shutdown(cancel_futures=True)  # waits for the task running, if any
        self._open.clear()
        for begun in self._begun:
            if not begun.stream.closed:
                # The write already failed; the file is deleted next, whatever its state.
                with suppress(pa.ArrowException, OSError):
                    begun.writer.close()
                begun.stream.close()
            with suppress(FileNotFoundError):
                self._fs.delete_file(f"{self._root}/{begun.path}")


def _write_groups(current: _PartitionFile, rows: pa.Table) -> None:
    current.writer.write_table(rows, row_group_size=ROW_GROUP_ROWS)
    current.written_bytes = current.stream.tell()


def _finish(current: _PartitionFile, column: str, partition: str) -> AddAction:
    """Close a file and describe it for the commit."""
    current.writer.close()
    size = current.stream.tell()
    current.stream.close()
    return AddAction(
        path=current.path,
        size=size,
        partition_values={column: partition},
        modification_time=int(time.time() * 1000),
        data_change=True,
        stats=_stats(current.writer.writer.metadata),
    )


def _stats(metadata: pq.FileMetaData) -> str:
    """Delta's per-file statistics: the row count, and nulls per column where every group has it.

    No min/max: string statistics are truncated by writers, and a truncated maximum would wrongly
    skip files for readers that trust it.
    """
    nulls: dict[str, int] = {}
    groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
    for index in range(metadata.num_columns):
        columns = [g.column(index) for g in groups]
        stats = [c.statistics for c in columns]
        if stats and all(s is not None and s.has_null_count for s in stats):
            nulls[columns[0].path_in_schema] = sum(s.null_count for s in stats)
    return json.dumps({"numRecords": metadata.num_rows, "nullCount": nulls})


class ConcurrentDayWriteError(RuntimeError):
    """Another write to the same days committed after this one read the table: nothing landed."""


def commit_files(
    uri: str,
    storage_options: dict[str, str] | None,
    actions: list[AddAction],
    schema: pa.Schema,
    partition_column: str,
    partitions: list[str],
    *,
    replace: bool,
    read_version: int | None,
) -> None:
    """Add the files of `actions` to the Delta table at `uri` in one commit.

    With `replace`, they replace `partitions`; without, those partitions keep their files and
    gain these (nothing is committed when there are none). The write was planned on
    `read_version` (None: no table yet); every commit names its partitions as Delta application
    transactions, so a write to the same partitions committed since then makes this one fail
    (`ConcurrentDayWriteError`) instead of being applied on top: two runs adding the same new
    file would load it twice. Writes to other partitions are rebased as usual. The table's
    schema becomes its own columns plus the new ones of `schema` (a column is never dropped, so
    older days keep reading); a column whose type changed is refused.
    """
    written = Schema.from_arrow(schema)
    if read_version is None:
        try:
            create_table_with_add_actions(
                uri,
                written,
                actions,
                mode="error",
                partition_by=[partition_column],
                storage_options=storage_options,
                commit_properties=_claiming(partitions, 0),
            )
        except DeltaError as error:
            if "already exists" not in str(error):
                raise
            raise ConcurrentDayWriteError(
                f"{uri} was created by another write meanwhile"
            ) from error
        return
    table = DeltaTable(uri, storage_options=storage_options, version=read_version)
    merged = _merged(table.schema(), written)
    if not replace and not actions:
        return
    changes: list[AddAction | RemoveAction] = [*actions]
    try:
        table.create_write_transaction(
            changes,
            mode="overwrite" if replace else "append",
            schema=merged,
            partition_by=[partition_column],
            partition_filters=[(partition_column, "in", partitions)] if replace else None,
            commit_properties=_claiming(partitions, read_version + 1),
        )
    except CommitFailedError as error:  # delta-rs's conflict checks, ours among them
        raise ConcurrentDayWriteError(
            f"another write to {', '.join(partitions)} of {uri} committed after version "
            f"{read_version}, which this write was planned on; nothing was committed ({error})"
        ) from error


def _claiming(partitions: list[str], version: int) -> CommitProperties:
    """Application transactions naming the partitions: concurrent commits that share one fail."""
    now = int(time.time() * 1000)
    return CommitProperties(
        app_transactions=[
            Transaction(app_id=f"partition:{p}", version=version, last_updated=now)
            for p in partitions
        ]
    )


def _merged(current: Schema, written: Schema) -> Schema:
    known = {f.name: f for f in current.fields}
    for new in written.fields:
        old = known.get(new.name)
        if old is not None and old.type != new.type:
            raise ValueError(
                f"column {new.name!r} was {_type_name(old.type)} in the lake and is "
                f"{_type_name(new.type)} now: "
                "a changed type needs a new table, not a silent rewrite"
            )
    added: list[Field] = [f for f in written.fields if f.name not in known]
    return Schema([*current.fields, *added]) if added else current


def _type_name(delta_type: object) -> str:
    return delta_type.type if isinstance(delta_type, PrimitiveType) else repr(delta_type)
