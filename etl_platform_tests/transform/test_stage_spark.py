"""The Spark staging path gives the DuckDB path's rows, reasons, tokens and accounting."""

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from etl_platform.demo.generator import generate
from etl_platform.ingest.readers import read_batches
from etl_platform.io.spark import LOCAL_SETTINGS, session_config, start_session
from etl_platform.sources.model import SPEC_DIR, SourceSpec, load_spec
from etl_platform.transform.stage import stage
from etl_platform.transform.stage_spark import (
    StagedContractError,
    raw_frame,
    stage_spark,
    validate_staged,
)
from etl_platform_tests.transform.test_stage import GOOD, by_source

ZONE = "Asia/Kolkata"
KEY = b"test-key-0123456789"
DAYS = ["2026-11-01", "2026-11-02"]


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    settings = {**LOCAL_SETTINGS, "spark.sql.shuffle.partitions": "2"}
    session = start_session(session_config("local[2]", ZONE, **settings))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    generate(root / "landing", root / "manifest.json", days=2, orders_per_day=300)
    return root / "landing"


def with_warn_rule(spec: SourceSpec, rule: str, unique: str | None = None) -> SourceSpec:
    """A copy of a spec with a warn rule and optionally a `unique` column."""
    body = spec.model_dump(mode="json")
    for column in body["columns"]:
        if column["name"] == unique:
            column["checks"]["unique"] = True
    body["rules"] = [*body["rules"], {"name": "warned", "expression": rule, "severity": "warn"}]
    return SourceSpec.model_validate(body)


def landed_raw(landing: Path, spec: SourceSpec, fmt: str) -> pa.Table:
    """The landed files as raw holds them (lineage columns included)."""
    tables = []
    for path in sorted((landing / spec.landing.prefix).glob("*/*")):
        table = pa.Table.from_batches(list(read_batches(path, fmt, spec.column_names)))
        n = table.num_rows
        tables.append(
            table.append_column("_file_rejected", pa.nulls(n, pa.string()))
            .append_column("_source_file", pa.array([path.relative_to(landing).as_posix()] * n))
            .append_column("_partition_date", pa.array([path.parent.name] * n))
        )
    return pa.concat_tables(tables)


def extra_defects(raw: pa.Table, overrides: list[dict[str, str | None]]) -> pa.Table:
    """Raw plus rows copied from its first row with `overrides`, in a file of their own."""
    first = raw.slice(0, 1).to_pylist()[0]
    rows = [
        {**first, "_source_file": f"{first['_source_file']}.extra", "_source_line": 2 + i, **o}
        for i, o in enumerate(overrides)
    ]
    return pa.concat_tables([raw, pa.Table.from_pylist(rows, schema=raw.schema)])


def both_engines(spark, tmp_path: Path, raw: pa.Table, spec: SourceSpec):
    """Stage the same Delta table with DuckDB and with Spark."""
    uri = str(tmp_path / spec.name)
    write_deltalake(uri, raw, mode="overwrite", partition_by=["_partition_date"])
    dataset = DeltaTable(uri).to_pyarrow_dataset()
    duck = stage(dataset, spec, DAYS, KEY, ZONE)
    frame = raw_frame(spark, uri, DAYS, spec)
    return duck, stage_spark(spark, frame, spec, DAYS, KEY, ZONE)


def assert_same(duck, spark_result) -> None:
    assert spark_result.staged.schema == duck.staged.schema
    assert by_source(spark_result.staged).equals(by_source(duck.staged))
    assert spark_result.quarantined.schema == duck.quarantined.schema
    assert spark_result.quarantined.to_pylist() == duck.quarantined.to_pylist()
    assert spark_result.stats == duck.stats
    assert all(s.balanced for s in spark_result.stats.values())
    assert spark_result.rule_warnings == duck.rule_warnings
    assert spark_result.pii_scrubbed == duck.pii_scrubbed


def test_orders_stage_to_the_same_rows_reasons_and_accounting(spark, landing, tmp_path):
    spec = with_warn_rule(load_spec(SPEC_DIR / "orders.yaml"), "quantity < 5")
    raw = extra_defects(
        landed_raw(landing, spec, "csv"),
        [
            {"_file_rejected": "frozen schema: extra column"},
            {"_raw_record": "ORD-1,2,3", "order_id": None},
            {"quantity": "1.5"},  # DuckDB rounds to 2: staged, not a type mismatch
            {"quantity": "many"},
            {"unit_price_inr": " 12.345 "},
            {"line_number": "77"},
            {"channel": "fax"},
            {"order_ts": "2026-11-01T23:59:59Z"},  # next day in Kolkata
            {"updated_at": "2026-10-01T10:00:00+05:30"},  # before the order: rule violation
            {"status": " NULL "},
            {"customer_id": "CUST-9999999"},  # start-anchored match, as pandas' str.match
        ],
    )
    duck, result = both_engines(spark, tmp_path, raw, spec)
    assert_same(duck, result)
    reasons = {r for s in result.stats.values() for r in s.quarantined}
    assert reasons >= {
        "file_rejected",
        "unparseable_record",
        "type_mismatch",
        "event_time_outside_partition",
        "null_violation",
        "out_of_range",
        "not_allowed",
        "rule_violation",
    }
    assert sum(s.exact_duplicates for s in result.stats.values()) > 0
    assert sum(s.superseded for s in result.stats.values()) > 0
    assert result.rule_warnings


