"""Curated (gold): the dbt project's models as partitioned assets, its tests as asset checks.

The manifest is prepared ahead (`make manifest` runs `dbt parse`): parsing dbt at import would add
seconds to every definitions load, sensor tick and run start.
"""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from etl_platform.assets.raw import WAREHOUSE_POOL
from etl_platform.environment import DBT_PROJECT_DIR
from etl_platform.io.dbt_cli import InstalledDbtCliResource
from etl_platform.memory import return_freed_memory
from etl_platform.partitions import daily_partitions
from etl_platform.sensors.curated import CuratedFollowOn, CuratedGraph, build_curated_sensor

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# The dbt tag of the marts rebuilt day by day (materialized daily_partitions, on their date).
DAILY_TAG = "partitioned_daily"
# What a run builds: the models and their data tests. Unit tests check the models' SQL on fixed
# rows, so they pass or fail with the code, not the data: they run in the test suite (dbt's own
# advice), not in each run, where they took ~1 s of every build (six of them, here).
BUILD = ["build", "--exclude-resource-type", "unit_test"]
# Which data tests a subset runs. dbt's default ("eager") takes a test when any of its models is
# selected, so a run of `dim_customers` alone ran `fct_order_lines`' relationship test: a check
# of an asset outside the run, which fails where that mart is not built yet. "buildable" takes a
# test when each of its models is selected or upstream of one that is: the run's own checks.
TEST_SELECTION = {"DBT_INDIRECT_SELECTION": "buildable"}


class CuratedTranslator(DagsterDbtTranslator):
    """Models become `curated/<model>`; sources keep the key their YAML `meta.dagster` declares."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """`curated/<name>` for models, the declared upstream key for sources."""
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(["curated", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """One group for the whole curated layer."""
        return "curated"


def _manifest(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make manifest` (dbt parse) first")
    return path


def window_columns(manifest: Path = MANIFEST) -> dict[dg.AssetKey, str]:
    """The date column that bounds each model to a run's days, for the models that have one.

    A daily mart's is its `unique_key` (models tagged `partitioned_daily`): a run rebuilds
    exactly its window's days of it (the `daily_partitions` materialization). A staging
    view's is its `meta.window_column`: a day of it is a day of its staging table, which that
    day's staging run wrote and checked. A check of what a run built reads those days only, as
    the models' own dbt tests do (`window_column` in `macros/window_tests.sql`, whose precedence
    this follows), so its cost follows the days built, not the days kept.

    Raises:
        ValueError: a daily mart's `unique_key` is not one column.
    """
    translator = CuratedTranslator()
    columns: dict[dg.AssetKey, str] = {}
    for node in json.loads(_manifest(manifest).read_text())["nodes"].values():
        if node["resource_type"] != "model":
            continue
        column = node["config"].get("meta", {}).get("window_column")  # first, as in the macro
        if DAILY_TAG in node["tags"]:
            unique_key = node["config"].get("unique_key")
            if not isinstance(unique_key, str):
                raise ValueError(
                    f"model {node['name']} is tagged {DAILY_TAG} but its unique_key is "
                    f"{unique_key!r}: it must be the one date column its days are rebuilt by"
                )
            column = column or unique_key
        if column:
            columns[translator.get_asset_key(node)] = column
    return columns


def build_curated_assets(manifest: Path = MANIFEST) -> dg.AssetsDefinition:
    """All dbt models as one partitioned multi-asset that builds the run's date range."""

    @dbt_assets(
        manifest=_manifest(manifest),
        dagster_dbt_translator=CuratedTranslator(),
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def curated_models(
        context: dg.AssetExecutionContext, dbt: InstalledDbtCliResource
    ) -> Iterator[Any]:
        return_freed_memory()  # before dbt starts beside this process
        window = context.partition_time_window
        dates = {
            "ETL_MIN_DATE": window.start.date().isoformat(),
            "ETL_MAX_DATE": (window.end - timedelta(days=1)).date().isoformat(),
        }
        invocation = dbt.cli_in_env(BUILD, {**dates, **TEST_SELECTION}, context=context)
        yield from invocation.stream()
        dbt.finish(invocation)

    return curated_models


@dataclass(frozen=True)
class CuratedDefinitions:
    """The dbt assets, the job that builds them for a day, and the sensor that launches it.

    `follow_on` lets the landing sensors build them in the ingest run instead, when they can;
    `window_columns` gives the date column of each model a run's window bounds.
    """

    assets: dg.AssetsDefinition
    window_columns: dict[dg.AssetKey, str]
    job: Any  # what dg.define_asset_job returns; its class is not public
    sensor: dg.SensorDefinition
    follow_on: CuratedFollowOn


def build_curated(also: list[dg.AssetsDefinition], manifest: Path = MANIFEST) -> CuratedDefinitions:
    """The curated layer, triggered per day once all the staging tables it reads are there.

    `also`: assets built in the same daily run (the quality report).
    """
    assets = build_curated_assets(manifest)
    curated = dg.AssetSelection.assets(assets, *also)
    job = dg.define_asset_job(
        "build_curated",
        selection=curated,
        partitions_def=daily_partitions(),
        description="Build the dbt models (the sensor picks those whose inputs changed), run their "
        "tests and report quality, for a day or range.",
    )
    graph = CuratedGraph.of(assets.specs)
    also_keys = sorted(k for a in also for k in a.keys)
    sensor = build_curated_sensor(job.name, graph, also_keys)
    ingest_and_curate = dg.define_asset_job(
        "ingest_and_curate",
        selection=dg.AssetSelection.groups("raw", "staging", "quarantine") | curated,
        partitions_def=daily_partitions(),
        description="One source's day from landing to curated in one run: what its landing sensor "
        "launches once the day's other sources are staged.",
    )
    follow_on = CuratedFollowOn(ingest_and_curate, graph, also_keys)
    return CuratedDefinitions(assets, window_columns(manifest), job, sensor, follow_on)
