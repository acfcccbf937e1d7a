import os

import dagster as dg
import pytest

from etl_platform.assets.factory import build_source
from etl_platform.ingest.landing import LocalLandingZone
from etl_platform.sources.model import SPEC_DIR, load_spec

ORDERS = load_spec(SPEC_DIR / "orders.yaml")


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


def test_the_sensor_requests_each_new_file_once_on_a_real_instance(tmp_path):
    landing = LocalLandingZone(root=str(tmp_path))
    source = build_source(ORDERS)
    second = 10**9
    land(tmp_path, "2026-11-01", "a.csv", 100 * second)
    land(tmp_path, "2026-11-01", "b.csv", 100 * second)  # same clock tick as a.csv
    land(tmp_path, "2026-11-02", "c.csv", 101 * second)
    land(tmp_path, "2026-11-02", "ignored.txt", 101 * second)
    land(tmp_path, "2026-11-03", "in_progress.csv", 101 * second, body="")

    with dg.DagsterInstance.ephemeral() as instance:
        first = evaluate(source.sensor, instance, landing, None)
        assert [(r.partition_key, r.tags["etl/files"]) for r in first.run_requests] == [
            ("2026-11-01", "2"),
            ("2026-11-02", "1"),
        ]
        again = evaluate(source.sensor, instance, landing, first.cursor)
        assert again.run_requests == []

        land(tmp_path, "2026-11-02", "d.csv", 102 * second)
        land(tmp_path, "2026-11-03", "in_progress.csv", 102 * second)  # now filled
        later = evaluate(source.sensor, instance, landing, first.cursor)
        assert [(r.partition_key, r.tags["etl/files"]) for r in later.run_requests] == [
            ("2026-11-02", "1"),
            ("2026-11-03", "1"),
        ]
        assert evaluate(source.sensor, instance, landing, later.cursor).run_requests == []


def test_a_file_for_a_day_outside_the_partitions_is_not_requested(tmp_path):
    landing = LocalLandingZone(root=str(tmp_path))
    source = build_source(ORDERS)
    land(tmp_path, "1999-01-01", "old.csv", 10**9)
    with dg.DagsterInstance.ephemeral() as instance:
        result = evaluate(source.sensor, instance, landing, None)
    assert result.run_requests == []
    assert result.cursor is not None


def test_a_landing_key_cannot_escape_the_root(tmp_path):
    landing = LocalLandingZone(root=str(tmp_path / "landing"))
    with pytest.raises(ValueError, match="escapes the landing root"):
        landing.local_path("../secrets.txt")