def test_customers_pii_tokens_are_byte_identical(spark, landing, tmp_path):
    spec = load_spec(SPEC_DIR / "customers.yaml")
    raw = extra_defects(
        landed_raw(landing, spec, "csv"),
        [
            {"city": "call 9876543210 or mail asha@example.in"},
            {"_raw_record": "CUST-1,Asha,asha@example.in", "customer_id": None},
        ],
    )
    duck, result = both_engines(spark, tmp_path, raw, spec)
    assert_same(duck, result)
    assert result.pii_scrubbed
    assert "pattern_mismatch" in {r for s in result.stats.values() for r in s.quarantined}


def test_the_pyspark_validator_reads_pandera_errors_and_names_the_column(spark):
    spec = load_spec(SPEC_DIR / "products.yaml")
    frame = spark.createDataFrame(
        [("PRD-00001", "Kettle", "kitchenware", Decimal("-1"), None)],
        "product_id string, name string, category string, price_inr decimal(18,2), "
        "updated_at timestamp",
    )
    with pytest.raises(StagedContractError, match="category") as raised:
        validate_staged(frame, spec)
    assert "updated_at" in str(raised.value)


def test_a_unique_value_repeated_by_a_surviving_row_is_quarantined(spark, tmp_path):
    spec = with_warn_rule(load_spec(SPEC_DIR / "orders.yaml"), "quantity < 0", "customer_id")
    good = GOOD
    newer = {**good, "status": "shipped", "updated_at": "2026-11-01T12:00:00+05:30"}
    rows = [
        good,  # line 2: superseded by line 5, so it holds no value any more
        {**good, "order_id": "ORD-00000002"},  # 3: first surviving holder of CUST-000001
        {**good, "order_id": "ORD-00000003"},  # 4: repeats it
        newer,  # 5: repeats it too
    ]
    n = len(rows)
    raw = (
        pa.Table.from_pylist(rows)
        .append_column("_source_line", pa.array(range(2, n + 2), pa.int64()))
        .append_column("_raw_record", pa.nulls(n, pa.string()))
        .append_column("_file_rejected", pa.nulls(n, pa.string()))
        .append_column("_source_file", pa.array(["orders/2026-11-01/a.csv"] * n))
        .append_column("_partition_date", pa.array(["2026-11-01"] * n))
    )
    uri = str(tmp_path / "orders")
    write_deltalake(uri, raw, partition_by=["_partition_date"])
    result = stage_spark(spark, raw_frame(spark, uri, DAYS, spec), spec, DAYS, KEY, ZONE)
    assert result.staged.column("_source_line").to_pylist() == [3]
    quarantined = result.quarantined.select(["_source_line", "_reason", "_column"]).to_pylist()
    assert quarantined == [
        {"_source_line": 4, "_reason": "duplicate_value", "_column": "customer_id"},
        {"_source_line": 5, "_reason": "duplicate_value", "_column": "customer_id"},
    ]
    assert result.stats["2026-11-01"].superseded == 1


def test_a_spark_engine_spec_stages_through_dagster_like_the_duckdb_one(spark, landing, tmp_path):
    from etl_platform.assets.raw import build_raw_asset
    from etl_platform.assets.staging import build_staging_assets
    from etl_platform.environment import local_resources

    duck_spec = load_spec(SPEC_DIR / "orders.yaml")
    spark_spec = duck_spec.model_copy(update={"engine": "spark"})
    staged = {}
    for name, spec in (("duckdb", duck_spec), ("spark", spark_spec)):
        root = tmp_path / name
        root.mkdir()
        (root / "landing").symlink_to(landing, target_is_directory=True)
        resources = local_resources(root)
        assets = [build_raw_asset(spec), build_staging_assets(spec)]
        with dg.DagsterInstance.ephemeral() as instance:
            for day in DAYS:
                result = dg.materialize(
                    assets, partition_key=day, resources=resources, instance=instance
                )
                assert result.success
        staged[name] = resources["warehouse"].read("staging", "orders", None)
    assert staged["spark"].num_rows > 0
    order = [("_source_file", "ascending"), ("_source_line", "ascending")]
    assert staged["spark"].sort_by(order).equals(staged["duckdb"].sort_by(order))
