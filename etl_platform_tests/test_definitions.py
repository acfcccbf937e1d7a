import dagster as dg
import pytest

from etl_platform.definitions import defs
from etl_platform.environment import (
    RESOURCE_KEYS,
    Environment,
    NotConfiguredError,
    build_resources,
    current_environment,
)

SOURCES = ("customers", "orders", "payments", "products")
MARTS = (
    "fct_order_lines",
    "fct_payments",
    "dim_customers",
    "daily_revenue_by_category_state",
    "payment_reconciliation",
)


def asset_keys() -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_every_layer_of_every_source_and_every_mart_is_an_asset():
    keys = asset_keys()
    for source in SOURCES:
        assert {f"raw/{source}", f"staging/{source}", f"quarantine/{source}"} <= keys
        assert f"curated/stg_marketplace__{source}" in keys
    assert {f"curated/{m}" for m in MARTS} <= keys


def test_every_asset_is_daily_partitioned_in_the_platform_time_zone():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        partitions = graph.get(key).partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition), key
        assert partitions.timezone == "Asia/Kolkata"


def test_staging_feeds_the_dbt_sources_and_dbt_tests_are_checks():
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["curated", "stg_marketplace__orders"])).parent_keys
    assert parents == {dg.AssetKey(["staging", "orders"])}
    check_targets = {k.asset_key.path[-1] for k in graph.asset_check_keys}
    assert set(MARTS) <= check_targets


def test_each_source_has_a_job_and_a_running_sensor():
    for source in SOURCES:
        assert defs.resolve_job_def(f"ingest_{source}")
        sensor = defs.resolve_sensor_def(f"{source}_landing_sensor")
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_every_environment_names_the_same_resource_keys():
    assert set(build_resources(Environment.LOCAL)) == set(RESOURCE_KEYS)
    assert set(defs.resources) >= set(RESOURCE_KEYS)


def test_prod_is_refused_with_what_it_needs(monkeypatch):
    with pytest.raises(NotConfiguredError, match="PostgreSQL"):
        build_resources(Environment.PROD)
    monkeypatch.setenv("ETL_ENV", "staging-typo")
    with pytest.raises(NotConfiguredError, match="is not an environment"):
        current_environment()


def test_a_relative_data_dir_is_refused(monkeypatch):
    monkeypatch.setenv("ETL_DATA_DIR", "data")
    with pytest.raises(NotConfiguredError, match="absolute"):
        build_resources(Environment.LOCAL)


def test_curated_runs_are_launched_by_a_running_sensor_watching_every_staging_table():
    sensor = defs.resolve_sensor_def("curated_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    job = defs.resolve_job_def("build_curated")
    assert {k.path[0] for k in job.asset_layer.executable_asset_keys} == {"curated", "quality"}
