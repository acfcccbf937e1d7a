"""The lake: one Delta table per raw asset, partitioned by day, written from a stream of batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable, write_deltalake

from etl_platform.io.duckdb_warehouse import PARTITION_COLUMN

SOURCE_FILE = "_source_file"


def _partition_predicate(keys: list[str]) -> str:
    # Keys are validated dates from the partitions definition; the check keeps it that way.
    for key in keys:
        if len(key) != 10 or not key.replace("-", "").isdigit():
            raise ValueError(f"refusing partition key {key!r} in a Delta predicate")
    return f"{PARTITION_COLUMN} IN ({', '.join(repr(k) for k in keys)})"


class DeltaLakeIOManager(dg.ConfigurableIOManager):
    """Raw assets as Delta tables under `<root>/<layer>/<name>`.

    Output: a `pa.RecordBatchReader` (streamed, so a file larger than memory never sits in memory)
    or a `pa.Table`. The materialized partitions are replaced in one Delta commit, so readers see
    the old day or the new day, never half of one.
    Input: a `pyarrow.dataset.Dataset` of the partitions asked for, for the engine to scan lazily.
    """

    root: str

    def _path(self, key: dg.AssetKey) -> Path:
        return Path(self.root, *key.path)

    def handle_output(
        self, context: dg.OutputContext, obj: pa.RecordBatchReader | pa.Table
    ) -> None:
        """Replace the materialized partitions with the stream's rows, counting as it goes."""
        keys = sorted(context.asset_partition_keys)
        reader = (
            obj
            if isinstance(obj, pa.RecordBatchReader)
            else pa.RecordBatchReader.from_batches(obj.schema, obj.to_batches())
        )
        per_partition: Counter[str] = Counter()
        per_file: Counter[str] = Counter()

        def counted() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                for counter, column in ((per_partition, PARTITION_COLUMN), (per_file, SOURCE_FILE)):
                    for item in pc.value_counts(batch.column(column)).to_pylist():
                        counter[item["values"]] += item["counts"]
                yield batch

        path = self._path(context.asset_key)
        path.mkdir(parents=True, exist_ok=True)
        write_deltalake(
            str(path),
            pa.RecordBatchReader.from_batches(reader.schema, counted()),
            mode="overwrite",
            partition_by=[PARTITION_COLUMN],
            predicate=_partition_predicate(keys),
            schema_mode="merge",
        )
        # Output metadata is copied to every partition of a range run, so the row count is only
        # a partition's own when the run wrote one partition.
        row_count = {"dagster/row_count": sum(per_partition.values())} if len(keys) == 1 else {}
        context.add_output_metadata(
            {
                **row_count,
                "run_rows_by_partition": {k: per_partition.get(k, 0) for k in keys},
                "run_rows_by_file": dict(sorted(per_file.items())),
                "delta_version": DeltaTable(str(path)).version(),
                "path": str(path),
            }
        )

    def load_input(self, context: dg.InputContext) -> ds.Dataset:
        """A lazy dataset of the partitions the step reads (scanned by DuckDB, not loaded here)."""
        table = DeltaTable(str(self._path(context.asset_key)))
        keys = sorted(context.asset_partition_keys)
        return table.to_pyarrow_dataset(file_pruning_predicate=[(PARTITION_COLUMN, "in", keys)])
