import pytest

from etl_platform.ingest.drift import detect, raw_columns, rejection
from etl_platform.sources.model import SPEC_DIR, SchemaPolicy, load_spec

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
NAMES = ORDERS.column_names


def with_policy(policy: SchemaPolicy):
    return ORDERS.model_copy(update={"schema_policy": policy})


def test_a_matching_header_has_no_drift_even_with_other_case_and_spaces():
    assert detect(ORDERS, "f", [f" {n.upper()} " for n in NAMES]) is None


def test_drift_names_extra_and_missing_columns():
    drift = detect(ORDERS, "f", [*NAMES[:-1], "coupon_code"])
    assert drift is not None
    assert drift.describe() == {"extra": ["coupon_code"], "missing": ["updated_at"]}


@pytest.mark.parametrize(
    ("header", "anomaly"),
    [
        (
            [*NAMES, "Amount", "amount ", "AMOUNT"],
            {"collisions": [["Amount", "amount ", "AMOUNT"]]},
        ),
        ([*NAMES, "order_id"], {"collisions": [["order_id", "order_id"]]}),
        ([*NAMES, ""], {"empty_headers": 1}),
        ([*NAMES, "  "], {"empty_headers": 1}),
    ],
)
def test_a_header_anomaly_rejects_the_file_whatever_the_policy(header, anomaly):
    for policy in SchemaPolicy:
        drift = detect(with_policy(policy), "f", header)
        assert drift is not None and drift.header_anomaly
        assert anomaly.items() <= drift.describe().items()
        assert rejection(with_policy(policy), drift).startswith("header_anomaly")


@pytest.mark.parametrize(
    ("policy", "rejected", "columns"),
    [
        (SchemaPolicy.EVOLVE, False, [*NAMES, "coupon_code"]),
        (SchemaPolicy.DISCARD_COLUMNS, False, NAMES),
        (SchemaPolicy.FREEZE, True, NAMES),
    ],
)
def test_the_schema_policy_decides_what_an_extra_column_does(policy, rejected, columns):
    spec = with_policy(policy)
    drift = detect(spec, "f", [*NAMES, "coupon_code"])
    assert (rejection(spec, drift) is not None) == rejected
    assert raw_columns(spec, [] if rejected else [drift]) == columns


def test_freeze_also_refuses_a_file_missing_a_column():
    spec = with_policy(SchemaPolicy.FREEZE)
    assert "missing" in rejection(spec, detect(spec, "f", NAMES[:-1]))
    assert rejection(with_policy(SchemaPolicy.EVOLVE), detect(ORDERS, "f", NAMES[:-1])) is None


def test_evolve_refuses_an_extra_column_no_table_could_hold():
    drift = detect(ORDERS, "f", [*NAMES, "coupon code!"])
    assert "no table can hold" in rejection(ORDERS, drift)
