import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.test_utils import create_run_for_test

from etl_platform.definitions import defs
from etl_platform.ingest.landing import LocalLandingZone
from etl_platform.sensors.curated import CURATES_TAG, CuratedGraph, stale_days

SOURCES = ("customers", "orders", "payments", "products")
BUILT = dg.AssetKey(["curated", "fct_order_lines"])
# The marts no other model reads: their materializations date a build.
LAST = [
    dg.AssetKey(["curated", "daily_payment_reconciliation"]),
    dg.AssetKey(["curated", "daily_revenue_by_category_state"]),
]
PAYMENTS_ONLY = dg.AssetKey(["curated", "fct_payments"])  # fed by payments alone


def materialize(instance: dg.DagsterInstance, key: dg.AssetKey, day: str, **metadata) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=key, partition=day, metadata=metadata)
    )


def stage(instance: dg.DagsterInstance, day: str, *sources: str) -> None:
    for source in sources:
        materialize(instance, dg.AssetKey(["staging", source]), day)


def build(instance: dg.DagsterInstance, day: str) -> None:
    for key in LAST:
        materialize(instance, key, day)


def evaluate(instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    sensor = defs.resolve_sensor_def("curated_sensor")
    result = sensor(dg.build_sensor_context(instance=instance))
    return list(result.run_requests or [])


def test_a_day_is_built_whole_once_all_its_staging_tables_exist_then_what_a_change_feeds():
    with dg.DagsterInstance.ephemeral() as instance:
        for source in SOURCES[:3]:
            materialize(instance, dg.AssetKey(["staging", source]), "2026-11-01")
        assert evaluate(instance) == []  # products for the day has not landed yet

        materialize(instance, dg.AssetKey(["staging", "products"]), "2026-11-01")
        first = evaluate(instance)
        assert [r.partition_key for r in first] == ["2026-11-01"]
        assert evaluate(instance)[0].run_key == first[0].run_key  # same state, same run key
        curated = defs.resolve_assets_def(BUILT).keys
        assert set(first[0].asset_selection) == {*curated, dg.AssetKey(["quality", "report"])}

        build(instance, "2026-11-01")
        assert evaluate(instance) == []

        materialize(instance, dg.AssetKey(["staging", "orders"]), "2026-11-01")  # a late file
        again = evaluate(instance)
        assert [r.partition_key for r in again] == ["2026-11-01"]
        assert again[0].run_key != first[0].run_key
        selected = set(again[0].asset_selection)
        assert {BUILT, *LAST, dg.AssetKey(["quality", "report"])} <= selected
        assert (
            PAYMENTS_ONLY not in selected
            and dg.AssetKey(["curated", "dim_customers"]) not in selected
        )
        job = defs.resolve_job_def("build_curated")
        assert selected <= set(job.asset_layer.executable_asset_keys)


def test_a_build_that_stopped_before_its_last_marts_leaves_the_day_stale():
    with dg.DagsterInstance.ephemeral() as instance:
        stage(instance, "2026-11-01", *SOURCES)
        materialize(instance, LAST[1], "2026-11-01")  # the reconciliation chain failed
        (request,) = evaluate(instance)
        assert len(request.asset_selection) == len(defs.resolve_assets_def(BUILT).keys) + 1


def test_stale_days_are_the_complete_days_an_input_is_newer_than_its_build_on_oldest_first():
    a, b = dg.AssetKey("a"), dg.AssetKey("b")
    graph = CuratedGraph.of(
        [
            dg.AssetSpec("only_a", deps=[a]),
            dg.AssetSpec("only_b", deps=[b]),
            dg.AssetSpec("both", deps=["only_a", "only_b"]),
            dg.AssetSpec("b_end", deps=["only_b"]),
        ]
    )
    assert graph.input_keys == [a, b]
    assert graph.models([a]) == sorted(dg.AssetKey(k) for k in ("both", "only_a"))
    assert graph.dating_keys == [dg.AssetKey("b_end"), dg.AssetKey("both")]
    inputs = {a: {"d1": 1, "d2": 5, "d3": 7}, b: {"d1": 2, "d2": 6}}
    both, b_end = dg.AssetKey("both"), dg.AssetKey("b_end")
    # d1 built after both inputs; d2's b_end built between a's and b's materializations.
    built = {both: {"d1": 3, "d2": 4}, b_end: {"d1": 3, "d2": 5}}
    assert stale_days(graph, inputs, built) == {"d2": [a, b]}
    built[both]["d2"] = 8
    assert stale_days(graph, inputs, built) == {"d2": [b]}
    assert stale_days(graph, inputs, built={}) == {"d1": [a, b], "d2": [a, b]}
    assert stale_days(graph, inputs, built={}, limit=1) == {"d1": [a, b]}
    assert stale_days(graph, {}, built={}) == {}


def materialize_in(instance, run, key: dg.AssetKey, day: str, **metadata) -> None:
    """A materialization written by `run`, as its step would write it."""
    materialization = dg.AssetMaterialization(asset_key=key, partition=day, metadata=metadata)
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name=run.job_name,
        event_specific_data=StepMaterializationData(materialization),
    )
    instance.report_dagster_event(event, run_id=run.run_id)


