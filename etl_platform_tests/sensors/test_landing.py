import json
import os
import time

import dagster as dg
import pytest

from etl_platform.assets.factory import build_source
from etl_platform.ingest.landing import LocalLandingZone
from etl_platform.partitions import daily_partitions
from etl_platform.sensors.landing import build_landing_sensor
from etl_platform.sensors.landing_cursor import LandingCursor, TickLimits, plan_tick
from etl_platform.sources.model import SPEC_DIR, load_spec

ORDERS = load_spec(SPEC_DIR / "orders.yaml")
SOURCE = build_source(ORDERS)
SENSOR = SOURCE.sensor
SECOND = 10**9
MINUTE = 60 * SECOND


@pytest.fixture
def t0() -> int:
    """A whole second a minute ago: inside the sensor's 15-minute lookback for the whole test."""
    return (time.time_ns() // SECOND - 60) * SECOND


def land(root, day: str, name: str, mtime_ns: int, body: str = "order_id\nORD-00000001\n"):
    path = root / "orders" / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def evaluate(sensor, instance, landing, cursor):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": landing}
    )
    return sensor(context)


def sensor_with(partitions=None, **limits):
    return build_landing_sensor(
        ORDERS, SOURCE.ingest, partitions or daily_partitions(), TickLimits(**limits)
    )


def requested(result) -> list[tuple[str, str]]:
    """(day, files) for every day the requests cover, whether one day or a range."""
    return [
        (day, str(n))
        for r in result.run_requests
        for day, n in json.loads(r.tags["etl/files_by_day"]).items()
    ]


def test_the_sensor_requests_each_new_file_once_on_a_real_instance(tmp_path, t0):
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-01", "a.csv", t0)
    land(tmp_path, "2026-11-01", "b.csv", t0)  # same clock tick as a.csv
    land(tmp_path, "2026-11-02", "c.csv", t0 + SECOND)
    land(tmp_path, "2026-11-02", "ignored.txt", t0 + SECOND)
    land(tmp_path, "2026-11-03", "in_progress.csv", t0 + SECOND, body="")

    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(SENSOR, instance, landing, None)
        assert requested(first) == [("2026-11-01", "2"), ("2026-11-02", "1")]
        again = evaluate(SENSOR, instance, landing, first.cursor)
        assert again.run_requests == []

        land(tmp_path, "2026-11-02", "d.csv", t0 + 2 * SECOND)
        land(tmp_path, "2026-11-03", "in_progress.csv", t0 + 2 * SECOND)  # now filled
        later = evaluate(SENSOR, instance, landing, first.cursor)
        assert requested(later) == [("2026-11-02", "1"), ("2026-11-03", "1")]
        assert evaluate(SENSOR, instance, landing, later.cursor).run_requests == []


def test_a_file_for_a_day_outside_the_partitions_is_not_requested(tmp_path):
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "1999-01-01", "old.csv", 10**9)
    with dg.DagsterInstance.ephemeral() as instance:
        result = evaluate(SENSOR, instance, landing, None)
        assert result.run_requests == []
        # Skipped once, not retried on every tick.
        assert evaluate(SENSOR, instance, landing, result.cursor).run_requests == []
    assert LandingCursor.parse(result.cursor).key == "orders/1999-01-01/old.csv"


def test_a_landing_key_cannot_escape_the_root(tmp_path):
    landing = LocalLandingZone(root=str(tmp_path / "landing"))
    with pytest.raises(ValueError, match="escapes the landing root"):
        landing.local_path("../secrets.txt")


def test_a_file_of_the_same_clock_tick_with_a_smaller_key_landing_later_is_proposed(tmp_path, t0):
    # A bare (mtime, key) watermark skipped a.csv: it sorts before b.csv, which was already seen.
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-01", "b.csv", t0)
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(SENSOR, instance, landing, None)
        land(tmp_path, "2026-11-01", "a.csv", t0)
        second = evaluate(SENSOR, instance, landing, first.cursor)
        assert requested(second) == [("2026-11-01", "1")]
        assert evaluate(SENSOR, instance, landing, second.cursor).run_requests == []


def test_an_overwrite_with_new_content_is_proposed_again_even_at_the_same_mtime(tmp_path, t0):
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-01", "a.csv", t0)
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(SENSOR, instance, landing, None)
        land(tmp_path, "2026-11-01", "a.csv", t0, body="order_id\nORD-00000002\nX\n")
        second = evaluate(SENSOR, instance, landing, first.cursor)
        assert requested(second) == [("2026-11-01", "1")]
        assert second.run_requests[0].run_key != first.run_requests[0].run_key
        assert evaluate(SENSOR, instance, landing, second.cursor).run_requests == []


