"""The source factory: one spec in, its raw, staging and quarantine assets, job and sensor out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from etl_platform.assets.raw import build_raw_asset, raw_key
from etl_platform.assets.staging import build_staging_assets, quarantine_key, staging_key
from etl_platform.partitions import daily_partitions
from etl_platform.sensors.curated import CuratedFollowOn
from etl_platform.sensors.landing import IngestJob, build_landing_sensor
from etl_platform.sources.model import SourceSpec


@dataclass(frozen=True)
class SourceDefinitions:
    """Everything the platform defines for one source."""

    raw: dg.AssetsDefinition
    staging: dg.AssetsDefinition
    ingest: IngestJob
    sensor: dg.SensorDefinition

    @property
    def job(self) -> Any:
        """The source's ingest job (raw, staging, quarantine)."""
        return self.ingest.job

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        """The raw asset and the staging/quarantine multi-asset."""
        return [self.raw, self.staging]


def build_source(spec: SourceSpec, curate: CuratedFollowOn | None = None) -> SourceDefinitions:
    """Turn a validated spec into its Dagster definitions.

    `curate`: how its landing sensor builds the day's curated models in the same run, when it can.
    """
    partitions = daily_partitions()
    keys = [raw_key(spec), staging_key(spec), quarantine_key(spec)]
    job = dg.define_asset_job(
        name=f"ingest_{spec.name}",
        selection=dg.AssetSelection.assets(*keys),
        partitions_def=partitions,
        description=f"Land, stage and quarantine one day of {spec.name}.",
    )
    ingest = IngestJob(job, keys, staged=staging_key(spec))
    return SourceDefinitions(
        raw=build_raw_asset(spec),
        staging=build_staging_assets(spec),
        ingest=ingest,
        sensor=build_landing_sensor(spec, ingest, partitions, curate=curate),
    )
