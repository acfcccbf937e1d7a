import dagster as dg

from etl_platform.definitions import defs
from etl_platform.sensors.curated import stale_days

SOURCES = ("customers", "orders", "payments", "products")
BUILT = dg.AssetKey(["curated", "fct_order_lines"])


def materialize(instance: dg.DagsterInstance, key: dg.AssetKey, day: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))


def evaluate(instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    sensor = defs.resolve_sensor_def("curated_sensor")
    result = sensor(dg.build_sensor_context(instance=instance))
    return list(result.run_requests or [])


def test_a_day_is_built_once_all_its_staging_tables_exist_and_again_after_a_change():
    with dg.DagsterInstance.ephemeral() as instance:
        for source in SOURCES[:3]:
            materialize(instance, dg.AssetKey(["staging", source]), "2026-11-01")
        assert evaluate(instance) == []  # products for the day has not landed yet

        materialize(instance, dg.AssetKey(["staging", "products"]), "2026-11-01")
        first = evaluate(instance)
        assert [r.partition_key for r in first] == ["2026-11-01"]
        assert evaluate(instance)[0].run_key == first[0].run_key  # same state, same run key

        materialize(instance, BUILT, "2026-11-01")
        assert evaluate(instance) == []

        materialize(instance, dg.AssetKey(["staging", "orders"]), "2026-11-01")  # a late file
        again = evaluate(instance)
        assert [r.partition_key for r in again] == ["2026-11-01"]
        assert again[0].run_key != first[0].run_key


def test_stale_days_are_the_complete_days_newer_than_their_build_oldest_first():
    inputs = [{"d1": 1, "d2": 5, "d3": 7}, {"d1": 2, "d2": 6}]
    assert stale_days(inputs, built={"d1": 3}) == ["d2"]
    assert stale_days(inputs, built={}) == ["d1", "d2"]
    assert stale_days(inputs, built={}, limit=1) == ["d1"]
    assert stale_days([], built={}) == []