def test_a_late_file_stamped_inside_the_lookback_is_caught_and_one_older_is_not(tmp_path, t0):
    # S3 stamps a multipart upload with its start time, so it appears behind newer files.
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-02", "new.csv", t0)
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(SENSOR, instance, landing, None)
        land(tmp_path, "2026-11-01", "late.csv", t0 - 10 * MINUTE)
        land(tmp_path, "2026-11-01", "too_late.csv", t0 - 60 * MINUTE)
        second = evaluate(SENSOR, instance, landing, first.cursor)
        assert requested(second) == [("2026-11-01", "1")]
        assert set(LandingCursor.parse(second.cursor).seen) == {
            "orders/2026-11-02/new.csv",
            "orders/2026-11-01/late.csv",
        }
        assert evaluate(SENSOR, instance, landing, second.cursor).run_requests == []


def test_a_quiet_cursor_forgets_its_entries_once_the_lookback_has_passed(tmp_path, t0):
    # Dagster stores the cursor on every tick: a burst must not stay in it for a quiet week.
    landing = LocalLandingZone(root=str(tmp_path))
    for i in range(20):
        land(tmp_path, "2026-11-01", f"f{i:02d}.csv", t0 + i * SECOND)
    files = landing.list_files("orders", "*.csv")
    limits, days = TickLimits(), ["2026-11-01"]
    busy = plan_tick(files, LandingCursor(), days, limits, now_ns=t0 + MINUTE)
    assert len(busy.proposed) == 20 and len(busy.cursor.seen) == 20
    quiet = plan_tick(files, busy.cursor, days, limits, now_ns=t0 + 16 * MINUTE)
    assert quiet.proposed == [] and quiet.cursor.seen == {}
    assert (quiet.cursor.mtime_ns, quiet.cursor.key) == (
        t0 + 19 * SECOND,
        "orders/2026-11-01/f19.csv",
    )
    assert len(quiet.cursor.dumps()) < 200
    land(tmp_path, "2026-11-01", "f00.csv", t0 + 16 * MINUTE, body="order_id\nORD-00000009\n")
    overwrite = plan_tick(
        landing.list_files("orders", "*.csv"), quiet.cursor, days, limits, now_ns=t0 + 17 * MINUTE
    )
    assert [f.key for f in overwrite.proposed] == ["orders/2026-11-01/f00.csv"]


def test_a_file_stamped_in_the_future_does_not_hide_the_files_landing_now(tmp_path, t0):
    # A watermark-anchored window skipped every file until the wrong stamp's time came.
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-01", "future.csv", t0 + 365 * 24 * 60 * MINUTE)
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(SENSOR, instance, landing, None)
        land(tmp_path, "2026-11-02", "now.csv", t0 + SECOND)
        second = evaluate(SENSOR, instance, landing, first.cursor)
    assert requested(first) == [("2026-11-01", "1")]
    assert requested(second) == [("2026-11-02", "1")]


