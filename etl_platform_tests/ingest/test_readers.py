import json

import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.ingest.readers import file_header, read_batches


def read_all(path, fmt, columns):
    return pa.Table.from_batches(list(read_batches(path, fmt, columns))).to_pylist()


def test_csv_rows_are_read_as_text_with_their_line_numbers(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(" Order_ID ,qty\nA,007\nB,\n")
    rows = read_all(path, "csv", ["order_id", "qty", "missing"])
    assert rows == [
        {"order_id": "A", "qty": "007", "missing": None, "_source_line": 2, "_raw_record": None},
        {"order_id": "B", "qty": "", "missing": None, "_source_line": 3, "_raw_record": None},
    ]


def test_a_csv_row_with_the_wrong_field_count_is_kept_whole(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    rows = read_all(path, "csv", ["a", "b"])
    assert [r["a"] for r in rows] == ["1", "6", None]
    assert rows[-1]["_raw_record"] == "3,4,5"
    assert rows[-1]["_source_line"] == 3


def test_a_csv_header_with_colliding_names_is_still_read_first_name_first(tmp_path):
    # Drift detection rejects such a file; its rows must still reach quarantine, not vanish.
    path = tmp_path / "a.csv"
    path.write_text("amount,Amount ,,x\n1,2,3,4\n")
    rows = read_all(path, "csv", ["amount", "x"])
    assert [(r["amount"], r["x"]) for r in rows] == [("1", "4")]


def test_jsonl_numbers_keep_the_text_they_were_sent_as(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(
        json.dumps({"amount": 1.5, "id": 7}).replace("1.5", "1.50")
        + "\n{broken\n\n"
        + json.dumps({"amount": "2", "nested": [1]})
        + "\n"
    )
    rows = read_all(path, "jsonl", ["amount", "id", "nested"])
    assert rows[0]["amount"] == "1.50"
    assert rows[0]["id"] == "7"
    assert rows[1]["nested"] == '["1"]'
    assert rows[2]["_raw_record"] == "{broken"
    assert rows[2]["_source_line"] == 2
    assert [r["_source_line"] for r in rows[:2]] == [1, 4]


def test_parquet_values_are_read_as_text(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"Price": [1.25, None], "id": ["P1", "P2"]}), path)
    rows = read_all(path, "parquet", ["price", "id"])
    assert [(r["price"], r["id"], r["_source_line"]) for r in rows] == [
        ("1.25", "P1", 1),
        (None, "P2", 2),
    ]
    assert file_header(path, "parquet") == ["Price", "id"]


def test_a_large_csv_streams_in_several_batches(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("a,b\n")
        for i in range(1_000_000):
            handle.write(f"{i},x\n")
    batches = list(read_batches(path, "csv", ["a", "b"]))
    assert len(batches) > 1
    assert sum(b.num_rows for b in batches) == 1_000_000
    assert batches[-1].column("_source_line")[-1].as_py() == 1_000_001
