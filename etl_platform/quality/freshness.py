"""Freshness: by a deadline each morning, yesterday's partition of each layer must exist.

Built with Dagster's freshness check factories rather than the newer `FreshnessPolicy`: checks
produce evaluations the check-alert sensor can post and tests can assert, with no daemon involved.
"""

import dagster as dg

from etl_platform.partitions import platform_timezone

CURATED_DEADLINE_CRON = "0 10 * * *"  # an hour after the sources' default deadline


def build_freshness(
    raw_assets: dict[str, dg.AssetsDefinition],
    deadlines: dict[str, str],
    curated: dg.AssetsDefinition,
) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """Warn-level freshness checks for every raw asset (per the spec's cron) and the marts.

    A late source is a warning, not a stop: the marts of the days that did arrive stay correct.
    """
    checks: list[dg.AssetChecksDefinition] = []
    for source, asset in sorted(raw_assets.items()):
        checks.extend(
            dg.build_time_partition_freshness_checks(
                assets=[asset],
                deadline_cron=deadlines[source],
                timezone=platform_timezone(),
                severity=dg.AssetCheckSeverity.WARN,
            )
        )
    checks.extend(
        dg.build_time_partition_freshness_checks(
            assets=[curated],
            deadline_cron=CURATED_DEADLINE_CRON,
            timezone=platform_timezone(),
            severity=dg.AssetCheckSeverity.WARN,
        )
    )
    sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="freshness_checks_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    return checks, sensor
