import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from psycopg import sql
from psycopg.conninfo import make_conninfo

from etl_platform.environment import DBT_EXECUTABLE, DBT_PROJECT_DIR
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse
from etl_platform.io.postgres_warehouse import PostgresWarehouse
from etl_platform.io.warehouse import Warehouse

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"

# pytest-xdist starts its workers as `python -c ...`, whose __main__ has neither __spec__ nor
# __file__. pyspark reads that as "running doctests" and calls sys.exit when it probes for Spark
# Connect (pyspark/sql/connect/utils.py), killing the worker mid-collection. Name the main module.
if not hasattr(sys.modules["__main__"], "__file__"):
    sys.modules["__main__"].__file__ = "<pytest-xdist worker>"


def dbt(
    command: list[str], select: list[str], target: str, target_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess:
    """The real `dbt <command> --select <select>` of the project on `target`.

    Artifacts go to `target_path`; `env` is added to this process's environment (the warehouse's
    location, a window).
    """
    return subprocess.run(
        [DBT_EXECUTABLE, *command, "--select", *select,
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target", target, "--target-path", str(target_path), "--no-use-colors"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The local PostgreSQL server; CI must have it, a laptop may skip the tests that need it."""
    try:
        psycopg.connect(POSTGRES_DSN, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        message = f"PostgreSQL not reachable at 127.0.0.1:5432: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_DSN


# moto accepts any credentials; the S3 tests pass these to every client they build.
S3_REGION = "us-east-1"
S3_ACCESS_KEY_ID = "testing"
S3_SECRET_ACCESS_KEY = "testing"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3 API (moto's server) on a free loopback port: real HTTP, nothing patched."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh, uniquely named bucket, so no test sees another's objects."""
    name = f"test-{uuid.uuid4().hex}"
    boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY_ID,
        aws_secret_access_key=S3_SECRET_ACCESS_KEY,
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture
def postgres_database(postgres_dsn: str) -> Iterator[str]:
    """A database of the test's own, dropped afterwards, so parallel workers never meet."""
    name = f"contract_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(postgres_dsn, dbname=name)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path) -> Warehouse:
    if request.param == "duckdb":
        return DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    return PostgresWarehouse(dsn=request.getfixturevalue("postgres_database"))
