import pyarrow as pa
import pytest

from etl_platform.sources.model import SPEC_DIR, Rule, load_spec
from etl_platform.transform.pii import hmac_token
from etl_platform.transform.stage import open_staging, stage

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
CUSTOMERS = load_spec(SPEC_DIR / "customers.yaml")
KEY = b"test-key-0123456789"
DAY = "2026-11-01"
GOOD = {
    "order_id": "ORD-00000001",
    "line_number": "1",
    "customer_id": "CUST-000001",
    "product_id": "PRD-00001",
    "quantity": "2",
    "unit_price_inr": "100.50",
    "status": "placed",
    "channel": "web",
    "order_ts": "2026-11-01T10:00:00+05:30",
    "updated_at": "2026-11-01T10:00:00+05:30",
}


def raw_table(rows: list[dict], day: str = DAY, file: str = "orders/2026-11-01/a.csv") -> pa.Table:
    n = len(rows)
    table = pa.Table.from_pylist(rows, schema=pa.schema([(k, pa.string()) for k in rows[0]]))
    return (
        table.append_column("_source_line", pa.array(range(2, n + 2), pa.int64()))
        .append_column("_raw_record", pa.nulls(n, pa.string()))
        .append_column("_file_rejected", pa.nulls(n, pa.string()))
        .append_column("_source_file", pa.array([file] * n))
        .append_column("_partition_date", pa.array([day] * n))
    )


def run(rows: list[dict], spec=ORDERS, keys=(DAY,)):
    return stage(raw_table(rows), spec, list(keys), KEY, "Asia/Kolkata")


def test_each_defect_lands_in_quarantine_with_its_reason_and_column():
    rows = [
        GOOD,
        {**GOOD, "order_id": "null"},
        {**GOOD, "order_id": "ORD-00000002", "quantity": "-3"},
        {**GOOD, "order_id": "ORD-00000003", "order_ts": "yesterday"},
        {**GOOD, "order_id": "ORD-00000004", "order_ts": "2026-11-02T10:00:00+05:30"},
        {**GOOD, "order_id": "ORD-00000005", "status": "lost"},
        {**GOOD, "order_id": "ORD-6"},
    ]
    result = run(rows)
    got = {(r["_source_line"], r["_reason"], r["_column"]) for r in result.quarantined.to_pylist()}
    assert got == {
        (3, "null_violation", "order_id"),
        (4, "out_of_range", "quantity"),
        (5, "type_mismatch", "order_ts"),
        (6, "event_time_outside_partition", "order_ts"),
        (7, "not_allowed", "status"),
        (8, "pattern_mismatch", "order_id"),
    }
    assert result.staged.column("order_id").to_pylist() == ["ORD-00000001"]
    stats = result.stats[DAY]
    assert (stats.read, stats.staged, sum(stats.quarantined.values())) == (7, 1, 6)


def test_a_row_failing_two_checks_is_quarantined_once_for_its_first_column():
    result = run([{**GOOD, "order_id": "bad", "quantity": "-1"}])
    assert result.quarantined.num_rows == 1
    assert result.quarantined.column("_column").to_pylist() == ["order_id"]


def test_exact_copies_drop_to_one_and_the_latest_version_of_a_key_wins():
    newer = {**GOOD, "status": "shipped", "updated_at": "2026-11-01T12:00:00+05:30"}
    result = run([GOOD, GOOD, newer])
    assert result.staged.column("status").to_pylist() == ["shipped"]
    stats = result.stats[DAY]
    assert (stats.exact_duplicates, stats.superseded, stats.staged) == (1, 1, 1)


def by_source(table: pa.Table) -> pa.Table:
    """The rows by file and line: staging promises no order of the staged rows."""
    return table.sort_by([("_source_file", "ascending"), ("_source_line", "ascending")])


def test_rows_alone_on_their_key_stage_untouched_among_deduplicated_ones():
    alone = [{**GOOD, "order_id": f"ORD-0000010{n}"} for n in range(3)]
    newer = {**GOOD, "status": "shipped", "updated_at": "2026-11-01T12:00:00+05:30"}
    result = run([alone[0], GOOD, alone[1], GOOD, newer, alone[2]])
    staged = [(r["order_id"], r["status"], r["_source_line"]) for r in result.staged.to_pylist()]
    # Staging keeps no row order (the lake write sorts nothing): compare by line.
    assert sorted(staged, key=lambda r: r[2]) == [
        ("ORD-00000100", "placed", 2),
        ("ORD-00000101", "placed", 4),
        ("ORD-00000001", "shipped", 6),
        ("ORD-00000102", "placed", 7),
    ]
    stats = result.stats[DAY]
    assert (stats.read, stats.exact_duplicates, stats.superseded, stats.staged) == (6, 1, 1, 4)


