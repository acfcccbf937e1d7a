"""The shipped Dagster instance configs load and work against real storage."""

import shutil

import dagster as dg
import pytest
from psycopg.conninfo import conninfo_to_dict

from etl_platform.environment import PROJECT_ROOT


@pytest.fixture
def dagster_database(postgres_database: str) -> str:
    return conninfo_to_dict(postgres_database)["dbname"]


def test_the_prod_instance_keeps_runs_and_events_in_postgres_with_retries_and_monitoring(
    tmp_path, monkeypatch, dagster_database
):
    shutil.copy(PROJECT_ROOT / "deploy" / "prod" / "dagster.yaml", tmp_path / "dagster.yaml")
    for name, value in {
        "HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres", "PASSWORD": "",
        "DATABASE": dagster_database,
    }.items():  # fmt: skip
        monkeypatch.setenv(f"ETL_DAGSTER_PG_{name}", value)

    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert instance.run_retries_enabled and instance.run_monitoring_enabled
        assert dg.materialize([probe], instance=instance).success
        assert instance.get_latest_materialization_event(dg.AssetKey("probe")) is not None


def test_the_local_instance_limits_warehouse_writers_to_one(tmp_path):
    shutil.copy(PROJECT_ROOT / "deploy" / "local" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
