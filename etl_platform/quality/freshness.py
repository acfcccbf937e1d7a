"""Freshness: by a deadline each morning, yesterday's partition of each layer must exist.

Checks rather than the newer `FreshnessPolicy`: they produce evaluations the check-alert sensor
can post and tests can assert, with no daemon involved. Dagster's own factory
(`build_time_partition_freshness_checks`) expects the *last* partition at the deadline, which is
today's once partitions include today (`end_offset=1`), a day that is still landing; so the day
is derived from the deadline here, and the result carries the metadata Dagster's freshness sensor
schedules re-evaluations by.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from etl_platform.partitions import platform_timezone

CURATED_DEADLINE_CRON = "0 10 * * *"  # an hour after the sources' default deadline
CHECK_NAME = "freshness_check"
# What Dagster's freshness sensor reads: a passed check is not re-run before this moment.
FRESH_UNTIL = "dagster/fresh_until_timestamp"
LATEST_DEADLINE = "dagster/latest_cron_tick_timestamp"
_TICK_FORMAT = "%Y-%m-%d-%H:%M"
_TICK_LOOKBACK = timedelta(days=35)  # longer than any deadline's period (monthly at most)


def deadline_window(deadline_cron: str, timezone: str, now: datetime) -> tuple[datetime, datetime]:
    """The latest deadline at or before `now` and the next one, in `timezone`.

    The deadline's ticks are read off a cron-partitioned window (public Dagster API): with
    `end_offset=1`, the last window starts at the latest tick and ends at the next.
    """
    ticks = dg.TimeWindowPartitionsDefinition(
        cron_schedule=deadline_cron,
        fmt=_TICK_FORMAT,
        start=(now - _TICK_LOOKBACK).strftime(_TICK_FORMAT),
        timezone=timezone,
        end_offset=1,
    )
    window = ticks.time_window_for_partition_key(ticks.get_partition_keys(current_time=now)[-1])
    return window.start, window.end


def expected_day(deadline: datetime) -> str:
    """The partition that must exist once a deadline has passed: the day before it."""
    return (deadline.date() - timedelta(days=1)).isoformat()


def build_freshness_check(
    name: str, asset: dg.AssetsDefinition, deadline_cron: str
) -> dg.AssetChecksDefinition:
    """A warn-level check per asset key: the day before the latest deadline is materialized."""
    timezone = platform_timezone()

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                description=f"The previous day's partition exists by each `{deadline_cron}` "
                f"({timezone}) deadline.",
            )
            for key in sorted(asset.keys)
        ],
        can_subset=True,
        name=f"{name}_freshness",
    )
    def _freshness(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        deadline, next_deadline = deadline_window(
            deadline_cron, timezone, datetime.now(ZoneInfo(timezone))
        )
        day = expected_day(deadline)
        for check_key in context.selected_asset_check_keys:
            found = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=check_key.asset_key, asset_partitions=[day]),
                limit=1,
            ).records
            metadata: dict[str, dg.MetadataValue] = {
                "expected_partition": dg.MetadataValue.text(day),
                LATEST_DEADLINE: dg.MetadataValue.timestamp(deadline),
            }
            if found:
                metadata[FRESH_UNTIL] = dg.MetadataValue.timestamp(next_deadline)
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=check_key.name,
                passed=bool(found),
                severity=dg.AssetCheckSeverity.WARN,
                description=f"partition {day} {'exists' if found else 'is overdue'} "
                f"(deadline {deadline.isoformat()})",
                metadata=metadata,
            )

    return _freshness


def build_freshness(
    raw_assets: dict[str, dg.AssetsDefinition],
    deadlines: dict[str, str],
    curated: dg.AssetsDefinition,
) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """Warn-level freshness checks for every raw asset (per the spec's cron) and the marts.

    A late source is a warning, not a stop: the marts of the days that did arrive stay correct.
    """
    checks = [
        build_freshness_check(f"raw_{source}", asset, deadlines[source])
        for source, asset in sorted(raw_assets.items())
    ]
    checks.append(build_freshness_check("curated", curated, CURATED_DEADLINE_CRON))
    sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="freshness_checks_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    return checks, sensor
