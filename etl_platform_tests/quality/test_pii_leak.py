from collections import Counter
from datetime import date

import pyarrow as pa

from etl_platform.quality import pii_leak
from etl_platform.quality.pii_leak import (
    LeakAudit,
    MartScan,
    check_no_leak,
    leaked_columns,
    raw_pii_distinct,
)
from etl_platform.transform.stage import stage
from etl_platform_tests.transform.test_stage import CUSTOMER, CUSTOMERS, DAY, KEY, raw_table


def staged_customers(rows):
    raw = raw_table(rows)
    return raw, stage(raw, CUSTOMERS, [DAY], KEY, "Asia/Kolkata")


def test_masked_outputs_leak_nothing():
    raw, result = staged_customers([CUSTOMER, {**CUSTOMER, "customer_id": "CUST-000002"}])
    outcome = check_no_leak(raw, CUSTOMERS, {"staging": result.staged}, [DAY])
    assert outcome.passed
    assert outcome.metadata["pii_columns"] == ["name", "email", "phone", "pan"]


def test_a_raw_email_in_the_wrong_column_is_a_leak_on_its_day():
    raw, result = staged_customers([CUSTOMER])
    index = result.staged.schema.get_field_index("state")
    leaked = result.staged.set_column(index, "state", [[CUSTOMER["email"]]])
    outcome = check_no_leak(raw, CUSTOMERS, {"staging": leaked}, [DAY])
    assert outcome.failing == {DAY: "1 raw PII values found in ['staging.state']"}


def test_free_text_identifiers_are_scrubbed_before_they_can_leak():
    row = {**CUSTOMER, "city": "Pune, call 9876543210"}
    raw, result = staged_customers([row])
    city = result.staged.column("city")[0].as_py()
    assert "9876543210" not in city and city.startswith("Pune, call [mobile:tok_")
    assert result.pii_scrubbed == {"city:mobile": 1}
    assert check_no_leak(raw, CUSTOMERS, {"staging": result.staged}, [DAY]).passed


def test_a_mart_column_holding_a_raw_value_is_found_and_a_clean_one_is_not(warehouse, monkeypatch):
    monkeypatch.setattr(pii_leak, "PROBE_CHUNK", 3)  # four probes: two chunks
    raw = raw_table([CUSTOMER])
    values = raw_pii_distinct(raw, CUSTOMERS)
    assert set(values.to_pylist()) == {CUSTOMER[c] for c in ("name", "email", "phone", "pan")}
    mart = pa.table(
        {
            "city": ["Pune", "Pune", CUSTOMER["pan"]],
            "note": [CUSTOMER["email"], CUSTOMER["phone"], "clean"],
            "n": [1, 2, 3],
        }
    )
    warehouse.replace_partitions("curated", "dim", mart, None)
    assert leaked_columns(warehouse, [MartScan("curated", "dim")], values) == {
        ("curated", "dim"): {"note": 2, "city": 1}
    }
    clean = mart.set_column(0, "city", [["Pune"] * 3]).set_column(1, "note", [["clean"] * 3])
    warehouse.replace_partitions("curated", "dim", clean, None)
    assert leaked_columns(warehouse, [MartScan("curated", "dim")], values) == {
        ("curated", "dim"): {}
    }


def test_a_daily_mart_is_probed_on_the_window_s_days_and_a_dimension_whole(warehouse):
    values = pa.array([CUSTOMER["email"], CUSTOMER["pan"]])
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    # A leak on each day: the window is the middle day, inclusive on both ends.
    fact = pa.table({"order_date": days, "note": [CUSTOMER["email"]] * 2 + [CUSTOMER["pan"]]})
    dim = pa.table({"note": [CUSTOMER["pan"]]})
    warehouse.replace_partitions("curated", "fact", fact, None)
    warehouse.replace_partitions("curated", "dim", dim, None)
    scans = [MartScan("curated", "fact", "order_date"), MartScan("curated", "dim")]
    assert leaked_columns(warehouse, scans, values, (days[1], days[1])) == {
        ("curated", "fact"): {"note": 1},
        ("curated", "dim"): {"note": 1},
    }
    assert leaked_columns(warehouse, scans, values, (days[1], days[2]))[("curated", "fact")] == {
        "note": 2
    }
    # No window (a run without partitions): every day.
    assert leaked_columns(warehouse, scans, values)[("curated", "fact")] == {"note": 3}


def test_the_curated_probes_are_each_raw_value_once_whatever_its_days():
    other = {**CUSTOMER, "customer_id": "CUST-000002", "name": "NA", "pan": " ABCPV1234K "}
    raw = pa.concat_tables(
        [raw_table([CUSTOMER]), raw_table([other], day="2026-11-02", file="b.csv")]
    )
    values = raw_pii_distinct(raw, CUSTOMERS).to_pylist()
    # The email, phone and trimmed PAN occur on both days; "NA" is a null token, too short anyway.
    assert sorted(values) == sorted(CUSTOMER[c] for c in ("name", "email", "phone", "pan"))


def test_a_hash_candidate_that_is_not_a_raw_value_never_fails_a_day():
    raw, result = staged_customers([CUSTOMER])
    audit = LeakAudit(raw, CUSTOMERS)
    for batch in result.staged.to_batches():
        audit.observe("staging", batch)
    # What a 64-bit hash collision would leave behind: a candidate no raw value confirms.
    audit._candidates[f"{DAY}\x1fnot a raw value"] = Counter({"staging.state": 1})
    assert audit.outcome([DAY]).passed
    audit._candidates[f"{DAY}\x1f{CUSTOMER['email']}"] = Counter({"staging.state": 2})
    assert audit.outcome([DAY]).failing == {DAY: "2 raw PII values found in ['staging.state']"}
