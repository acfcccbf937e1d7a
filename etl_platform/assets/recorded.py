"""What steps recorded: the latest materialization metadata of an asset, per daily partition.

Quality checks, the report, the curated sensor and the demo summary all read the figures the
staging step wrote per day; one place decides what "latest per day" means.
"""

from typing import Any

import dagster as dg


def latest_record_for_day(
    instance: dg.DagsterInstance, key: dg.AssetKey, day: str
) -> dg.EventLogRecord | None:
    """The day's latest materialization record (its storage id orders it), or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records
    return records[0] if records else None


def metadata_values(record: dg.EventLogRecord | None) -> dict[str, Any] | None:
    """A materialization record's metadata values, or None without one."""
    event = record.asset_materialization if record else None
    return {k: v.value for k, v in event.metadata.items()} if event else None


def latest_for_day(
    instance: dg.DagsterInstance, key: dg.AssetKey, day: str
) -> dict[str, Any] | None:
    """The metadata values of the day's latest materialization, or None if it has none."""
    return metadata_values(latest_record_for_day(instance, key, day))


def latest_by_day(
    instance: dg.DagsterInstance, key: dg.AssetKey, limit: int
) -> dict[str, dict[str, Any]]:
    """The latest materialization's metadata values of each day, among the newest `limit` events."""
    latest: dict[str, dict[str, Any]] = {}
    for record in instance.fetch_materializations(key, limit=limit).records:  # newest first
        event = record.asset_materialization
        if event is not None and event.partition is not None and event.partition not in latest:
            latest[event.partition] = {k: v.value for k, v in event.metadata.items()}
    return latest