def land_order_file(root, day: str) -> LocalLandingZone:
    path = root / "orders" / day / "orders_0001.csv"
    path.parent.mkdir(parents=True)
    path.write_text("order_id\nORD-00000001\n")
    return LocalLandingZone(root=str(root))


def landing_requests(instance, landing) -> list[dg.RunRequest]:
    sensor = defs.resolve_sensor_def("orders_landing_sensor")
    context = dg.build_sensor_context(instance=instance, resources={"landing": landing})
    return list(sensor(context).run_requests or [])


def test_a_file_whose_days_other_sources_are_staged_is_built_to_curated_in_its_own_run(tmp_path):
    day = "2026-11-01"
    landing = land_order_file(tmp_path, day)
    with dg.DagsterInstance.ephemeral() as instance:
        stage(instance, day, "customers", "payments")
        (alone,) = landing_requests(instance, landing)  # products is not staged for the day
        assert alone.job_name == "ingest_orders" and alone.asset_selection is None
        assert CURATES_TAG not in alone.tags

        stage(instance, day, "products")
        (through,) = landing_requests(instance, landing)
    assert through.job_name == "ingest_and_curate" and through.partition_key == day
    assert through.tags[CURATES_TAG] == "true"
    assert through.run_key == alone.run_key  # the same files, whichever job runs them
    selected = set(through.asset_selection)
    assert {dg.AssetKey(["raw", "orders"]), dg.AssetKey(["quarantine", "orders"])} <= selected
    assert {BUILT, PAYMENTS_ONLY, dg.AssetKey(["quality", "report"])} <= selected  # never built
    assert dg.AssetKey(["staging", "payments"]) not in selected  # only what this file changes
    job = defs.resolve_job_def("ingest_and_curate")
    assert selected <= set(job.asset_layer.executable_asset_keys)


def test_a_file_for_a_day_built_before_rebuilds_only_the_models_its_source_feeds(tmp_path):
    day = "2026-11-01"
    landing = land_order_file(tmp_path, day)
    with dg.DagsterInstance.ephemeral() as instance:
        stage(instance, day, "customers", "payments", "products")
        build(instance, day)
        (request,) = landing_requests(instance, landing)
        selected = set(request.asset_selection)
        assert {BUILT, *LAST, dg.AssetKey(["quality", "report"])} <= selected
        assert PAYMENTS_ONLY not in selected

        stage(instance, day, "payments")  # newer than the build: its models come along
        (request,) = landing_requests(instance, landing)
        assert {BUILT, PAYMENTS_ONLY} <= set(request.asset_selection)
        assert dg.AssetKey(["curated", "dim_products"]) not in request.asset_selection


def test_a_day_another_source_failed_a_blocking_check_on_is_only_ingested(tmp_path):
    day = "2026-11-01"
    landing = land_order_file(tmp_path, day)
    with dg.DagsterInstance.ephemeral() as instance:
        stage(instance, day, "customers", "payments")
        failed = dg.MetadataValue.json(["quarantine_rate"])
        materialize(
            instance, dg.AssetKey(["staging", "products"]), day, blocking_checks_failed=failed
        )
        (request,) = landing_requests(instance, landing)
    assert request.job_name == "ingest_orders"


def test_a_day_being_curated_by_its_ingest_run_is_left_to_it_then_caught_if_it_did_not():
    day = "2026-11-01"
    with dg.DagsterInstance.ephemeral() as instance:
        stage(instance, day, "customers", "payments", "products")
        build(instance, day)
        running = create_run_for_test(
            instance,
            job_name="ingest_and_curate",
            status=dg.DagsterRunStatus.STARTED,
            tags={CURATES_TAG: "true"},
        )
        materialize_in(instance, running, dg.AssetKey(["staging", "orders"]), day)
        assert evaluate(instance) == []  # its curated step comes next, in the same run

        # The run ended without building curated (its dbt step failed): the sensor takes over.
        instance.handle_run_event(
            running.run_id,
            DagsterEvent(DagsterEventType.RUN_FAILURE.value, job_name=running.job_name),
        )
        assert [r.partition_key for r in evaluate(instance)] == [day]


def test_an_ingest_only_run_in_flight_does_not_hold_the_curated_build_back():
    day = "2026-11-01"
    with dg.DagsterInstance.ephemeral() as instance:
        stage(instance, day, "customers", "payments", "products")
        running = create_run_for_test(
            instance, job_name="ingest_orders", status=dg.DagsterRunStatus.STARTED
        )
        materialize_in(instance, running, dg.AssetKey(["staging", "orders"]), day)
        assert [r.partition_key for r in evaluate(instance)] == [day]
