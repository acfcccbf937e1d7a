import dagster as dg
from deltalake import DeltaTable

from etl_platform.assets.raw import build_raw_asset, files_to_add
from etl_platform.assets.staging import build_staging_assets
from etl_platform.environment import local_resources
from etl_platform.ingest.landing import LandedFile
from etl_platform.ingest.ledger import LedgerDecision
from etl_platform.io.delta_lake import DayWrite, DeltaLakeIOManager
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse
from etl_platform.io.lake_files import commit_files
from etl_platform.sources.model import SPEC_DIR, Quality, SchemaPolicy, load_spec

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
HEADER = ",".join(ORDERS.column_names)
TS = "2026-11-01T10:00:00+05:30"
ROW = f"ORD-00000001,1,CUST-000001,PRD-00001,2,10.00,placed,web,{TS},{TS}"
DAY = "2026-11-01"


def land(tmp_path, name: str, header: str, rows: list[str]) -> None:
    folder = tmp_path / "landing" / "orders" / DAY
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *rows]) + "\n")


def materialize_raw(
    tmp_path, policy: SchemaPolicy, with_staging: bool = False, rewrite: bool = False
) -> dg.ExecuteInProcessResult:
    # Whole files go to quarantine here: the quarantine-rate gate would (rightly) stop the run.
    spec = ORDERS.model_copy(
        update={"schema_policy": policy, "quality": Quality(max_quarantine_rate=1.0)}
    )
    resources = local_resources(tmp_path)
    assets = [build_raw_asset(spec)] + ([build_staging_assets(spec)] if with_staging else [])
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            assets,
            partition_key=DAY,
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"raw__orders": {"config": {"rewrite": rewrite}}}},
        )


def warehouse_rows(tmp_path, sql: str) -> list[tuple]:
    with DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")).connect() as con:
        return con.execute(sql).fetchall()


def raw_table(tmp_path) -> DeltaTable:
    return DeltaTable(str(tmp_path / "lake" / "raw" / "orders"))


def raw_columns(tmp_path) -> list[str]:
    return raw_table(tmp_path).to_pyarrow_table().column_names