def test_a_tick_proposes_at_most_its_caps_and_the_rest_resumes_next_tick(tmp_path, t0):
    landing = LocalLandingZone(root=str(tmp_path))
    for n, day in enumerate(["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]):
        for i in range(3):
            land(tmp_path, day, f"f{i}.csv", t0 + (3 * n + i) * SECOND)
    sensor = sensor_with(max_files=5, max_runs=2)
    ticks, cursor = [], None
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(4):
            result = evaluate(sensor, instance, landing, cursor)
            ticks.append(requested(result))
            cursor = result.cursor
    assert ticks == [
        [("2026-11-01", "3"), ("2026-11-02", "2")],  # the file cap cut day two
        [("2026-11-02", "1"), ("2026-11-03", "3")],  # day four would be a third run
        [("2026-11-04", "3")],
        [],
    ]


def test_a_day_over_the_run_cap_waits_while_later_files_of_a_running_day_go_now(tmp_path, t0):
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-01", "a.csv", t0)
    land(tmp_path, "2026-11-02", "b.csv", t0 + SECOND)
    land(tmp_path, "2026-11-01", "c.csv", t0 + 2 * SECOND)
    sensor = sensor_with(max_runs=1)
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(sensor, instance, landing, None)
        second = evaluate(sensor, instance, landing, first.cursor)
        third = evaluate(sensor, instance, landing, second.cursor)
    assert requested(first) == [("2026-11-01", "2")]
    assert requested(second) == [("2026-11-02", "1")]
    assert third.run_requests == []


def test_the_cursor_stays_within_its_cap_yet_every_file_is_proposed_once(tmp_path, t0):
    landing = LocalLandingZone(root=str(tmp_path))
    keys = {
        land(tmp_path, f"2026-11-0{1 + i % 3}", f"f{i:02d}.csv", t0 + i * SECOND)
        .relative_to(tmp_path)
        .as_posix()
        for i in range(40)
    }
    sensor = sensor_with(max_files=7, max_cursor_entries=10)
    proposed, seen, cursor = 0, set(), None
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(8):
            result = evaluate(sensor, instance, landing, cursor)
            cursor = result.cursor
            proposed += sum(int(r.tags["etl/files"]) for r in result.run_requests)
            state = LandingCursor.parse(cursor)
            assert len(state.seen) <= 10
            seen |= set(state.seen)
    assert proposed == 40
    assert seen == keys


def test_the_same_cursor_gives_the_same_run_keys(tmp_path, t0):
    # The daemon drops a run request whose run_key it already launched: no duplicate runs.
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-01", "a.csv", t0)
    land(tmp_path, "2026-11-03", "b.csv", t0 + SECOND)  # not consecutive: two runs
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(SENSOR, instance, landing, None)
        land(tmp_path, "2026-11-03", "c.csv", t0 + 2 * SECOND)
        reset = evaluate(SENSOR, instance, landing, None)
        later = evaluate(SENSOR, instance, landing, first.cursor)
        later_again = evaluate(SENSOR, instance, landing, first.cursor)
    assert [r.run_key for r in later.run_requests] == [r.run_key for r in later_again.run_requests]
    assert first.run_requests[0].run_key == reset.run_requests[0].run_key  # same day-one files
    assert first.run_requests[1].run_key != reset.run_requests[1].run_key  # day three has c.csv
    assert len({r.run_key for r in first.run_requests + later.run_requests}) == 3


def test_files_for_a_day_that_is_not_yet_a_partition_wait_until_it_is(tmp_path, t0):
    # A day past the last partition (tomorrow, in a time zone ahead) waits; its files are kept.
    landing = LocalLandingZone(root=str(tmp_path))
    before = sensor_with(dg.StaticPartitionsDefinition(["2026-11-01"]))
    after = sensor_with(dg.StaticPartitionsDefinition(["2026-11-01", "2026-11-02"]))
    land(tmp_path, "2026-11-01", "a.csv", t0)
    land(tmp_path, "2026-11-02", "b.csv", t0 + SECOND)
    land(tmp_path, "2026-12-31", "typo.csv", t0 + SECOND)  # past the wait horizon: skipped
    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(before, instance, landing, None)
        assert requested(first) == [("2026-11-01", "1")]
        land(tmp_path, "2026-11-02", "c.csv", t0 + 2 * SECOND)
        second = evaluate(before, instance, landing, first.cursor)
        assert second.run_requests == []
        assert list(LandingCursor.parse(second.cursor).pending) == ["2026-11-02"]
        assert LandingCursor.parse(second.cursor).pending["2026-11-02"][0] == 2
        opened = evaluate(after, instance, landing, second.cursor)
        assert requested(opened) == [("2026-11-02", "2")]
        assert LandingCursor.parse(opened.cursor).pending == {}
        assert evaluate(after, instance, landing, opened.cursor).run_requests == []


def test_a_cursor_of_the_first_format_is_read_as_done_below_its_watermark_tick(tmp_path, t0):
    # Only the watermark's clock tick is proposed again: the old cursor has no etags for it.
    landing = LocalLandingZone(root=str(tmp_path))
    land(tmp_path, "2026-11-01", "a.csv", t0 - SECOND)
    land(tmp_path, "2026-11-01", "b.csv", t0)
    land(tmp_path, "2026-11-02", "c.csv", t0 + SECOND)
    old = json.dumps({"mtime_ns": t0, "key": "orders/2026-11-01/b.csv"})
    with dg.DagsterInstance.ephemeral() as instance:
        result = evaluate(SENSOR, instance, landing, old)
    assert requested(result) == [("2026-11-01", "1"), ("2026-11-02", "1")]
    assert sorted(LandingCursor.parse(result.cursor).seen) == [
        "orders/2026-11-01/b.csv",
        "orders/2026-11-02/c.csv",
    ]


def test_consecutive_days_become_one_range_run_and_a_gap_starts_another(tmp_path, t0):
    landing = LocalLandingZone(root=str(tmp_path))
    for i, day in enumerate(["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"]):
        land(tmp_path, day, "a.csv", t0 + i * SECOND)
    with dg.DagsterInstance.ephemeral() as instance:
        result = evaluate(SENSOR, instance, landing, None)
    ranged, single = result.run_requests
    assert ranged.partition_key is None
    assert ranged.partition_key_range == dg.PartitionKeyRange("2026-11-01", "2026-11-03")
    assert ranged.tags["etl/files"] == "3"
    assert single.partition_key == "2026-11-05"
