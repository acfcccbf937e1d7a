"""The contract every warehouse keeps: each test runs on DuckDB and on PostgreSQL."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml

from etl_platform.environment import DBT_PROJECT_DIR, local_resources
from etl_platform.ingest import ledger
from etl_platform.ingest.landing import LandedFile
from etl_platform.io.duckdb_warehouse import (
    DEFAULT_MEMORY_LIMIT,
    scratch_connection,
    share_memory_limit,
)
from etl_platform.io.postgres_warehouse import COPY_BATCH_ROWS
from etl_platform.io.warehouse import Warehouse, WarehouseIOManager

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="Asia/Kolkata")
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)
IST = timezone(timedelta(hours=5, minutes=30))


def rows(day: date, values: list[int], **extra: list) -> pa.Table:
    days = pa.array([day] * len(values), pa.date32())
    return pa.table({"v": pa.array(values, pa.int64()), "_partition_date": days, **extra})


def content(warehouse: Warehouse, *columns: str) -> list[tuple]:
    table = warehouse.read("staging", "t", None).select(list(columns or ("v", "_partition_date")))
    return sorted(tuple(r.values()) for r in table.to_pylist())


def test_every_arrow_type_we_use_round_trips_with_nulls(warehouse):
    data = pa.table(
        {
            "v": pa.array([1, 2, 3, None], pa.int64()),
            "text": pa.array(["plain", "", 'quo"te, comma\nnew line \\. ₹ é', None]),
            "ratio": pa.array([1.5, -1e-300, float("inf"), None], pa.float64()),
            "amount": pa.array(
                [Decimal("1234567890123456.78"), Decimal("-0.01"), Decimal("0.00"), None],
                pa.decimal128(18, 2),
            ),
            "flag": pa.array([True, False, True, None]),
            "_partition_date": pa.array([NOV1, NOV1, date(1970, 1, 1), None], pa.date32()),
            "at": pa.array(
                [
                    datetime(2026, 11, 1, 0, 15, 0, 123456, tzinfo=IST),
                    datetime(1970, 1, 1, tzinfo=UTC),
                    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                    None,
                ],
                pa.timestamp("us", tz="Asia/Kolkata"),
            ),
            "local_at": pa.array([datetime(2026, 11, 1, 0, 15), None, None, None]),
        }
    )
    warehouse.replace_partitions("staging", "t", data, None)
    back = warehouse.read("staging", "t", None).sort_by("v")
    # The same instants, always read back in UTC.
    expected = data.set_column(
        data.schema.get_field_index("at"),
        "at",
        data.column("at").cast(pa.timestamp("us", tz="UTC")),
    )
    assert back.schema == expected.schema
    assert back.equals(expected)


def test_a_partition_is_replaced_and_the_others_kept(warehouse):
    warehouse.replace_partitions("staging", "t", rows(NOV1, [1, 2]), [NOV1])
    warehouse.replace_partitions("staging", "t", rows(NOV2, [3]), [NOV2])
    warehouse.replace_partitions("staging", "t", rows(NOV1, [9]), [NOV1])
    assert content(warehouse) == [(3, NOV2), (9, NOV1)]
    assert warehouse.read("staging", "t", [NOV2]).column("v").to_pylist() == [3]


def test_a_range_is_replaced_as_one_and_a_day_without_rows_ends_empty(warehouse):
    warehouse.replace_partitions("staging", "t", rows(NOV1, [1]), [NOV1])
    warehouse.replace_partitions("staging", "t", rows(NOV2, [2]), [NOV2])
    warehouse.replace_partitions("staging", "t", rows(NOV2, [5]), [NOV1, NOV2])
    assert content(warehouse) == [(5, NOV2)]


def test_a_rerun_with_the_same_rows_gives_the_same_table(warehouse):
    for _ in range(2):
        warehouse.replace_partitions("staging", "t", rows(NOV1, [1, 1, 2]), [NOV1])
    assert content(warehouse) == [(1, NOV1), (1, NOV1), (2, NOV1)]


def test_an_empty_replacement_empties_the_day(warehouse):
    warehouse.replace_partitions("staging", "t", rows(NOV1, [1]), [NOV1])
    warehouse.replace_partitions("staging", "t", rows(NOV2, [2]), [NOV2])
    warehouse.replace_partitions("staging", "t", rows(NOV1, []), [NOV1])
    assert content(warehouse) == [(2, NOV2)]


def test_a_new_column_is_added_and_old_rows_get_null(warehouse):
    warehouse.replace_partitions("staging", "t", rows(NOV1, [1]), [NOV1])
    warehouse.replace_partitions("staging", "t", rows(NOV2, [2], extra=["x"]), [NOV2])
    assert content(warehouse, "v", "extra") == [(1, None), (2, "x")]


def test_a_failed_replacement_leaves_the_old_rows_and_columns(warehouse):
    warehouse.replace_partitions("staging", "t", rows(NOV1, [1]), [NOV1])
    wrong = pa.table({"v": ["not an int"], "_partition_date": [NOV1], "extra": ["x"]})
    with pytest.raises((duckdb.Error, psycopg.Error)):
        warehouse.replace_partitions("staging", "t", wrong, [NOV1])
    back = warehouse.read("staging", "t", None)
    assert back.column_names == ["v", "_partition_date"]
    assert content(warehouse) == [(1, NOV1)]


@pytest.mark.parametrize("name", ['x"; drop table canary; --', "a b", "../t", ""])
@pytest.mark.parametrize("place", ["schema", "table", "column"])
def test_identifiers_from_outside_are_refused_before_sql(warehouse, name, place):
    with warehouse.connect() as con:
        con.execute("CREATE TABLE canary AS SELECT 1 AS alive")
    schema, table, column = {
        "schema": (name, "t", "v"),
        "table": ("staging", name, "v"),
        "column": ("staging", "t", name),
    }[place]
    data = rows(NOV1, [1]).rename_columns([column, "_partition_date"])
    with pytest.raises(ValueError, match="refusing SQL identifier"):
        warehouse.replace_partitions(schema, table, data, None)
    if place != "column":
        with pytest.raises(ValueError, match="refusing SQL identifier"):
            warehouse.read(schema, table, None)
    with warehouse.connect() as con:
        assert con.execute("SELECT * FROM canary").fetchall() == [(1,)]


def test_the_io_manager_round_trips_partitions_through_a_real_run(warehouse):
    @dg.asset(key=["staging", "t"], partitions_def=PARTITIONS)
    def t(context: dg.AssetExecutionContext) -> pa.Table:
        day = context.partition_key
        return rows(date.fromisoformat(day), [int(day[-2:])])

    @dg.asset(partitions_def=PARTITIONS, ins={"t": dg.AssetIn(key=["staging", "t"])})
    def reader(t: pa.Table) -> None:
        assert t.column("v").to_pylist() == [2]

    resources = {"io_manager": WarehouseIOManager(warehouse=warehouse)}
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
    assert content(warehouse) == [(1, NOV1), (2, NOV2)]


def test_200k_rows_stream_through_the_bulk_load(warehouse):
    n = 200_000
    assert n > 3 * COPY_BATCH_ROWS
    data = pa.table(
        {
            "v": pa.array(range(n), pa.int64()),
            "name": pc.cast(pa.array(range(n)), pa.string()),
            "_partition_date": pa.array([NOV1] * n, pa.date32()),
        }
    )
    warehouse.replace_partitions("staging", "t", data, [NOV1])
    back = warehouse.read("staging", "t", [NOV1])
    assert back.num_rows == n
    assert pc.sum(back.column("v")).as_py() == n * (n - 1) // 2


def landed(key: str, day: str = "2026-11-01") -> LandedFile:
    return LandedFile(key, day, 10, 1)


def test_ledger_skips_a_file_delivered_again_under_another_name(warehouse):
    first = ledger.register(warehouse, "orders", [(landed("orders/d/a.csv"), "sha1")], "run1")
    again = ledger.register(
        warehouse,
        "orders",
        [(landed("orders/d/a.csv"), "sha1"), (landed("orders/d/b.csv"), "sha1")],
        "run2",
    )
    assert [d.load for d in first] == [True]
    assert [(d.file.key, d.load, d.duplicate_of) for d in again] == [
        ("orders/d/a.csv", True, None),
        ("orders/d/b.csv", False, "orders/d/a.csv"),
    ]


def test_ledger_does_not_take_the_same_content_in_another_source_for_a_redelivery(warehouse):
    ledger.register(warehouse, "orders", [(landed("orders/d/a.csv"), "sha1")], "run1")
    other = ledger.register(warehouse, "customers", [(landed("customers/d/a.csv"), "sha1")], "run1")
    assert other[0].load


def test_ledger_loads_an_overwritten_file_with_new_content(warehouse):
    ledger.register(warehouse, "orders", [(landed("orders/d/a.csv"), "sha1")], "run1")
    ledger.register(warehouse, "orders", [(landed("orders/d/b.csv"), "sha1")], "run1")
    rewritten = ledger.register(warehouse, "orders", [(landed("orders/d/b.csv"), "sha2")], "run2")
    assert rewritten[0].load


def test_ledger_keeps_the_first_registration_time_of_a_file(warehouse):
    def registered() -> list[tuple]:
        with warehouse.connect() as con:
            return con.execute(
                "SELECT file_key, status, run_id, registered_at FROM _etl.file_ledger"
            ).fetchall()

    ledger.register(warehouse, "orders", [(landed("orders/d/a.csv"), "sha1")], "run1")
    [(key, _, _, first_at)] = registered()
    ledger.register(warehouse, "orders", [(landed("orders/d/a.csv"), "sha1")], "run2")
    assert registered() == [(key, "loaded", "run2", first_at)]


def test_ledger_hands_back_the_hash_of_an_unchanged_file_only(warehouse):
    same = LandedFile("orders/d/a.csv", "2026-11-01", 10, 1, etag="e1")
    ledger.register(warehouse, "orders", [(same, "sha1")], "run1")
    changed = LandedFile("orders/d/a.csv", "2026-11-01", 10, 2, etag="e2")
    unseen = LandedFile("orders/d/b.csv", "2026-11-01", 10, 1, etag="e1")
    assert ledger.known_hashes(warehouse, "orders", [same, unseen]) == {same.key: "sha1"}
    assert ledger.known_hashes(warehouse, "orders", [changed]) == {}
    assert ledger.known_hashes(warehouse, "customers", [same]) == {}


def test_the_local_warehouse_connections_hold_a_third_of_the_platform_memory_limit(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ETL_STAGING_MEMORY", "256MB")
    with local_resources(tmp_path)["warehouse"].connect() as con:
        ((limit,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert limit == "81.3 MiB"  # DuckDB reports a third of 256 MB in MiB


def test_dbt_holds_less_than_a_staging_step_by_default():
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    limit = profiles["etl_platform"]["outputs"]["local"]["settings"]["memory_limit"]
    assert limit == "{{ env_var('ETL_DBT_MEMORY', '192MB') }}"
    assert int(DEFAULT_MEMORY_LIMIT.removesuffix("MB")) > 192


def test_a_scratch_duckdb_is_bounded_and_spills_to_a_folder_it_removes(monkeypatch):
    monkeypatch.setenv("ETL_STAGING_MEMORY", "256MB")
    with scratch_connection("etl-test-") as con:
        limit, folder = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
        assert limit == "244.1 MiB"
        assert Path(folder).is_dir() and Path(folder).name.startswith("etl-test-")
    assert not Path(folder).exists()


@pytest.mark.parametrize(("setting", "half"), [("256MB", "122.0 MiB"), ("3GiB", "1.5 GiB")])
def test_a_connection_can_be_held_to_a_share_of_its_limit(setting, half):
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{setting}'")
    share_memory_limit(con, 0.5)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone() == (half,)
