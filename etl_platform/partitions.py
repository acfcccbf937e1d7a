"""The platform's one partitioning scheme: daily, by event time, in one time zone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime

import dagster as dg

DEFAULT_TIMEZONE = "Asia/Kolkata"
DEFAULT_START = "2025-01-01"


def platform_timezone() -> str:
    """The time zone that decides which day a row belongs to (`ETL_TIMEZONE`)."""
    return os.environ.get("ETL_TIMEZONE", DEFAULT_TIMEZONE)


def daily_partitions() -> dg.DailyPartitionsDefinition:
    """Daily partitions from `ETL_PARTITIONS_START` to today; every partitioned asset shares it.

    Today's partition exists (`end_offset=1`) so files landing today load as they land: the day
    is re-materialized with each delivery instead of waiting until midnight. Freshness asks for
    yesterday, not the last partition (`etl_platform.quality.freshness`).
    """
    return dg.DailyPartitionsDefinition(
        start_date=os.environ.get("ETL_PARTITIONS_START", DEFAULT_START),
        timezone=platform_timezone(),
        end_offset=1,
    )


def partition_dates(keys: Sequence[str]) -> list[date]:
    """Partition keys (`YYYY-MM-DD`) as dates, sorted."""
    return sorted(datetime.strptime(k, "%Y-%m-%d").date() for k in keys)
