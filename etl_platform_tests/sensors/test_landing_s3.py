import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import dagster as dg

from etl_platform.assets.factory import build_source
from etl_platform.ingest import ledger
from etl_platform.ingest.landing import S3LandingZone
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse
from etl_platform.sensors.landing_cursor import MAX_FILES_PER_TICK, MAX_RUNS_PER_TICK, LandingCursor
from etl_platform.sources.model import SPEC_DIR, load_spec
from etl_platform_tests.conftest import S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
SENSOR = build_source(ORDERS).sensor
BODY = b"order_id\nORD-00000001\n"


def zone(endpoint: str, bucket: str) -> S3LandingZone:
    return S3LandingZone(
        bucket=bucket,
        prefix="landing",
        endpoint_url=endpoint,
        region=S3_REGION,
        access_key_id=S3_ACCESS_KEY_ID,
        secret_access_key=S3_SECRET_ACCESS_KEY,
    )


def put(endpoint: str, bucket: str, objects: dict[str, bytes]) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY_ID,
        aws_secret_access_key=S3_SECRET_ACCESS_KEY,
    )
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda kv: s3.put_object(Bucket=bucket, Key=f"landing/{kv[0]}", Body=kv[1]),
                objects.items(),
            )
        )


def evaluate(landing, cursor, instance):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": landing}
    )
    return SENSOR(context)


from etl_platform_tests.sensors.test_landing import requested  # noqa: E402


def files_of(result) -> int:
    return sum(int(r.tags["etl/files"]) for r in result.run_requests)


def run_until_idle(landing, cursor, instance, ticks: int = 10):
    """Every tick's result up to and including the first that requests nothing."""
    results = []
    for _ in range(ticks):
        results.append(evaluate(landing, cursor, instance))
        cursor = results[-1].cursor
        if not results[-1].run_requests:
            return results
    raise AssertionError(f"still proposing after {ticks} ticks")


def next_second() -> None:
    """Wait for the next wall-clock second: S3 stamps objects to the second."""
    time.sleep(1.02 - time.time() % 1)


def test_more_than_a_thousand_objects_are_each_proposed_once_across_capped_ticks(
    s3_server, s3_bucket
):
    objects = {
        f"orders/2026-11-0{day}/part-{i:04d}.csv": BODY for day in (1, 2, 3) for i in range(350)
    }
    put(s3_server, s3_bucket, objects)
    landing = zone(s3_server, s3_bucket)
    with dg.DagsterInstance.ephemeral() as instance:
        results = run_until_idle(landing, None, instance)
    assert [files_of(r) for r in results] == [500, 500, 50, 0]
    seen = LandingCursor.parse(results[-1].cursor).seen
    assert set(seen) == set(objects)  # 1,050 proposals, 1,050 distinct keys: each exactly once
    listed = {f.key: f.etag for f in landing.list_files("orders", "*.csv")}
    assert {key: etag for key, (etag, _) in seen.items()} == listed


def test_objects_of_the_same_second_are_neither_skipped_nor_proposed_twice(s3_server, s3_bucket):
    landing = zone(s3_server, s3_bucket)
    next_second()
    put(s3_server, s3_bucket, {"orders/2026-11-01/b.csv": BODY})
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(landing, None, instance)
        # a.csv sorts before the watermark's key in the same second: a bare watermark skips it.
        put(
            s3_server, s3_bucket, {"orders/2026-11-01/a.csv": BODY, "orders/2026-11-02/c.csv": BODY}
        )
        second = evaluate(landing, first.cursor, instance)
        third = evaluate(landing, second.cursor, instance)
    assert len({f.mtime_ns for f in landing.list_files("orders", "*.csv")}) == 1
    assert requested(second) == [
        ("2026-11-01", "1"),
        ("2026-11-02", "1"),
    ]
    assert files_of(first) == 1 and third.run_requests == []


def test_an_object_overwritten_with_new_content_is_proposed_again(s3_server, s3_bucket):
    landing = zone(s3_server, s3_bucket)
    put(s3_server, s3_bucket, {"orders/2026-11-01/a.csv": BODY})
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(landing, None, instance)
        put(s3_server, s3_bucket, {"orders/2026-11-01/a.csv": BODY + b"ORD-00000002\n"})
        second = evaluate(landing, first.cursor, instance)
        third = evaluate(landing, second.cursor, instance)
    assert files_of(first) == files_of(second) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert third.run_requests == []


