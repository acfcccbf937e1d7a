"""The warehouse interface: staging, quarantine and the file ledger on DuckDB or PostgreSQL.

Callers speak to `Warehouse`, never to an engine, so the same assets run on the embedded DuckDB file
locally and on PostgreSQL in production; the contract suite in the tests holds both to the same
behaviour.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

import dagster as dg
import pyarrow as pa

from etl_platform.io.read_ahead import read_ahead
from etl_platform.io.sql import quote
from etl_platform.partitions import partition_dates

PARTITION_COLUMN = "_partition_date"

Dialect = Literal["duckdb", "postgres"]
# The one place the engines' SQL differs for portable callers: DuckDB binds `?`, psycopg `%s`.
_PARAM: dict[Dialect, str] = {"duckdb": "?", "postgres": "%s"}


class Cursor(Protocol):
    """The result of `Connection.execute`: rows as tuples."""

    def fetchall(self) -> list[tuple[Any, ...]]:
        """All remaining rows."""
        ...


class Connection(Protocol):
    """What portable SQL needs of a connection; DuckDB's and psycopg's both have it."""

    def execute(self, query: str, parameters: Sequence[Any] | None = None, /) -> Cursor:
        """Run one statement (several when there are no parameters)."""
        ...


C = TypeVar("C", bound=Connection)


@contextmanager
def transaction(con: C) -> Iterator[C]:
    """`BEGIN` ... `COMMIT`, or `ROLLBACK` when the block raises.

    Warehouse connections are in autocommit mode on both engines, so an explicit `BEGIN` means the
    same everywhere: everything until `COMMIT` becomes visible at once or not at all.
    """
    con.execute("BEGIN")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# What a warehouse writes: a table, or a stream of batches it reads once and never holds.
Rows: TypeAlias = "pa.Table | pa.RecordBatchReader"


def checked_columns(data: Rows) -> list[str]:
    """The rows' column names, each refused unless it is a plain identifier.

    Column names come from file headers; both engines refuse the same names, before any SQL runs.
    """
    return [quote(name) for name in data.schema.names]


def counted(data: Rows, seen: list[int]) -> pa.RecordBatchReader:
    """The rows as a stream that adds each batch's row count to `seen[0]` as it is read."""
    reader = data if isinstance(data, pa.RecordBatchReader) else data.to_reader()

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            seen[0] += batch.num_rows
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def utc_timestamps(data: pa.Table) -> pa.Table:
    """Time-zone-aware columns expressed in UTC: the same instants, one zone on every engine."""
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit, "UTC"), f.nullable, f.metadata)
        if pa.types.is_timestamp(f.type) and f.type.tz is not None
        else f
        for f in data.schema
    ]
    return data.cast(pa.schema(fields, data.schema.metadata))


class Warehouse(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A SQL warehouse whose tables hold daily partitions in `_partition_date`.

    Every caller gets a short-lived connection: DuckDB takes one writing process and dbt runs as
    another, and PostgreSQL connections are cheap next to a step.
    """

    @property
    @abstractmethod
    def dialect(self) -> Dialect:
        """Which engine, for the few callers whose SQL cannot be portable."""

    @property
    def param(self) -> str:
        """The placeholder of a positional query parameter in this engine's driver."""
        return _PARAM[self.dialect]

    @abstractmethod
    def connect(self) -> AbstractContextManager[Connection]:
        """A connection in autocommit mode, closed when the block ends, even on failure."""

    @abstractmethod
    def replace_partitions(
        self, schema: str, table: str, data: Rows, days: list[date] | None
    ) -> None:
        """Atomically replace exactly `days` of a table with `data` (all of it when `days` is None).

        A stream is read once, batch by batch, inside the transaction.

        Creates the schema and table when missing and adds the columns `data` brings that the table
        lacks (older rows read NULL there). Identifiers are validated before any SQL runs. If
        anything fails, the table keeps its old rows.
        """

    @abstractmethod
    def read(self, schema: str, table: str, days: list[date] | None) -> pa.Table:
        """The rows of `days` (all rows when None), time-zone-aware timestamps in UTC."""


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores Arrow tables as `<layer>.<name>` tables, one transaction per materialization.

    A partitioned output replaces exactly its partitions' rows (`_partition_date`), so a rerun or a
    backfill never duplicates or leaves a half-written day visible.
    """

    warehouse: Warehouse

    def _location(self, key: dg.AssetKey) -> tuple[str, str]:
        if len(key.path) != 2:
            raise ValueError(f"warehouse assets need a two-part key layer/name, got {key.path}")
        return key.path[0], key.path[1]

    def handle_output(self, context: dg.OutputContext, obj: Rows) -> None:
        """Replace the materialized partitions of the asset's table with `obj` (streamed)."""
        schema, table = self._location(context.asset_key)
        days = (
            partition_dates(context.asset_partition_keys) if context.has_asset_partitions else None
        )
        seen = [0]
        # A stream is produced on a thread of its own while the warehouse writes the batches.
        with read_ahead(obj) if isinstance(obj, pa.RecordBatchReader) else nullcontext(obj) as rows:
            self.warehouse.replace_partitions(schema, table, counted(rows, seen), days)
        context.add_output_metadata({"dagster/row_count": seen[0], "table": f"{schema}.{table}"})

    def load_input(self, context: dg.InputContext) -> pa.Table:
        """The upstream table, restricted to the partitions this step reads."""
        schema, table = self._location(context.asset_key)
        days = (
            partition_dates(context.asset_partition_keys) if context.has_asset_partitions else None
        )
        return self.warehouse.read(schema, table, days)
