from datetime import date

import dagster as dg
import pyarrow as pa
import pytest

from etl_platform.io.duckdb_warehouse import (
    DuckDBWarehouse,
    DuckDBWarehouseIOManager,
    replace_partitions,
)

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="Asia/Kolkata")


def rows(day: str, values: list[int], **extra: list) -> pa.Table:
    return pa.table(
        {"v": values, "_partition_date": [date.fromisoformat(day)] * len(values), **extra}
    )


@pytest.fixture
def warehouse(tmp_path):
    return DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))


def content(warehouse, sql="SELECT * FROM staging.t ORDER BY _partition_date, v"):
    with warehouse.connect() as con:
        return con.execute(sql).fetchall()


def test_a_partition_is_replaced_and_the_others_kept(warehouse):
    with warehouse.connect() as con:
        replace_partitions(con, "staging", "t", rows("2026-11-01", [1, 2]), [date(2026, 11, 1)])
        replace_partitions(con, "staging", "t", rows("2026-11-02", [3]), [date(2026, 11, 2)])
        replace_partitions(con, "staging", "t", rows("2026-11-01", [9]), [date(2026, 11, 1)])
    assert content(warehouse) == [(9, date(2026, 11, 1)), (3, date(2026, 11, 2))]


def test_a_range_is_replaced_as_one_and_an_empty_day_ends_empty(warehouse):
    days = [date(2026, 11, 1), date(2026, 11, 2)]
    with warehouse.connect() as con:
        replace_partitions(con, "staging", "t", rows("2026-11-01", [1]), [days[0]])
        replace_partitions(con, "staging", "t", rows("2026-11-02", [2]), [days[1]])
        replace_partitions(con, "staging", "t", rows("2026-11-02", [5]), days)
    assert content(warehouse) == [(5, date(2026, 11, 2))]


def test_a_failed_replacement_leaves_the_old_rows(warehouse):
    with warehouse.connect() as con:
        replace_partitions(con, "staging", "t", rows("2026-11-01", [1]), [date(2026, 11, 1)])
        wrong = pa.table({"v": ["not an int"], "_partition_date": [date(2026, 11, 1)]})
        with pytest.raises(Exception, match=r"Could not convert|Conversion"):
            replace_partitions(con, "staging", "t", wrong, [date(2026, 11, 1)])
    assert content(warehouse) == [(1, date(2026, 11, 1))]


def test_a_new_column_is_added_and_old_rows_get_null(warehouse):
    with warehouse.connect() as con:
        replace_partitions(con, "staging", "t", rows("2026-11-01", [1]), [date(2026, 11, 1)])
        replace_partitions(
            con, "staging", "t", rows("2026-11-02", [2], extra=["x"]), [date(2026, 11, 2)]
        )
    assert content(warehouse, "SELECT v, extra FROM staging.t ORDER BY v") == [(1, None), (2, "x")]


@pytest.mark.parametrize("name", ['x"; drop table y; --', "a b", "../t", ""])
def test_identifiers_from_outside_are_refused_before_sql(warehouse, name):
    with warehouse.connect() as con:
        con.execute("CREATE TABLE canary AS SELECT 1 AS alive")
        with pytest.raises(ValueError, match="refusing SQL identifier"):
            replace_partitions(con, "staging", name, rows("2026-11-01", [1]), None)
        assert con.execute("SELECT * FROM canary").fetchall() == [(1,)]


def test_the_io_manager_round_trips_partitions_through_a_real_run(warehouse):
    @dg.asset(key=["staging", "t"], partitions_def=PARTITIONS)
    def t(context: dg.AssetExecutionContext) -> pa.Table:
        day = context.partition_key
        return rows(day, [int(day[-2:])])

    @dg.asset(partitions_def=PARTITIONS, ins={"t": dg.AssetIn(key=["staging", "t"])})
    def reader(t: pa.Table) -> None:
        assert t.column("v").to_pylist() == [2]

    resources = {"io_manager": DuckDBWarehouseIOManager(warehouse=warehouse)}
    with dg.DagsterInstance.ephemeral() as instance:
        for day in ("2026-11-01", "2026-11-02", "2026-11-02"):
            result = dg.materialize([t], partition_key=day, resources=resources, instance=instance)
            assert result.success
        assert dg.materialize(
            [t, reader],
            selection=[reader],
            partition_key="2026-11-02",
            resources=resources,
            instance=instance,
        ).success
    assert content(warehouse) == [(1, date(2026, 11, 1)), (2, date(2026, 11, 2))]