def test_a_tie_on_the_latest_column_is_broken_by_source_line():
    tied = {**GOOD, "status": "shipped"}
    result = run([GOOD, tied])
    assert result.staged.column("status").to_pylist() == ["shipped"]
    assert result.staged.column("_source_line").to_pylist() == [3]


def test_files_order_by_name_whatever_their_lines_and_the_staged_rows_name_theirs():
    tied, copy = {**GOOD, "status": "shipped"}, {**GOOD, "order_id": "ORD-00000002"}
    # Line numbers point the other way from the names: only the file's name may decide.
    early = raw_table([tied, copy, copy], file="orders/2026-11-01/a.csv")
    early = early.set_column(
        early.schema.get_field_index("_source_line"), "_source_line", [[90, 91, 92]]
    )
    late = raw_table([GOOD, copy], file="orders/2026-11-01/b.csv")
    result = stage(pa.concat_tables([late, early]), ORDERS, [DAY], KEY, "Asia/Kolkata")
    rows = [(r["order_id"], r["status"], r["_source_file"], r["_source_line"]) for r in
            by_source(result.staged).to_pylist()]  # fmt: skip
    assert rows == [
        # The first copy, by file name then line, is the one kept.
        ("ORD-00000002", "placed", "orders/2026-11-01/a.csv", 91),
        # A tie on updated_at goes to the later file, though its line comes first.
        ("ORD-00000001", "placed", "orders/2026-11-01/b.csv", 2),
    ]
    stats = result.stats[DAY]
    assert (stats.exact_duplicates, stats.superseded, stats.staged) == (2, 1, 2)


def test_values_are_trimmed_and_null_tokens_become_null():
    result = run([{**GOOD, "order_id": "  ORD-00000001 ", "channel": " N/A "}])
    row = result.staged.to_pylist()[0]
    assert row["order_id"] == "ORD-00000001"
    assert row["channel"] is None


def test_typed_columns_carry_the_spec_types():
    schema = run([GOOD]).staged.schema
    assert schema.field("line_number").type == pa.int64()
    assert schema.field("unit_price_inr").type == pa.decimal128(18, 2)
    assert pa.types.is_timestamp(schema.field("order_ts").type)


def test_an_unparseable_record_is_quarantined_whole():
    unparsed = raw_table([dict.fromkeys(GOOD)])
    unparsed = unparsed.set_column(
        unparsed.schema.get_field_index("_source_line"), "_source_line", pa.array([9], pa.int64())
    ).set_column(unparsed.schema.get_field_index("_raw_record"), "_raw_record", pa.array(["x,y"]))
    result = stage(
        pa.concat_tables([raw_table([GOOD]), unparsed]), ORDERS, [DAY], KEY, "Asia/Kolkata"
    )
    assert result.quarantined.column("_reason").to_pylist() == ["unparseable_record"]
    assert result.quarantined.column("_raw_record").to_pylist() == ["x,y"]
    assert result.staged.num_rows == 1


CUSTOMER = {
    "customer_id": "CUST-000001",
    "name": "Asha Verma",
    "email": "asha.verma@example.in",
    "phone": "+919876543210",
    "pan": "ABCPV1234K",
    "city": "Pune",
    "state": "Maharashtra",
    "updated_at": "2026-11-01T09:00:00+05:30",
}


def test_pii_is_masked_in_staging_and_quarantine():
    bad_email = {**CUSTOMER, "customer_id": "CUST-000002", "email": "asha@@example"}
    result = run([CUSTOMER, bad_email], spec=CUSTOMERS)
    staged = result.staged.to_pylist()[0]
    assert staged["email"] == hmac_token("asha.verma@example.in", KEY)
    assert staged["name"] == hmac_token("Asha Verma", KEY)
    assert staged["phone"] == "XXXXXXXXX3210"
    quarantined = result.quarantined.to_pylist()[0]
    assert quarantined["_reason"] == "pattern_mismatch"
    assert quarantined["email"] == hmac_token("asha@@example", KEY)
    values = {
        v
        for row in result.staged.to_pylist() + result.quarantined.to_pylist()
        for v in row.values()
    }
    for raw_value in (
        "Asha Verma",
        "asha.verma@example.in",
        "asha@@example",
        "+919876543210",
        "ABCPV1234K",
    ):
        assert raw_value not in values


