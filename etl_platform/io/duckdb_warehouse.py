"""The embedded warehouse: a DuckDB file behind the `Warehouse` interface."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from etl_platform.io.sql import quote, sql_string, table_name
from etl_platform.io.warehouse import (
    PARTITION_COLUMN,
    Dialect,
    Rows,
    Warehouse,
    checked_columns,
    transaction,
    utc_timestamps,
)

# What the platform's DuckDBs share before spilling (`ETL_STAGING_MEMORY`). Staging 10 M order
# lines outside Dagster, 320 MB against 384 MB: every phase's peak 60 MB lower for 0.5 s more. In
# one run of all three layers (the landing sensor's shape) the staging step starts above a fresh
# process's base, and 320 MB peaked at 1,018-1,060 MB over three runs; 256 MB at 955 MB, the
# step 32.3 s against 28.6-31.7 s.
DEFAULT_MEMORY_LIMIT = "256MB"


def memory_limit() -> str:
    """`ETL_STAGING_MEMORY`, default 256 MB: DuckDB's own default is 80 % of the machine."""
    return os.environ.get("ETL_STAGING_MEMORY", DEFAULT_MEMORY_LIMIT)


@contextmanager
def scratch_connection(prefix: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB held to `memory_limit()`, spilling to a temporary folder of its own.

    In memory up to the limit, then spilled: an on-disk database would compress every table it
    writes, for data read once or twice (measured 1.6x slower). Without its own folder an
    in-memory DuckDB spills to `.tmp` in whatever directory the process runs from.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit = {sql_string(memory_limit())}")
            con.execute(f"SET temp_directory = {sql_string(scratch)}")
            yield con
        finally:
            con.close()


_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def share_memory_limit(con: duckdb.DuckDBPyConnection, fraction: float) -> None:
    """Hold `con` to `fraction` of its current memory limit, evicting what no longer fits.

    For a connection that stays open while another connection of the same step works under
    its own limit. DuckDB reports the limit normalized (`"488.2 MiB"`), whatever its setting's
    spelling.
    """
    ((setting,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    value, unit = setting.split()
    con.execute(f"SET memory_limit = '{int(float(value) * _UNITS[unit] * fraction)}B'")


# A large insert is faster the more of its row groups it can hold: writing 10 M staged rows took
# 11.0 s holding an eighth of the step's budget and 7.5 s holding three quarters, and 12.1 s
# against 12.6 s holding a half or three quarters on a slower day. While staged rows stream in,
# the scratch database that produces them holds a quarter (`SCAN_SHARE`), and the checks looking
# at each batch on its way need the rest: with the insert at three quarters, the one pass that
# checks and writes the rows peaked 50-100 MB higher than the write alone.
INSERT_SHARE = 0.5
SCAN_SHARE = 0.25
# A query caches the blocks it scans up to its connection's limit, and a connection here lives for
# one task, so a read keeps a third of the budget: curated's no-leak check over 10 M order lines
# peaked at 902 MB holding 384 MB and at 649 MB holding 128 MB, in the same 2 s.
READ_SHARE = 1 / 3


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file; every caller gets a short-lived connection.

    DuckDB allows one writing process, and dbt runs as a separate process, so nothing here keeps a
    connection open between steps.
    """

    path: str
    # Without one, DuckDB keeps every block a step scanned cached in the step's process.
    memory_limit: str | None = None

    @property
    def dialect(self) -> Dialect:
        """`duckdb`."""
        return "duckdb"

    def connect(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A connection for reads and small writes, always closed, even when the caller fails."""
        return self._connect(READ_SHARE)

    @contextmanager
    def _connect(self, share: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection holding `share` of `memory_limit` (when one is set)."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path)
        try:
            if self.memory_limit:
                con.execute(f"SET memory_limit = {sql_string(self.memory_limit)}")
                share_memory_limit(con, share)
            yield con
        finally:
            con.close()

    def replace_partitions(
        self, schema: str, table: str, data: Rows, days: list[date] | None
    ) -> None:
        """Atomically replace exactly `days` of a table (or the whole table when `days` is None)."""
        target = table_name(schema, table)
        checked_columns(data)
        with self._connect(INSERT_SHARE) as con:
            # The shape alone answers DDL questions; a stream can be scanned only once.
            con.register("_shape", data.schema.empty_table())
            con.register("_incoming", data)
            try:
                with transaction(con):
                    _ensure_table(con, target, schema)
                    if days is None:
                        con.execute(f"DELETE FROM {target}")
                    else:
                        con.execute(
                            f"DELETE FROM {target} WHERE {quote(PARTITION_COLUMN)} IN "
                            f"(SELECT unnest(?::DATE[]))",
                            [days],
                        )
                    con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _incoming")
            finally:
                con.unregister("_incoming")
                con.unregister("_shape")

    def read(self, schema: str, table: str, days: list[date] | None) -> pa.Table:
        """The rows of `days` (all rows when None) as Arrow, time-zone-aware timestamps in UTC."""
        target = table_name(schema, table)
        with self.connect() as con:
            if days is None:
                relation = con.sql(f"SELECT * FROM {target}")
            else:
                relation = con.sql(
                    f"SELECT * FROM {target} WHERE {quote(PARTITION_COLUMN)} IN "
                    f"(SELECT unnest(?::DATE[]))",
                    params=[days],
                )
            return utc_timestamps(relation.to_arrow_table())


def _ensure_table(con: duckdb.DuckDBPyConnection, target: str, schema: str) -> None:
    """Create the table in the registered `_shape`, or add the columns it lacks."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM _shape")
    existing = {row[0] for row in con.execute(f"DESCRIBE {target}").fetchall()}
    for column, sql_type, *_ in con.execute("DESCRIBE _shape").fetchall():
        if column not in existing:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {sql_type}")
