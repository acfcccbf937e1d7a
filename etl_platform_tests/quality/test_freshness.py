from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from etl_platform.definitions import defs, freshness_checks, sources
from etl_platform.partitions import platform_timezone
from etl_platform.quality.freshness import deadline_window, expected_day

RAW_ORDERS = dg.AssetKey(["raw", "orders"])


def run_freshness_check(instance: dg.DagsterInstance) -> dg.AssetCheckEvaluation:
    check = next(c for c in freshness_checks if RAW_ORDERS in {k.asset_key for k in c.check_keys})
    result = dg.materialize(
        [next(s.raw for s in sources if s.raw.key == RAW_ORDERS), check],
        selection=dg.AssetSelection.checks(check),
        instance=instance,
        resources=defs.resources,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_source_whose_latest_day_never_landed_is_reported_stale_as_a_warning():
    with dg.DagsterInstance.ephemeral() as instance:
        evaluation = run_freshness_check(instance)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN


def test_a_source_whose_recent_days_landed_is_fresh():
    partitions = defs.resolve_assets_def(RAW_ORDERS).partitions_def
    with dg.DagsterInstance.ephemeral() as instance:
        for day in partitions.get_partition_keys()[-3:]:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=RAW_ORDERS, partition=day)
            )
        assert run_freshness_check(instance).passed


def test_yesterday_landed_is_fresh_while_today_which_is_a_partition_still_lands():
    # With today's partition in the set (end_offset=1), Dagster's factory asked for today's.
    deadline, _ = deadline_window("0 9 * * *", platform_timezone(), datetime.now(UTC))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=RAW_ORDERS, partition=expected_day(deadline))
        )
        assert run_freshness_check(instance).passed


def test_only_today_landed_is_overdue():
    partitions = defs.resolve_assets_def(RAW_ORDERS).partitions_def
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=RAW_ORDERS, partition=partitions.get_last_partition_key()
            )
        )
        evaluation = run_freshness_check(instance)
    assert not evaluation.passed


def test_the_deadline_asks_for_the_day_before_it():
    at = datetime(2026, 12, 2, 6, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    deadline, following = deadline_window("0 9 * * *", "Asia/Kolkata", at)
    assert (deadline.isoformat(), following.isoformat()) == (
        "2026-12-01T09:00:00+05:30",
        "2026-12-02T09:00:00+05:30",
    )
    assert expected_day(deadline) == "2026-11-30"
