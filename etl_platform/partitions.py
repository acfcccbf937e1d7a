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
    """Daily partitions from `ETL_PARTITIONS_START`; every partitioned asset shares this one."""
    return dg.DailyPartitionsDefinition(
        start_date=os.environ.get("ETL_PARTITIONS_START", DEFAULT_START),
        timezone=platform_timezone(),
    )


def partition_dates(keys: Sequence[str]) -> list[date]:
    """Partition keys (`YYYY-MM-DD`) as dates, sorted."""
    return sorted(datetime.strptime(k, "%Y-%m-%d").date() for k in keys)
