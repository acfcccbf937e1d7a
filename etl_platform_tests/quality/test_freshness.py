import dagster as dg

from etl_platform.definitions import defs, freshness_checks, sources

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
