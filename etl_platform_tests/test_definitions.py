import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from etl_platform.definitions import defs
from etl_platform.environment import (
    DBT_PROJECT_DIR,
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


PROD = {
    "ETL_LANDING_BUCKET": "landing",
    "ETL_LAKE_URI": "s3://lake/raw",
    "ETL_PG_HOST": "127.0.0.1",
    "ETL_PG_USER": "postgres",
    "ETL_PG_DATABASE": "test",
    "ETL_PII_KEY": "a-prod-key-of-enough-length",
}


def test_every_environment_names_the_same_resource_keys_and_its_own_dbt_target(monkeypatch):
    for name, value in PROD.items():
        monkeypatch.setenv(name, value)
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    for environment in Environment:
        resources = build_resources(environment)
        assert set(resources) == set(RESOURCE_KEYS), environment
        assert resources["dbt"].target == environment.value
        assert environment.value in profiles["etl_platform"]["outputs"]
    assert set(defs.resources) >= set(RESOURCE_KEYS)


def test_prod_resources_keep_secrets_out_of_their_config(monkeypatch):
    for name, value in PROD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ETL_PG_PASSWORD", "hunter2-password")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    resources = build_resources(Environment.PROD)
    assert isinstance(resources["pii"].secret, dg.EnvVar)
    assert isinstance(resources["warehouse"].password, dg.EnvVar)
    assert isinstance(resources["landing"].secret_access_key, dg.EnvVar)
    assert "hunter2" not in resources["warehouse"].dsn


def test_prod_without_its_variables_fails_naming_each_of_them(monkeypatch):
    for name in PROD:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(NotConfiguredError) as error:
        build_resources(Environment.PROD)
    for name in PROD:
        assert name in str(error.value)
    monkeypatch.setenv("ETL_ENV", "staging-typo")
    with pytest.raises(NotConfiguredError, match="is not an environment"):
        current_environment()


def test_prod_fails_at_definitions_load_through_the_real_cli():
    env = {k: v for k, v in os.environ.items() if k not in PROD} | {"ETL_ENV": "prod"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
         "-m", "etl_platform.definitions"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "ETL_ENV=prod is not configured: set ETL_LANDING_BUCKET" in result.stdout + result.stderr


def test_loading_the_definitions_imports_no_dbt():
    # dbt runs from its own environment; dagster-dbt would import dbt-core into every run's
    # process (2-3 s, ~40 MB) if it were installed beside the platform.
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, etl_platform.definitions; "
         "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dbt')))"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert loaded.stdout.strip() == "[]", (
        f"{loaded.stdout}: dbt is installed beside the platform (an older .venv?); it runs from "
        ".venv-dbt: `.venv/bin/pip uninstall dbt-core`"
    )


def test_a_relative_data_dir_is_refused(monkeypatch):
    monkeypatch.setenv("ETL_DATA_DIR", "data")
    with pytest.raises(NotConfiguredError, match="absolute"):
        build_resources(Environment.LOCAL)


def test_curated_runs_are_launched_by_a_running_sensor_watching_every_staging_table():
    sensor = defs.resolve_sensor_def("curated_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    job = defs.resolve_job_def("build_curated")
    assert {k.path[0] for k in job.asset_layer.executable_asset_keys} == {"curated", "quality"}
