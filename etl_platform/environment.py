"""The one place that decides the environment (`ETL_ENV`) and builds its resources.

The same assets run everywhere; only what this module returns changes. Resource keys are the same in
every environment, and the dbt target has the environment's name.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import dagster as dg

from etl_platform.ingest.landing import LocalLandingZone, S3LandingZone
from etl_platform.io.dbt_cli import InstalledDbtCliResource
from etl_platform.io.delta_lake import DeltaLakeIOManager
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse, memory_limit
from etl_platform.io.postgres_warehouse import PostgresWarehouse
from etl_platform.io.spark import LOCAL_SETTINGS, SparkResource, session_config
from etl_platform.io.warehouse import WarehouseIOManager
from etl_platform.partitions import platform_timezone
from etl_platform.transform.pii_key import LOCAL_DEVELOPMENT_KEY, PiiKey

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# dbt lives in an environment of its own (`make install`: .venv-dbt, from
# dbt_project/requirements.txt), or wherever ETL_DBT_EXECUTABLE says: dagster-dbt imports dbt-core
# whenever it can, which cost every run's process 2-3 s of start and ~40 MB it never used.
DBT_EXECUTABLE = os.environ.get(
    "ETL_DBT_EXECUTABLE", str(PROJECT_ROOT / ".venv-dbt" / "bin" / "dbt")
)
RESOURCE_KEYS = (
    "landing",
    "warehouse",
    "lake_io_manager",
    "warehouse_io_manager",
    "pii",
    "dbt",
    "spark",
)


class Environment(StrEnum):
    """Where the platform runs."""

    LOCAL = "local"
    PROD = "prod"


class NotConfiguredError(RuntimeError):
    """An environment that lacks what it needs; the message says what to set."""


def current_environment() -> Environment:
    """`ETL_ENV`, default `local`."""
    value = os.environ.get("ETL_ENV", Environment.LOCAL.value)
    try:
        return Environment(value)
    except ValueError:
        choices = ", ".join(e.value for e in Environment)
        raise NotConfiguredError(
            f"ETL_ENV={value!r} is not an environment; use one of {choices}"
        ) from None


def data_dir() -> Path:
    """Root of the local landing zone, lake and warehouse (`ETL_DATA_DIR`, default `./data`).

    Must be absolute when set: dbt runs from `dbt_project/` and resolves the same variable there.
    """
    value = os.environ.get("ETL_DATA_DIR")
    if value is None:
        return PROJECT_ROOT / "data"
    path = Path(value)
    if not path.is_absolute():
        raise NotConfiguredError(f"ETL_DATA_DIR must be an absolute path, got {value!r}")
    return path


def local_resources(root: Path) -> dict[str, Any]:
    """The embedded default's resources, everything under one folder."""
    warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"), memory_limit=memory_limit())
    return {
        "landing": LocalLandingZone(root=str(root / "landing")),
        "warehouse": warehouse,
        "lake_io_manager": DeltaLakeIOManager(root=str(root / "lake")),
        "warehouse_io_manager": WarehouseIOManager(warehouse=warehouse),
        "pii": PiiKey(secret=os.environ.get("ETL_PII_KEY", LOCAL_DEVELOPMENT_KEY)),
        "dbt": InstalledDbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            target="local",
            dbt_executable=DBT_EXECUTABLE,
        ),
        "spark": SparkResource(
            config=session_config("local[*]", platform_timezone(), **LOCAL_SETTINGS)
        ),
    }


# Required in prod; the load fails naming every one that is missing.
PROD_REQUIRED = (
    "ETL_LANDING_BUCKET",
    "ETL_LAKE_URI",
    "ETL_PG_HOST",
    "ETL_PG_USER",
    "ETL_PG_DATABASE",
    "ETL_PII_KEY",
)


def _secret(name: str) -> str | None:
    """An `EnvVar` (resolved at run time, never stored in config) when the variable is set."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def postgres_dsn() -> str:
    """The connection keywords from `ETL_PG_*`, without the password (a secret of its own)."""
    return " ".join(
        [
            f"host={os.environ['ETL_PG_HOST']}",
            f"port={os.environ.get('ETL_PG_PORT', '5432')}",
            f"user={os.environ['ETL_PG_USER']}",
            f"dbname={os.environ['ETL_PG_DATABASE']}",
            "connect_timeout=10",
        ]
    )


def _prod_resources() -> dict[str, Any]:
    missing = [name for name in PROD_REQUIRED if not os.environ.get(name)]
    if missing:
        raise NotConfiguredError(f"ETL_ENV=prod is not configured: set {', '.join(missing)}")
    s3: dict[str, Any] = {
        "endpoint_url": os.environ.get("ETL_S3_ENDPOINT_URL") or None,
        "region": os.environ.get("AWS_REGION", "us-east-1"),
        # Unset keys fall back to the default AWS chain (instance role, profile).
        "access_key_id": _secret("AWS_ACCESS_KEY_ID"),
        "secret_access_key": _secret("AWS_SECRET_ACCESS_KEY"),
    }
    warehouse = PostgresWarehouse(dsn=postgres_dsn(), password=_secret("ETL_PG_PASSWORD"))
    return {
        "landing": S3LandingZone(
            bucket=os.environ["ETL_LANDING_BUCKET"],
            prefix=os.environ.get("ETL_LANDING_PREFIX", ""),
            **s3,
        ),
        "warehouse": warehouse,
        "lake_io_manager": DeltaLakeIOManager(root=os.environ["ETL_LAKE_URI"], **s3),
        "warehouse_io_manager": WarehouseIOManager(warehouse=warehouse),
        "pii": PiiKey(secret=dg.EnvVar("ETL_PII_KEY")),
        "dbt": InstalledDbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            target="prod",
            dbt_executable=DBT_EXECUTABLE,
        ),
        # The cluster decides its own memory and parallelism; only where it is and the zone here.
        "spark": SparkResource(
            config=session_config(
                os.environ.get("ETL_SPARK_MASTER", "local[*]"), platform_timezone()
            )
        ),
    }


def build_resources(environment: Environment) -> dict[str, Any]:
    """The resources of an environment, keyed as `RESOURCE_KEYS`."""
    if environment is Environment.LOCAL:
        return local_resources(data_dir())
    return _prod_resources()
