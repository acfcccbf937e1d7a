import threading

import duckdb
import pyarrow as pa
import pytest

from etl_platform.io.read_ahead import read_ahead

SCHEMA = pa.schema([("v", pa.int64())])


def numbered(count: int, fail_at: int | None = None, produced: list[int] | None = None):
    def batches():
        for i in range(count):
            if i == fail_at:
                raise ValueError(f"batch {i} is broken")
            if produced is not None:
                produced.append(i)
            yield pa.record_batch([pa.array([i, i])], schema=SCHEMA)

    return pa.RecordBatchReader.from_batches(SCHEMA, batches())


def test_batches_arrive_in_order_and_all_of_them():
    with read_ahead(numbered(50)) as reader:
        out = reader.read_all()
    assert out.column("v").to_pylist() == [i for i in range(50) for _ in range(2)]


def test_the_batches_are_produced_by_another_thread():
    seen: list[str] = []

    def batches():
        for i in range(3):
            seen.append(threading.current_thread().name)
            yield pa.record_batch([pa.array([i])], schema=SCHEMA)

    with read_ahead(pa.RecordBatchReader.from_batches(SCHEMA, batches())) as reader:
        reader.read_all()
    assert seen == ["read-ahead"] * 3


def test_an_error_while_producing_reaches_the_consumer():
    with pytest.raises(ValueError, match="batch 3 is broken"), read_ahead(numbered(10, 3)) as r:
        r.read_all()


def test_a_consumer_that_stops_early_stops_the_producer():
    produced: list[int] = []
    with read_ahead(numbered(1000, produced=produced), depth=1) as reader:
        first = reader.read_next_batch()
    assert first.column("v").to_pylist() == [0, 0]
    assert len(produced) <= 3  # the one consumed, the one in its slot, the one being offered
    assert not any(t.name == "read-ahead" for t in threading.enumerate())


def test_a_duckdb_insert_reads_the_stream_to_the_end_and_sees_its_errors():
    con = duckdb.connect()
    with read_ahead(numbered(20)) as reader:
        con.register("incoming", reader)
        con.execute("CREATE TABLE t AS SELECT * FROM incoming")
    assert con.execute("SELECT count(*), sum(v) FROM t").fetchall() == [(40, 2 * sum(range(20)))]
    with read_ahead(numbered(20, fail_at=7)) as reader:
        con.register("broken", reader)
        with pytest.raises(duckdb.Error, match="batch 7 is broken"):
            con.execute("CREATE TABLE u AS SELECT * FROM broken")
