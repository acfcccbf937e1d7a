import duckdb

from etl_platform.ingest import ledger
from etl_platform.ingest.landing import LandedFile


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
