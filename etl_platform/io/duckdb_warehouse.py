"""The embedded warehouse: a DuckDB file, its connection resource and partition-aware IO manager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

from etl_platform.io.sql import quote, table_name
from etl_platform.partitions import partition_dates

PARTITION_COLUMN = "_partition_date"


class DuckDBWarehouse(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A DuckDB database file; every caller gets a short-lived connection.

    DuckDB allows one writing process, and dbt runs as a separate process, so nothing here keeps a
    connection open between steps.
    """

    path: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is always closed, even when the caller fails."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path)
        try:
            yield con
        finally:
            con.close()


def _ensure_table(con: duckdb.DuckDBPyConnection, target: str, schema: str, data: pa.Table) -> None:
    """Create the table from the data's schema, or add the columns it lacks (schema evolution)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    con.register("_incoming", data)
    con.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM _incoming LIMIT 0")
    existing = {row[0] for row in con.execute(f"DESCRIBE {target}").fetchall()}
    for column, sql_type, *_ in con.execute("DESCRIBE _incoming").fetchall():
        if column not in existing:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {sql_type}")


def replace_partitions(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, data: pa.Table, days: list[date] | None
) -> None:
    """Atomically replace exactly `days` of a table (or the whole table when `days` is None)."""
    target = table_name(schema, table)
    con.execute("BEGIN")
    try:
        _ensure_table(con, target, schema, data)
        if days is None:
            con.execute(f"DELETE FROM {target}")
        else:
            con.execute(
                f"DELETE FROM {target} WHERE {quote(PARTITION_COLUMN)} IN "
                f"(SELECT unnest(?::DATE[]))",
                [days],
            )
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _incoming")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_incoming")


class DuckDBWarehouseIOManager(dg.ConfigurableIOManager):
    """Stores Arrow tables as `<layer>.<name>` tables, one transaction per materialization.

    A partitioned output replaces exactly its partitions' rows (`_partition_date`), so a rerun or a
    backfill never duplicates or leaves a half-written day visible.
    """

    warehouse: DuckDBWarehouse

    def _location(self, key: dg.AssetKey) -> tuple[str, str]:
        if len(key.path) != 2:
            raise ValueError(f"warehouse assets need a two-part key layer/name, got {key.path}")
        return key.path[0], key.path[1]

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        """Replace the materialized partitions of the asset's table with `obj`."""
        schema, table = self._location(context.asset_key)
        days = (
            partition_dates(context.asset_partition_keys) if context.has_asset_partitions else None
        )
        with self.warehouse.connect() as con:
            replace_partitions(con, schema, table, obj, days)
        context.add_output_metadata(
            {"dagster/row_count": obj.num_rows, "table": f"{schema}.{table}"}
        )

    def load_input(self, context: dg.InputContext) -> pa.Table:
        """The upstream table, restricted to the partitions this step reads."""
        schema, table = self._location(context.asset_key)
        target = table_name(schema, table)
        with self.warehouse.connect() as con:
            if not context.has_asset_partitions:
                return con.sql(f"SELECT * FROM {target}").to_arrow_table()
            days = partition_dates(context.asset_partition_keys)
            return con.sql(
                f"SELECT * FROM {target} WHERE {quote(PARTITION_COLUMN)} IN "
                f"(SELECT unnest(?::DATE[]))",
                params=[days],
            ).to_arrow_table()
