"""The lake: one Delta table per raw asset, partitioned by day, written from a stream of batches.

The lake is a local folder or an `s3://bucket/prefix` on any S3 API; only the storage options
differ, the partition semantics do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pydantic import Field

from etl_platform.io.lake_files import PartitionedParquetFiles, commit_files
from etl_platform.io.warehouse import PARTITION_COLUMN

SOURCE_FILE = "_source_file"
# The only columns with Parquet statistics (a third of the encoding time): the quarantine read
# joins raw back on them, and their row groups' ranges let it skip the rest.
LINEAGE_COLUMNS = [SOURCE_FILE, "_source_line"]


def _checked_keys(keys: list[str]) -> list[str]:
    """The keys, each a date: they become folder names (`_partition_date=<key>`) in the lake."""
    # Keys are validated dates from the partitions definition; the check keeps it that way.
    for key in keys:
        if len(key) != 10 or not key.replace("-", "").isdigit():
            raise ValueError(f"refusing partition key {key!r} as a lake folder")
    return keys


class DeltaLakeIOManager(dg.ConfigurableIOManager):
    """Raw assets as Delta tables under `<root>/<layer>/<name>`.

    Output: a `pa.RecordBatchReader` (streamed, so a file larger than memory never sits in memory)
    or a `pa.Table`, which replaces the materialized partitions, or either in a `DayWrite`, which
    replaces or adds to them as planned on a version of the table (`read_days`). Either is one
    Delta commit, so readers see the old day or the new day, never half of one.
    Input: a `pyarrow.dataset.Dataset` of the partitions asked for, for the engine to scan lazily.

    With an `s3://` root, the `endpoint_url`, `region` and credentials settings reach delta-rs as
    storage options; without them delta-rs uses the standard AWS variables and credential chain.
    """

    root: str = Field(description="A local folder, or s3://bucket/prefix.")
    endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint, e.g. http://minio:9000; None means AWS."
    )
    region: str | None = None
    access_key_id: str | None = Field(
        default=None, repr=False, description="From dg.EnvVar; None uses the default AWS chain."
    )
    secret_access_key: str | None = Field(
        default=None, repr=False, description="From dg.EnvVar; never logged."
    )

    def _on_s3(self) -> bool:
        return self.root.startswith("s3://")

    def table_uri(self, key: dg.AssetKey) -> str:
        """Where the Delta table of an asset lives (a folder or an `s3://` prefix)."""
        if self._on_s3():
            return "/".join([self.root.rstrip("/"), *key.path])
        return str(Path(self.root, *key.path))

    def storage_options(self) -> dict[str, str] | None:
        """delta-rs storage options for an `s3://` root (None for a local one).

        Commits need no lock and no `AWS_S3_ALLOW_UNSAFE_RENAME`: delta-rs 1.x writes each commit
        file with a conditional put (`If-None-Match: *`, honoured by AWS S3 since 2024 and by
        MinIO), so two runs committing to the same table at once cannot overwrite each other's
        version; the loser retries on the new one. (The DynamoDB locking provider is gone in 1.x.)
        """
        if not self._on_s3():
            return None
        options = {"AWS_CONDITIONAL_PUT": "etag"}
        if self.region:
            options["AWS_REGION"] = self.region
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
            # object_store refuses plain http unless told (a local MinIO or a test server).
            if self.endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        if self.access_key_id:
            options["AWS_ACCESS_KEY_ID"] = self.access_key_id
        if self.secret_access_key:
            options["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        return options

    def _file_system(self, key: dg.AssetKey) -> tuple[pafs.FileSystem, str]:
        """The file system the table's data files are written with, and the table's path in it."""
        if not self._on_s3():
            return pafs.LocalFileSystem(), self.table_uri(key)
        endpoint = urlsplit(self.endpoint_url) if self.endpoint_url else None
        fs = pafs.S3FileSystem(
            access_key=self.access_key_id,
            secret_key=self.secret_access_key,
            region=self.region,
            endpoint_override=endpoint.netloc if endpoint else None,
            scheme=endpoint.scheme if endpoint else "https",
        )
        return fs, self.table_uri(key).removeprefix("s3://")

    def handle_output(
        self, context: dg.OutputContext, obj: pa.RecordBatchReader | pa.Table | DayWrite
    ) -> None:
        """Write the stream's rows to the materialized partitions, counting as it goes.

        The partitions are replaced, or, for a `DayWrite` that appends, keep what they hold and
        gain the rows.
        """
        keys = _checked_keys(sorted(context.asset_partition_keys))
        path = self.table_uri(context.asset_key)
        if isinstance(obj, DayWrite):
            rows, replace, read_version = obj.rows, not obj.append, obj.read_version
        else:
            rows, replace, read_version = obj, True, self._version(path)
        reader = (
            rows
            if isinstance(rows, pa.RecordBatchReader)
            else pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
        )
        per_partition: Counter[str] = Counter()
        per_file: Counter[str] = Counter()

        def counted() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                for counter, column in ((per_partition, PARTITION_COLUMN), (per_file, SOURCE_FILE)):
                    for item in pc.value_counts(batch.column(column)).to_pylist():
                        counter[item["values"]] += item["counts"]
                yield batch

        fs, root = self._file_system(context.asset_key)
        files = PartitionedParquetFiles(
            fs, root, reader.schema, PARTITION_COLUMN, keys, statistics_columns=LINEAGE_COLUMNS
        )
        try:
            for batch in counted():
                files.write(batch)
            actions = files.close()
        except BaseException:
            files.discard()
            raise
        # A commit that fails leaves files no table version names (vacuum removes them); they
        # are not deleted here, as a commit whose reply was lost may still have landed.
        commit_files(
            path,
            self.storage_options(),
            actions,
            reader.schema,
            PARTITION_COLUMN,
            keys,
            replace=replace,
            read_version=read_version,
        )
        table = DeltaTable(path, storage_options=self.storage_options())
        # Output metadata is copied to every partition of a range run, so the row count is only
        # a partition's own when the run wrote one partition.
        row_count = {"dagster/row_count": _partition_rows(table, keys[0])} if len(keys) == 1 else {}
        context.add_output_metadata(
            {
                **row_count,
                "lake_write": "replace" if replace else "append",
                "run_rows_by_partition": {k: per_partition.get(k, 0) for k in keys},
                "run_rows_by_file": dict(sorted(per_file.items())),
                "delta_version": table.version(),
                "path": path,
            }
        )

    def load_input(self, context: dg.InputContext) -> ds.Dataset:
        """A lazy dataset of the partitions the step reads (scanned by DuckDB, not loaded here)."""
        uri = self.table_uri(context.asset_key)
        table = DeltaTable(uri, storage_options=self.storage_options())
        return self._dataset(table, uri, sorted(context.asset_partition_keys))

    def read_days(self, key: dg.AssetKey, partitions: list[str], columns: list[str]) -> LakeDays:
        """The distinct combinations of string `columns` in `partitions`, and the table version.

        Read a batch at a time, each column as a dictionary: made for lineage columns, which
        hold a few values over millions of rows (0.13 s for a 2.1 M-row day of orders). A write
        planned on them passes the version on (`DayWrite`), so that it fails rather than act on
        days another write changed since.
        """
        try:
            table = DeltaTable(self.table_uri(key), storage_options=self.storage_options())
        except TableNotFoundError:
            return LakeDays(version=None, values=set())
        dataset = self._dataset(table, self.table_uri(key), partitions, dictionary_columns=columns)
        found: set[tuple[str | None, ...]] = set()
        for batch in dataset.to_batches(columns=columns):
            groups = pa.Table.from_batches([batch]).group_by(columns).aggregate([])
            found.update(zip(*(groups.column(c).to_pylist() for c in columns), strict=True))
        return LakeDays(version=table.version(), values=found)

    def _version(self, uri: str) -> int | None:
        """The table's current version; None when there is no table yet.

        Not `DeltaTable.is_deltatable`: it holds the GIL through its S3 requests, which stalls
        every other Python thread (an in-process S3 server among them) until they time out.
        """
        try:
            return DeltaTable(uri, storage_options=self.storage_options()).version()
        except TableNotFoundError:
            return None

    def _dataset(
        self,
        table: DeltaTable,
        uri: str,
        partitions: list[str],
        dictionary_columns: list[str] | None = None,
    ) -> ds.Dataset:
        pruning: list[tuple[str, str, Any]] = [(PARTITION_COLUMN, "in", partitions)]
        dataset = table.to_pyarrow_dataset(file_pruning_predicate=pruning)
        if self._on_s3():
            return dataset
        # Locally, the same files on the local file system: engines then read them natively
        # (DuckDB's own Parquet reader: parallel, and inside its memory limit) instead of through
        # delta-rs's Python file system.
        partitioning = ds.partitioning(
            pa.schema([dataset.schema.field(PARTITION_COLUMN)]), flavor="hive"
        )
        parquet = ds.ParquetFileFormat(
            read_options=ds.ParquetReadOptions(dictionary_columns=dictionary_columns or [])
        )
        return ds.dataset(
            table.file_uris(file_pruning_predicate=pruning),
            schema=dataset.schema,
            format=parquet,
            partitioning=partitioning,
            partition_base_dir=uri,
        )


@dataclass(frozen=True)
class LakeDays:
    """What days of a table held at one version (None: there was no table)."""

    version: int | None
    values: set[tuple[str | None, ...]]


@dataclass(frozen=True)
class DayWrite:
    """Rows for the materialized days, planned on `read_version` of the table (`LakeDays`).

    With `append`, the days keep their files and gain these; otherwise they are replaced. If
    another write to one of the days committed after `read_version`, the commit fails
    (`ConcurrentDayWriteError`) instead of adding a file a second time or dropping the other's.
    """

    rows: pa.RecordBatchReader | pa.Table
    append: bool
    read_version: int | None


def _partition_rows(table: DeltaTable, partition: str) -> int:
    """A partition's rows, from the commit log's per-file counts (recorded by every write here)."""
    added = pa.table(table.get_add_actions(flatten=True))
    mine = pc.equal(added.column(f"partition.{PARTITION_COLUMN}"), partition)
    return int(pc.sum(added.column("num_records").filter(mine)).as_py() or 0)
