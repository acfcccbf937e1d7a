import pyarrow as pa
import pyarrow.compute as pc

from etl_platform.quality.contract import check_contract
from etl_platform.sources.model import SPEC_DIR, load_spec
from etl_platform.transform.stage import stage
from etl_platform_tests.transform.test_stage import GOOD, raw_table

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
DAY = "2026-11-01"


def staged_rows() -> pa.Table:
    rows = [GOOD, {**GOOD, "order_id": "ORD-00000002"}, {**GOOD, "order_id": "ORD-00000003"}]
    return stage(raw_table(rows), ORDERS, [DAY], b"k" * 16, "Asia/Kolkata").staged


def test_the_contract_passes_on_what_staging_produces():
    outcome = check_contract(staged_rows(), ORDERS, [DAY])
    assert outcome.passed, outcome.metadata


def test_a_duplicate_primary_key_fails_the_contract_for_its_day():
    table = staged_rows()
    duplicated = pa.concat_tables([table, table.slice(0, 1)])
    outcome = check_contract(duplicated, ORDERS, [DAY])
    assert outcome.failing == {DAY: "0 contract failures, 1 duplicate keys"}


def test_a_value_out_of_range_fails_the_contract_with_a_sample():
    table = staged_rows()
    index = table.schema.get_field_index("quantity")
    table = table.set_column(index, "quantity", pc.multiply(table.column("quantity"), -1))
    outcome = check_contract(table, ORDERS, [DAY])
    assert not outcome.passed
    assert outcome.metadata["failures"] == 3
    assert outcome.metadata["sample"][0]["column"] == "quantity"


def test_a_wrong_type_fails_the_contract():
    table = staged_rows()
    index = table.schema.get_field_index("line_number")
    table = table.set_column(index, "line_number", table.column("line_number").cast(pa.string()))
    assert not check_contract(table, ORDERS, [DAY]).passed


def test_only_the_days_asked_for_are_checked():
    table = staged_rows()
    duplicated = pa.concat_tables([table, table.slice(0, 1)])
    assert check_contract(duplicated, ORDERS, ["2026-11-02"]).passed
