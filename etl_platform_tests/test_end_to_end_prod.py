"""The production profile end to end: S3 (a real S3 API server) and PostgreSQL give the same
curated tables as the embedded default, from the same demo files."""

import datetime as dt
import decimal
import hashlib
import os
import subprocess
import sys
import uuid

import duckdb
import psycopg
import pytest
from psycopg import sql

from etl_platform.demo.summary import CURATED

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


@pytest.fixture
def prod_database(postgres_dsn):
    name = f"etl_demo_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_prod_on_s3_and_postgres_builds_the_same_curated_tables_as_local(tmp_path, prod_database):
    run_demo("demo", tmp_path / "local", {})
    stdout = run_demo("demo-prod", tmp_path / "prod", {"ETL_PG_DATABASE": prod_database})
    assert "2026-11-02  orders" in stdout  # the quality report came from PostgreSQL

    local = duckdb.connect(str(tmp_path / "local" / "warehouse.duckdb"), read_only=True)
    tables = [f"curated.{t}" for t in CURATED] + ["staging.orders", "quarantine.customers"]
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={prod_database}") as pg:
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