def test_evolve_keeps_an_extra_column_in_raw_and_records_the_drift(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    land(
        tmp_path,
        "b.csv",
        HEADER + ",coupon_code",
        [ROW.replace("ORD-00000001", "ORD-00000002") + ",DIWALI10"],
    )
    result = materialize_raw(tmp_path, SchemaPolicy.EVOLVE)
    assert result.success
    assert "coupon_code" in raw_columns(tmp_path)
    metadata = result.asset_materializations_for_node("raw__orders")[0].metadata
    assert metadata["schema_drift"].value == {f"orders/{DAY}/b.csv": {"extra": ["coupon_code"]}}
    assert metadata["dagster/row_count"].value == 2


def test_discard_columns_drops_the_extra_column_and_loads_the_rows(tmp_path):
    land(tmp_path, "b.csv", HEADER + ",coupon_code", [ROW + ",DIWALI10"])
    assert materialize_raw(tmp_path, SchemaPolicy.DISCARD_COLUMNS).success
    assert "coupon_code" not in raw_columns(tmp_path)
    assert raw_table(tmp_path).count() == 1


def test_freeze_sends_a_drifted_file_whole_to_quarantine_and_loads_the_others(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    land(tmp_path, "b.csv", HEADER + ",coupon_code", [ROW.replace("00000001", "00000002") + ",X"])
    result = materialize_raw(tmp_path, SchemaPolicy.FREEZE, with_staging=True)
    assert result.success  # a drift check only warns
    (drift,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert list(drift.metadata["files_rejected"].value) == [f"orders/{DAY}/b.csv"]
    assert warehouse_rows(tmp_path, "SELECT order_id FROM staging.orders") == [("ORD-00000001",)]
    assert warehouse_rows(tmp_path, "SELECT order_id, _reason, _check FROM quarantine.orders") == [
        ("ORD-00000002", "file_rejected", "schema_policy freeze: {'extra': ['coupon_code']}")
    ]


def test_colliding_headers_send_the_file_to_quarantine_under_any_policy(tmp_path):
    land(tmp_path, "a.csv", HEADER + ",Amount,amount ,AMOUNT", [ROW + ",1,2,3"])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE, with_staging=True).success
    assert "coupon_code" not in raw_columns(tmp_path)
    (reason, check) = warehouse_rows(tmp_path, "SELECT _reason, _check FROM quarantine.orders")[0]
    assert reason == "file_rejected"
    assert "Amount" in check and "AMOUNT" in check


def test_a_missing_column_arrives_as_null_for_staging_to_judge(tmp_path):
    land(tmp_path, "a.csv", HEADER.replace(",channel", ""), [ROW.replace(",web", "")])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE).success
    table = raw_table(tmp_path).to_pyarrow_table()
    assert table.column("channel").to_pylist() == [None]


def test_files_matching_the_spec_pass_the_drift_check(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    result = materialize_raw(tmp_path, SchemaPolicy.FREEZE)
    (drift,) = result.get_asset_check_evaluations()
    assert drift.check_name == "schema_drift" and drift.passed


def ingested_at_by_file(tmp_path) -> dict[str, set]:
    rows = raw_table(tmp_path).to_pyarrow_table(columns=["_source_file", "_ingested_at"])
    found: dict[str, set] = {}
    for row in rows.to_pylist():
        found.setdefault(row["_source_file"].rsplit("/", 1)[-1], set()).add(row["_ingested_at"])
    return found


def raw_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = result.asset_materializations_for_node("raw__orders")
    return {k: v.value for k, v in materialization.metadata.items()}


def test_a_new_file_is_added_to_its_day_without_reading_the_days_files_again(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE).success
    first = ingested_at_by_file(tmp_path)["a.csv"]
    land(tmp_path, "b.csv", HEADER, [ROW.replace("00000001", "00000002")] * 2)

    result = materialize_raw(tmp_path, SchemaPolicy.EVOLVE, with_staging=True)

    assert result.success
    metadata = raw_metadata(result)
    assert metadata["lake_write"] == "append"
    assert (metadata["files_loaded"], metadata["files_read"]) == (2, 1)
    assert metadata["run_rows_by_file"] == {f"orders/{DAY}/b.csv": 2}
    assert metadata["dagster/row_count"] == 3  # the day's rows, not the run's
    assert ingested_at_by_file(tmp_path)["a.csv"] == first  # a.csv was not read again
    assert raw_table(tmp_path).history(1)[0]["operationParameters"]["mode"] == "Append"
    # Staging reads the whole day: a.csv's line, b.csv's line and its exact copy.
    staged = warehouse_rows(tmp_path, "SELECT order_id FROM staging.orders ORDER BY 1")
    assert staged == [("ORD-00000001",), ("ORD-00000002",)]


def test_a_run_with_no_new_file_commits_nothing(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE).success
    version = raw_table(tmp_path).version()

    result = materialize_raw(tmp_path, SchemaPolicy.EVOLVE)

    assert result.success and raw_table(tmp_path).version() == version
    assert raw_metadata(result)["files_read"] == 0
    assert raw_metadata(result)["dagster/row_count"] == 1


def test_a_file_whose_content_changed_replaces_its_day(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    land(tmp_path, "b.csv", HEADER, [ROW.replace("00000001", "00000002")])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE).success
    land(tmp_path, "a.csv", HEADER, [ROW.replace("00000001", "00000003")] * 2)

    result = materialize_raw(tmp_path, SchemaPolicy.EVOLVE)

    metadata = raw_metadata(result)
    assert metadata["lake_write"] == "replace"
    assert (metadata["files_read"], metadata["dagster/row_count"]) == (2, 3)
    orders = raw_table(tmp_path).to_pyarrow_table(columns=["order_id"]).column(0).to_pylist()
    assert sorted(orders) == ["ORD-00000002", "ORD-00000003", "ORD-00000003"]


def test_the_rewrite_setting_reads_every_file_of_the_day_again(tmp_path):
    land(tmp_path, "a.csv", HEADER, [ROW])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE).success
    first = ingested_at_by_file(tmp_path)["a.csv"]

    result = materialize_raw(tmp_path, SchemaPolicy.EVOLVE, rewrite=True)

    assert raw_metadata(result)["lake_write"] == "replace"
    assert raw_metadata(result)["dagster/row_count"] == 1
    assert ingested_at_by_file(tmp_path)["a.csv"] != first


def decision(key: str, sha: str, duplicate_of: str | None = None) -> LedgerDecision:
    landed = LandedFile(key=key, size=1, mtime_ns=0, etag="e", partition_key=DAY)
    return LedgerDecision(landed, sha, duplicate_of)


def test_only_files_held_exactly_as_they_would_be_written_again_allow_adding():
    loaded = [decision("a", "1"), decision("b", "2")]
    assert files_to_add(loaded, {}, set()) == loaded
    assert files_to_add(loaded, {}, {("a", "1", None)}) == [loaded[1]]
    assert files_to_add(loaded, {}, {("a", "1", None), ("b", "2", None)}) == []
    assert files_to_add(loaded, {}, {("a", "0", None)}) is None  # content changed
    assert files_to_add(loaded, {"a": "freeze"}, {("a", "1", None)}) is None  # now rejected
    assert files_to_add(loaded, {}, {("c", "3", None)}) is None  # no longer loaded


INTERFERE = {"once": False}


class InterferingLake(DeltaLakeIOManager):
    """Before its first write, another writer empties the day the write was planned on."""

    def handle_output(self, context: dg.OutputContext, obj: DayWrite) -> None:
        if INTERFERE["once"]:
            INTERFERE["once"] = False
            uri = self.table_uri(context.asset_key)
            commit_files(
                uri, None, [], obj.rows.schema, "_partition_date", [DAY],
                replace=True, read_version=DeltaTable(uri).version(),
            )  # fmt: skip
        super().handle_output(context, obj)


def test_a_day_written_by_another_run_meanwhile_is_planned_again_not_added_to(
    tmp_path, monkeypatch
):
    land(tmp_path, "a.csv", HEADER, [ROW])
    assert materialize_raw(tmp_path, SchemaPolicy.EVOLVE).success
    land(tmp_path, "b.csv", HEADER, [ROW.replace("00000001", "00000002")])
    monkeypatch.setitem(INTERFERE, "once", True)
    resources = {
        **local_resources(tmp_path),
        "lake_io_manager": InterferingLake(root=str(tmp_path / "lake")),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [build_raw_asset(ORDERS)], partition_key=DAY, resources=resources, instance=instance
        )

    assert result.success
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) == 1
    errors, error = [], retried[0].event_specific_data.error
    while error is not None:
        errors.append(error.cls_name)
        error = error.cause or error.context
    assert "ConcurrentDayWriteError" in errors, errors
    # The retry found the day emptied, so it added both files: each once.
    assert raw_metadata(result)["files_read"] == 2
    orders = raw_table(tmp_path).to_pyarrow_table(columns=["order_id"]).column(0).to_pylist()
    assert sorted(orders) == ["ORD-00000001", "ORD-00000002"]
