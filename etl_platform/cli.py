"""Small commands the README uses: `python -m etl_platform.cli demo` and `demo-prod`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import boto3
import dagster as dg
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from etl_platform.demo.generator import generate
from etl_platform.demo.summary import render, render_quality, summarize
from etl_platform.environment import (
    PROJECT_ROOT,
    build_resources,
    current_environment,
    data_dir,
    postgres_dsn,
)
from etl_platform.transform.pii_key import LOCAL_DEVELOPMENT_KEY

log = logging.getLogger("etl_platform.cli")
LOCAL_INSTANCE_CONFIG = PROJECT_ROOT / "deploy" / "local" / "dagster.yaml"
PROD_INSTANCE_CONFIG = PROJECT_ROOT / "deploy" / "prod" / "dagster.yaml"


def materialize_range(start: date, end: date, dagster_home: Path) -> None:
    """Build every asset for the days, as one run, through the real `dagster` CLI."""
    dagster = str(Path(sys.executable).parent / "dagster")
    command = [
        dagster, "asset", "materialize", "-m", "etl_platform.definitions", "--select", "*",
        "--partition-range", f"{start.isoformat()}...{end.isoformat()}",
    ]  # fmt: skip
    log.info("running %s", " ".join(command))
    subprocess.run(command, check=True, env={**os.environ, "DAGSTER_HOME": str(dagster_home)})


def demo(days: int, orders_per_day: int, seed: int, start: date) -> int:
    """Fresh demo data, one range run of the whole graph, then the summary against the manifest."""
    root = data_dir()
    for stale in ("landing", "lake", "warehouse.duckdb", "dagster_home"):
        path = root / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    dagster_home = root / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(LOCAL_INSTANCE_CONFIG, dagster_home / "dagster.yaml")
    manifest_path = root / "demo_manifest.json"
    generate(
        root / "landing", manifest_path, seed=seed, start=start, days=days,
        orders_per_day=orders_per_day,
    )  # fmt: skip
    return _build_and_summarize(start, days, dagster_home, manifest_path)


def _build_and_summarize(start: date, days: int, dagster_home: Path, manifest_path: Path) -> int:
    """One range run of the whole graph, then the per-layer summary checked against the manifest."""
    began = time.perf_counter()
    materialize_range(start, start + timedelta(days=days - 1), dagster_home)
    built = time.perf_counter()
    resources = build_resources(current_environment())
    warehouse, lake = resources["warehouse"], resources["lake_io_manager"]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        summaries, curated = summarize(
            json.loads(manifest_path.read_text()), warehouse, lake, instance
        )
        quality = render_quality(warehouse, instance)
    sys.stdout.write(render(summaries, curated) + "\n\n" + quality + "\n")
    sys.stdout.write(f"\nmaterialize {built - began:.1f} s\n")
    problems = [m for s in summaries for m in s.mismatches()]
    if problems:
        sys.stdout.write(
            "MISMATCH with the ground-truth manifest:\n  " + "\n  ".join(problems) + "\n"
        )
        return 1
    sys.stdout.write("All counts match the ground-truth manifest.\n")
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _recreate_database(name: str) -> None:
    """A fresh PostgreSQL database for the demo (dropped first if a previous demo left one)."""
    admin = make_conninfo(
        postgres_dsn(), dbname="postgres", password=os.environ.get("ETL_PG_PASSWORD")
    )
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def demo_prod(days: int, orders_per_day: int, seed: int, start: date) -> int:
    """The same demo on real infrastructure: S3 (a local S3 API server) and PostgreSQL.

    Landing files, the lake, the warehouse, dbt and Dagster's own storage all move; the assets
    do not. PostgreSQL comes from `ETL_PG_*` (default: postgres@127.0.0.1:5432).
    """
    from moto.server import ThreadedMotoServer  # a dev tool: only this command needs it

    work = data_dir() / "prod_demo"
    shutil.rmtree(work, ignore_errors=True)
    (work / "dagster_home").mkdir(parents=True)
    shutil.copy(PROD_INSTANCE_CONFIG, work / "dagster_home" / "dagster.yaml")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        database = os.environ.get("ETL_PG_DATABASE", "etl_demo")
        pg = {
            "ETL_PG_HOST": os.environ.get("ETL_PG_HOST", "127.0.0.1"),
            "ETL_PG_PORT": os.environ.get("ETL_PG_PORT", "5432"),
            "ETL_PG_USER": os.environ.get("ETL_PG_USER", "postgres"),
            "ETL_PG_DATABASE": database,
        }
        os.environ.update(
            {
                **pg,
                **{name.replace("ETL_PG_", "ETL_DAGSTER_PG_"): v for name, v in pg.items()},
                "ETL_DAGSTER_PG_PASSWORD": os.environ.get("ETL_PG_PASSWORD", ""),
                "ETL_ENV": "prod",
                "ETL_LANDING_BUCKET": "etl-landing",
                "ETL_LAKE_URI": "s3://etl-lake/lake",
                "ETL_S3_ENDPOINT_URL": endpoint,
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                # The demo's data is synthetic; a real deployment sets its own key.
                "ETL_PII_KEY": os.environ.get("ETL_PII_KEY", LOCAL_DEVELOPMENT_KEY),
            }
        )
        _recreate_database(database)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        for bucket in ("etl-landing", "etl-lake"):
            s3.create_bucket(Bucket=bucket)
        generate(
            work / "landing", work / "demo_manifest.json", seed=seed, start=start, days=days,
            orders_per_day=orders_per_day,
        )  # fmt: skip
        for path in sorted((work / "landing").rglob("*")):
            if path.is_file():
                key = path.relative_to(work / "landing").as_posix()
                s3.upload_file(str(path), "etl-landing", key)
        return _build_and_summarize(start, days, work / "dagster_home", work / "demo_manifest.json")
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="python -m etl_platform.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("demo", "generate demo files and build every layer on the embedded default"),
        ("demo-prod", "the same on a local S3 API server and PostgreSQL"),
    ):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("--days", type=int, default=3)
        command.add_argument("--orders-per-day", type=int, default=2_000)
        command.add_argument("--seed", type=int, default=7)
        command.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run = demo if args.command == "demo" else demo_prod
    return run(args.days, args.orders_per_day, args.seed, args.start)


if __name__ == "__main__":
    sys.exit(main())
