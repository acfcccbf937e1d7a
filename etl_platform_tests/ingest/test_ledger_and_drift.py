import duckdb
import pytest

from etl_platform.ingest import ledger
from etl_platform.ingest.drift import DriftError, detect, raw_columns
from etl_platform.ingest.landing import LandedFile
from etl_platform.sources.model import SPEC_DIR, SchemaPolicy, load_spec

ORDERS = load_spec(SPEC_DIR / "orders.yaml")


def landed(key: str, day: str = "2026-11-01") -> LandedFile:
    return LandedFile(key, day, 10, 1)


def test_a_file_delivered_again_under_another_name_is_skipped():
    con = duckdb.connect()
    first = ledger.register(con, "orders", [(landed("orders/d/a.csv"), "sha1")], "run1")
    again = ledger.register(
        con,
        "orders",
        [(landed("orders/d/a.csv"), "sha1"), (landed("orders/d/b.csv"), "sha1")],
        "run2",
    )
    assert [d.load for d in first] == [True]
    assert [(d.file.key, d.load, d.duplicate_of) for d in again] == [
        ("orders/d/a.csv", True, None),
        ("orders/d/b.csv", False, "orders/d/a.csv"),
    ]


def test_the_same_content_in_another_source_is_not_a_redelivery():
    con = duckdb.connect()
    ledger.register(con, "orders", [(landed("orders/d/a.csv"), "sha1")], "run1")
    other = ledger.register(con, "customers", [(landed("customers/d/a.csv"), "sha1")], "run1")
    assert other[0].load


def test_an_overwritten_file_with_new_content_loads():
    con = duckdb.connect()
    ledger.register(con, "orders", [(landed("orders/d/a.csv"), "sha1")], "run1")
    ledger.register(con, "orders", [(landed("orders/d/b.csv"), "sha1")], "run1")
    rewritten = ledger.register(con, "orders", [(landed("orders/d/b.csv"), "sha2")], "run2")
    assert rewritten[0].load


def test_drift_names_extra_and_missing_columns():
    header = [*ORDERS.column_names[:-1], "coupon_code"]
    drift = detect(ORDERS, "orders/d/a.csv", header)
    assert drift is not None
    assert (drift.extra, drift.missing) == (("coupon_code",), ("updated_at",))
    assert detect(ORDERS, "f", ORDERS.column_names) is None


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (SchemaPolicy.EVOLVE, [*ORDERS.column_names, "coupon_code"]),
        (SchemaPolicy.DISCARD_COLUMNS, ORDERS.column_names),
    ],
)
def test_the_schema_policy_decides_the_raw_columns(policy, expected):
    spec = ORDERS.model_copy(update={"schema_policy": policy})
    drift = detect(spec, "f", [*spec.column_names, "coupon_code"])
    assert raw_columns(spec, [drift]) == expected


def test_a_frozen_schema_refuses_a_file_with_extra_columns():
    spec = ORDERS.model_copy(update={"schema_policy": SchemaPolicy.FREEZE})
    drift = detect(spec, "orders/d/a.csv", [*spec.column_names, "coupon_code"])
    with pytest.raises(DriftError, match=r"orders/d/a.csv: \['coupon_code'\]"):
        raw_columns(spec, [drift])