def test_a_byte_identical_reupload_is_not_proposed_again(s3_server, s3_bucket):
    landing = zone(s3_server, s3_bucket)
    put(s3_server, s3_bucket, {"orders/2026-11-01/a.csv": BODY})
    (before,) = landing.list_files("orders", "*.csv")
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(landing, None, instance)
        next_second()
        put(s3_server, s3_bucket, {"orders/2026-11-01/a.csv": BODY})
        (after,) = landing.list_files("orders", "*.csv")
        second = evaluate(landing, first.cursor, instance)
    assert after.etag == before.etag and after.mtime_ns > before.mtime_ns
    assert files_of(first) == 1 and second.run_requests == []
    # The entry takes the new stamp, so it outlives the lookback as long as the uploads go on.
    assert LandingCursor.parse(second.cursor).seen[after.key] == (after.etag, after.mtime_ns)


def test_a_zero_byte_object_is_ignored_until_it_has_content(s3_server, s3_bucket):
    landing = zone(s3_server, s3_bucket)
    put(s3_server, s3_bucket, {"orders/2026-11-01/a.csv": b""})
    with dg.DagsterInstance.ephemeral() as instance:
        empty = evaluate(landing, None, instance)
        put(s3_server, s3_bucket, {"orders/2026-11-01/a.csv": BODY})
        filled = evaluate(landing, empty.cursor, instance)
    assert empty.run_requests == [] and LandingCursor.parse(empty.cursor).seen == {}
    assert requested(filled) == [("2026-11-01", "1")]


def _raw_runs(landing, warehouse, result, run: str) -> dict[str, str | None]:
    """What the raw runs of the requests would load: each day's files through the ledger."""
    decisions = {}
    for request in result.run_requests:
        days = list(json.loads(request.tags["etl/files_by_day"]))
        files = landing.files_for("orders", "*.csv", days)
        hashed = [(f, landing.sha256(f.key)) for f in files]
        for d in ledger.register(warehouse, "orders", hashed, f"{run}-{days[0]}"):
            decisions[d.file.key] = d.duplicate_of
    return decisions


def test_a_reset_cursor_proposes_everything_again_and_nothing_loads_twice(
    s3_server, s3_bucket, tmp_path
):
    landing = zone(s3_server, s3_bucket)
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    put(
        s3_server,
        s3_bucket,
        {
            "orders/2026-11-01/a.csv": BODY,
            "orders/2026-11-01/b.csv": BODY + b"ORD-00000002\n",
            "orders/2026-11-02/a-again.csv": BODY,  # a.csv delivered again under another key
        },
    )
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(landing, None, instance)
        loaded_first = _raw_runs(landing, warehouse, first, "first")
        reset = evaluate(landing, None, instance)
        loaded_again = _raw_runs(landing, warehouse, reset, "again")
    assert files_of(reset) == files_of(first) == 3
    # The same files give the same run keys: the daemon would not even launch these runs again.
    assert [r.run_key for r in reset.run_requests] == [r.run_key for r in first.run_requests]
    expected = {
        "orders/2026-11-01/a.csv": None,
        "orders/2026-11-01/b.csv": None,
        "orders/2026-11-02/a-again.csv": "orders/2026-11-01/a.csv",
    }
    # A re-run replaces its day with the same files; the copy is skipped both times.
    assert loaded_first == loaded_again == expected
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT file_key, status FROM _etl.file_ledger ORDER BY file_key"
        ).fetchall()
    assert rows == [
        ("orders/2026-11-01/a.csv", "loaded"),
        ("orders/2026-11-01/b.csv", "loaded"),
        ("orders/2026-11-02/a-again.csv", "duplicate"),
    ]


def test_a_tick_stays_within_its_caps_on_a_burst_over_many_days(s3_server, s3_bucket):
    days = [f"2026-09-{d:02d}" for d in range(1, 31)] + [f"2026-10-{d:02d}" for d in range(1, 31)]
    objects = {f"orders/{day}/f{i:02d}.csv": BODY for day in days for i in range(9)}
    put(s3_server, s3_bucket, objects)
    landing = zone(s3_server, s3_bucket)
    with dg.DagsterInstance.ephemeral() as instance:
        results = run_until_idle(landing, None, instance)
    for result in results:
        assert files_of(result) <= MAX_FILES_PER_TICK
        assert len(result.run_requests) <= MAX_RUNS_PER_TICK
    covered = [day for res in results for day, _ in requested(res)]
    assert sum(files_of(r) for r in results) == 540
    assert sorted(set(covered)) == days
    assert len(results) >= 3  # 540 files or 60 days cannot fit in one tick