def test_a_unique_column_quarantines_the_later_holder_of_a_value(tmp_path):
    spec = CUSTOMERS.model_copy(
        update={
            "columns": [
                c.model_copy(update={"checks": c.checks.model_copy(update={"unique": True})})
                if c.name == "email"
                else c
                for c in CUSTOMERS.columns
            ]
        }
    )
    result = run([CUSTOMER, {**CUSTOMER, "customer_id": "CUST-000002"}], spec=spec)
    assert result.quarantined.column("_reason").to_pylist() == ["duplicate_value"]
    assert result.quarantined.column("customer_id").to_pylist() == ["CUST-000002"]


def test_partitions_without_rows_still_get_balanced_zero_counts():
    result = run([GOOD], keys=(DAY, "2026-11-02"))
    assert result.stats["2026-11-02"].read == 0
    assert all(s.balanced for s in result.stats.values())


def test_staging_twice_gives_identical_rows():
    rows = [GOOD, GOOD, {**GOOD, "order_id": "ORD-00000009"}]
    assert run(rows).staged.equals(run(rows).staged)


def test_an_unknown_time_zone_is_refused_before_sql():
    with pytest.raises(Exception, match="No time zone"):
        stage(raw_table([GOOD]), ORDERS, [DAY], KEY, "Mars/Olympus'; drop")


def with_rules(*rules: dict):
    return ORDERS.model_copy(update={"rules": [Rule(**r) for r in rules]})


def test_an_error_rule_quarantines_the_rows_that_break_it():
    spec = with_rules({"name": "big_order", "expression": "quantity * unit_price_inr <= 1000"})
    result = run([GOOD, {**GOOD, "order_id": "ORD-00000002", "quantity": "20"}], spec=spec)
    assert result.quarantined.select(["order_id", "_reason", "_column", "_check"]).to_pylist() == [
        {
            "order_id": "ORD-00000002",
            "_reason": "rule_violation",
            "_column": "big_order",
            "_check": "quantity * unit_price_inr <= 1000",
        }
    ]
    assert result.staged.num_rows == 1


def test_a_warn_rule_stages_the_row_and_counts_it():
    spec = with_rules({"name": "small", "expression": "quantity <= 5", "severity": "warn"})
    rows = [GOOD, {**GOOD, "order_id": "ORD-00000002", "quantity": "9"}]
    result = run(rows, spec=spec)
    assert result.staged.num_rows == 2
    assert result.rule_warnings == {DAY: {"small": 1}}


def many_orders(n: int) -> pa.Table:
    """`n` raw order lines over one file: every 7th an exact copy of the one before, every
    13th a negative quantity, so dedup and quarantine both have work."""
    ids = [f"ORD-{i - (i % 7 == 0):08d}" for i in range(1, n + 1)]
    columns = {name: pa.array([value] * n) for name, value in GOOD.items()}
    columns["order_id"] = pa.array(ids)
    columns["quantity"] = pa.array(["-1" if i % 13 == 0 else "2" for i in range(1, n + 1)])
    table = raw_table([GOOD])
    return pa.table(
        {
            **columns,
            "_source_line": pa.array(range(2, n + 2), pa.int64()),
            **{name: pa.repeat(table[name][0], n) for name in table.schema.names[-4:]},
        }
    )


def test_a_budget_small_enough_to_spill_stages_the_same_rows(monkeypatch):
    raw = many_orders(600_000)  # spills ~25 MB at 96 MB
    roomy = stage(raw, ORDERS, [DAY], KEY, "Asia/Kolkata")
    monkeypatch.setenv("ETL_STAGING_MEMORY", "96MB")
    tight = stage(raw, ORDERS, [DAY], KEY, "Asia/Kolkata")
    assert tight.stats == roomy.stats and tight.stats[DAY].balanced
    assert tight.staged.num_rows > 400_000 and tight.quarantined.num_rows > 40_000
    assert by_source(tight.staged).equals(by_source(roomy.staged))
    assert tight.quarantined.equals(roomy.quarantined)


def _limit(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_while_its_rows_stream_out_the_scratch_database_leaves_the_insert_its_share(
    monkeypatch,
):
    monkeypatch.setenv("ETL_STAGING_MEMORY", "400MB")
    with open_staging(raw_table([GOOD]), ORDERS, [DAY], KEY, "Asia/Kolkata") as staging:
        con = staging._con
        before = _limit(con)
        with staging.streaming():
            during = _limit(con)
            staged = staging.staged().read_all()
        after = _limit(con)
        quarantined = staging.quarantined().read_all()
    # DuckDB reports limits in MiB: 400 MB is 381.4 MiB, a quarter of it 95.3 MiB.
    assert (before, during, after) == ("381.4 MiB", "95.3 MiB", "381.4 MiB")
    assert staged.num_rows == 1 and quarantined.num_rows == 0
