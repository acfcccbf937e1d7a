"""The production profile end to end: S3 (a real S3 API server) and PostgreSQL give the same
curated tables as the embedded default, from the same demo files, and the dbt unit tests pass on
both warehouses."""

import datetime as dt
import decimal
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import sql

from etl_platform.demo.summary import CURATED
from etl_platform.environment import DBT_PROJECT_DIR
from etl_platform_tests.conftest import dbt

ARGS = ["--days", "2", "--orders-per-day", "300"]


def run_demo(command: str, data_dir, extra_env: dict[str, str]) -> str:
    env = {**os.environ, "ETL_DATA_DIR": str(data_dir), **extra_env}
    env.pop("ETL_ENV", None)
    result = subprocess.run(
        [sys.executable, "-m", "etl_platform.cli", command, *ARGS],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "All counts match the ground-truth manifest." in result.stdout
    return result.stdout


def normalized(value: object) -> str:
    """One text form per value whatever the engine returned it as."""
    if isinstance(value, decimal.Decimal):
        return f"dec:{value.normalize()}"
    if isinstance(value, float):
        return f"float:{value:.9g}"
    if isinstance(value, dt.datetime):
        return f"ts:{value.astimezone(dt.UTC).isoformat()}"
    return f"{type(value).__name__}:{value}"


def fingerprint(rows: list[tuple]) -> tuple[int, str]:
    lines = sorted("|".join(normalized(v) for v in row) for row in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory, postgres_dsn) -> Iterator[tuple[Path, str, str]]:
    """The demo built twice from the same files: embedded (DuckDB), then on S3 and PostgreSQL.

    Yields the data folder (`local/`, `prod/`), the PostgreSQL database, the prod demo's output.
    """
    root = tmp_path_factory.mktemp("demos")
    database = f"etl_demo_{uuid.uuid4().hex[:10]}"
    run_demo("demo", root / "local", {})
    try:
        yield root, database, run_demo("demo-prod", root / "prod", {"ETL_PG_DATABASE": database})
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as con:
            con.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


def test_prod_on_s3_and_postgres_builds_the_same_curated_tables_as_local(built):
    root, database, stdout = built
    assert "2026-11-02  orders" in stdout  # the quality report came from PostgreSQL

    local = duckdb.connect(str(root / "local" / "warehouse.duckdb"), read_only=True)
    tables = [f"curated.{t}" for t in CURATED] + ["staging.orders", "quarantine.customers"]
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}") as pg:
        for table in tables:
            columns = [
                name for name, *_ in local.execute(f"DESCRIBE {table}").fetchall()
                if not name.startswith("_ingested")
            ]  # fmt: skip
            select = f"SELECT {', '.join(columns)} FROM {table}"
            expected = fingerprint(local.execute(select).fetchall())
            assert expected[0] > 0, table
            assert fingerprint(pg.execute(select).fetchall()) == expected, table
    local.close()


@pytest.mark.parametrize("target", ["local", "prod"])
def test_the_dbt_unit_tests_pass_on_both_engines(built, target, tmp_path):
    """The platform's runs leave unit tests out (`curated.BUILD`): here they run, on each engine.

    They need the models' parents to exist, which the demo built.
    """
    root, database, _ = built
    env = {"ETL_DATA_DIR": str(root / target)}
    if target == "prod":
        pg = {"HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres", "DATABASE": database}
        env |= {f"ETL_PG_{name}": value for name, value in pg.items()}
    result = dbt(["test"], ["test_type:unit"], target, tmp_path / "target", env)
    assert result.returncode == 0, result.stdout[-3000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    assert {r["unique_id"] for r in results} == set(manifest["unit_tests"])
    assert {r["status"] for r in results} == {"pass"}
