"""Curated (gold): the dbt project's models as partitioned assets, its tests as asset checks.

The manifest is prepared ahead (`make manifest` runs `dbt parse`): parsing dbt at import would add
seconds to every definitions load, sensor tick and run start.
"""

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from etl_platform.assets.raw import WAREHOUSE_POOL
from etl_platform.environment import DBT_PROJECT_DIR
from etl_platform.partitions import daily_partitions

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


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

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition[Any] | None:
        """Rebuild a day's models once its staging tables are updated (sensor-driven runs)."""
        return dg.AutomationCondition.eager()


def _manifest(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make manifest` (dbt parse) first")
    return path


def build_curated_assets(manifest: Path = MANIFEST) -> dg.AssetsDefinition:
    """All dbt models as one partitioned multi-asset that builds the run's date range."""

    @dbt_assets(
        manifest=_manifest(manifest),
        dagster_dbt_translator=CuratedTranslator(),
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def curated_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        window = context.partition_time_window
        dates = {
            "min_date": window.start.date().isoformat(),
            "max_date": (window.end - timedelta(days=1)).date().isoformat(),
        }
        yield from dbt.cli(["build", "--vars", json.dumps(dates)], context=context).stream()

    return curated_models
