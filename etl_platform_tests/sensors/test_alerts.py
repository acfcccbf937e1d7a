import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from etl_platform.sensors import alerts
from etl_platform.sensors.alert_messages import (
    CheckFailure,
    RunFailure,
    check_failure_payload,
    failure_details,
    first_line,
    partition_of,
    root_run_id,
    run_failure_payload,
)
from etl_platform.sensors.webhook import AlertDeliveryError, post_alert

DAY = "2026-11-01"


class Webhook(ThreadingHTTPServer):
    """A real webhook on 127.0.0.1 that answers with scripted statuses, then 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), WebhookHandler)
        self.requests: list[tuple[str, dict]] = []  # (content type, body) of every POST
        self.statuses: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T0/B0/secret-token"

    @property
    def bodies(self) -> list[dict]:
        return [body for _, body in self.requests]


class WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.headers["Content-Type"], body))
        self.send_response(self.server.statuses.pop(0) if self.server.statuses else 200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv(alerts.WEBHOOK_ENV, server.url)
    monkeypatch.setenv(alerts.DAGSTER_URL_ENV, "http://dagster.test/")
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@dg.op
def load_orders() -> None:
    raise ValueError("warehouse file is locked <by another writer>\n  second line")


@dg.job
def ingest_orders() -> None:
    load_orders()


def fail_run(instance: dg.DagsterInstance, **tags: str) -> dg.ExecuteInProcessResult:
    result = ingest_orders.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    assert not result.success
    return result


def evaluate_run_failure(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name=alerts.RUN_FAILURE_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    )
    alerts.build_run_failure_alert_sensor()(context)


def test_a_failed_run_is_alerted_once_with_its_job_partition_step_error_and_link(webhook):
    with dg.DagsterInstance.ephemeral() as instance:
        first = fail_run(instance, **{"dagster/partition": DAY})
        evaluate_run_failure(instance, first)

        assert len(webhook.requests) == 1
        content_type, body = webhook.requests[0]
        assert content_type == "application/json"
        text = body["text"]
        assert "Run failed: ingest_orders" in text
        assert first.run_id in text
        assert f"Partition: {DAY}" in text
        assert "load_orders: ValueError: warehouse file is locked &lt;by another writer&gt;" in text
        assert "second line" not in text
        assert f"http://dagster.test/runs/{first.run_id}" in text
        assert body["blocks"][0]["text"]["text"] == "Run failed: ingest_orders"

        evaluate_run_failure(instance, first)  # the daemon re-evaluates after a restart
        retry_tags = {"dagster/parent_run_id": first.run_id, "dagster/root_run_id": first.run_id}
        evaluate_run_failure(instance, fail_run(instance, **retry_tags))
        assert len(webhook.requests) == 1

        evaluate_run_failure(instance, fail_run(instance))  # another chain alerts on its own
        assert len(webhook.requests) == 2
        root = instance.get_run_by_id(first.run_id)
        assert root.tags[alerts.ALERTED_TAG] == first.run_id


daily = dg.DailyPartitionsDefinition(start_date="2026-01-01")


@dg.asset(
    partitions_def=daily,
    check_specs=[
        dg.AssetCheckSpec("order_id_not_null", asset="orders"),
        dg.AssetCheckSpec("row_volume", asset="orders"),
        dg.AssetCheckSpec("order_id_unique", asset="orders"),
    ],
)
def orders() -> Iterator[dg.Output | dg.AssetCheckResult]:
    yield dg.Output(3)
    yield dg.AssetCheckResult(
        check_name="order_id_not_null",
        passed=False,
        description="order_id has nulls",
        metadata={"failed_row_count": 3},
    )
    yield dg.AssetCheckResult(
        check_name="row_volume",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"failing_partitions": dg.MetadataValue.json([DAY]), "rows": 3},
    )
    yield dg.AssetCheckResult(check_name="order_id_unique", passed=True)


def evaluate_checks(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return alerts.build_check_failure_alert_sensor()(context)


def test_each_failed_check_is_alerted_once_with_its_severity_and_the_passing_one_never(webhook):
    with dg.DagsterInstance.ephemeral() as instance:
        start = evaluate_checks(instance, None).cursor
        assert webhook.requests == []
        result = dg.materialize([orders], instance=instance, partition_key=DAY)

        after = evaluate_checks(instance, start)
        assert [b["blocks"][0]["text"]["text"] for b in webhook.bodies] == [
            "Asset check failed (ERROR): orders order_id_not_null",
            "Asset check failed (WARN): orders row_volume",
        ]
        error, warn = (b["text"] for b in webhook.bodies)
        assert f"Partition: {DAY}" in error
        assert "order_id has nulls" in error
        assert "failed_row_count: 3" in error
        assert f'failing_partitions: ["{DAY}"]' in warn
        assert "rows" not in warn.split("failing_partitions")[1]  # only what says what failed
        assert f"http://dagster.test/runs/{result.run_id}" in warn

        assert evaluate_checks(instance, after.cursor).cursor == after.cursor
        assert len(webhook.requests) == 2


def test_on_the_run_sharded_sqlite_storage_each_runs_checks_are_alerted(webhook):
    # SQLite (the local instance) numbers events per run: an event-id cursor would skip run two.
    with dg.DagsterInstance.local_temp() as instance:
        cursor = evaluate_checks(instance, None).cursor
        for alerted in (2, 4):
            dg.materialize([orders], instance=instance, partition_key=DAY)
            cursor = evaluate_checks(instance, cursor).cursor
            assert len(webhook.requests) == alerted


def test_a_tick_out_of_budget_resumes_inside_the_run_where_it_stopped(webhook, monkeypatch):
    monkeypatch.setattr(alerts, "MAX_CHECK_EVALUATIONS_PER_TICK", 1)
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = evaluate_checks(instance, None).cursor
        dg.materialize([orders], instance=instance, partition_key=DAY)
        sent = []
        for _ in range(4):  # three evaluations, one per tick, then nothing left
            cursor = evaluate_checks(instance, cursor).cursor
            sent.append(len(webhook.requests))
        assert sent == [1, 2, 2, 2]


def test_an_unreachable_webhook_fails_the_tick_and_the_alerts_go_out_on_the_next(webhook):
    with dg.DagsterInstance.ephemeral() as instance:
        start = evaluate_checks(instance, None).cursor
        dg.materialize([orders], instance=instance, partition_key=DAY)
        webhook.statuses = [503, 503, 503]
        with pytest.raises(AlertDeliveryError):
            evaluate_checks(instance, start)
        assert len(webhook.requests) == 3  # three tries of the first alert

        after = evaluate_checks(instance, start)
        assert len(webhook.requests) == 5
        assert webhook.bodies[3] == webhook.bodies[0]
        assert evaluate_checks(instance, after.cursor).cursor == after.cursor


def test_a_rate_limited_alert_is_sent_next_tick_and_the_one_before_it_is_not_repeated(webhook):
    with dg.DagsterInstance.ephemeral() as instance:
        start = evaluate_checks(instance, None).cursor
        dg.materialize([orders], instance=instance, partition_key=DAY)
        webhook.statuses = [200, 429]
        first = evaluate_checks(instance, start)
        assert len(webhook.requests) == 2  # a 429 is not retried within the tick

        second = evaluate_checks(instance, first.cursor)
        assert len(webhook.requests) == 3
        assert webhook.bodies[2] == webhook.bodies[1]
        assert evaluate_checks(instance, second.cursor).cursor == second.cursor


def test_an_alert_the_webhook_refuses_is_dropped_and_the_next_still_goes_out(webhook):
    with dg.DagsterInstance.ephemeral() as instance:
        start = evaluate_checks(instance, None).cursor
        dg.materialize([orders], instance=instance, partition_key=DAY)
        webhook.statuses = [400]
        after = evaluate_checks(instance, start)
        assert len(webhook.requests) == 2  # the refused one was not tried again
        assert "1 refused" in after.skip_reason.skip_message


def test_without_a_webhook_alerts_are_logged_and_nothing_fails(webhook, monkeypatch, capfd):
    monkeypatch.delenv(alerts.WEBHOOK_ENV)
    with dg.DagsterInstance.ephemeral() as instance:
        start = evaluate_checks(instance, None).cursor
        dg.materialize([orders], instance=instance, partition_key=DAY)
        after = evaluate_checks(instance, start)
        assert after.cursor != start

        failed = fail_run(instance)
        evaluate_run_failure(instance, failed)
        assert instance.get_run_by_id(failed.run_id).tags[alerts.ALERTED_TAG] == failed.run_id
    assert webhook.requests == []
    logged = capfd.readouterr().err  # Dagster's sensor logger writes to stderr
    assert logged.count(f"{alerts.WEBHOOK_ENV} is not set, alert only logged") == 3
    for title in ("(ERROR): orders order_id_not_null", "(WARN): orders row_volume"):
        assert f"alert only logged: Asset check failed {title}" in logged
    assert "alert only logged: Run failed: ingest_orders" in logged


def test_a_5xx_is_retried_and_the_alert_delivered_once(webhook):
    webhook.statuses = [500]
    post_alert(webhook.url, {"text": "hello"}, backoff_seconds=0.01)
    assert webhook.bodies == [{"text": "hello"}, {"text": "hello"}]


def test_a_4xx_is_not_retried_and_the_error_does_not_reveal_the_url(webhook):
    webhook.statuses = [400]
    with pytest.raises(AlertDeliveryError) as raised:
        post_alert(webhook.url, {"text": "hello"}, backoff_seconds=0.01)
    assert len(webhook.requests) == 1
    assert not raised.value.transient
    assert "secret-token" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_closed_port_is_tried_three_times_then_reported_without_the_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), WebhookHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/secret-token"
    server.server_close()
    with pytest.raises(AlertDeliveryError) as raised:
        post_alert(url, {"text": "hello"}, backoff_seconds=0.01)
    assert raised.value.transient
    assert "3 tries" in str(raised.value)
    assert "secret-token" not in str(raised.value)
    with pytest.raises(AlertDeliveryError) as raised:
        post_alert("hooks.slack.com/secret-token", {"text": "hello"})
    assert "secret-token" not in str(raised.value)


def test_a_run_message_names_the_partition_range_and_lists_at_most_ten_steps():
    failure = RunFailure(
        job_name="build_curated",
        run_id="r1",
        tags={
            "dagster/asset_partition_range_start": "2026-11-01",
            "dagster/asset_partition_range_end": "2026-11-07",
        },
        failed_steps=[(f"step_{i}", "KeyError: 'x'") for i in range(12)],
        run_error="unused",
    )
    payload = run_failure_payload(failure, "http://ui")
    assert "Partition: 2026-11-01...2026-11-07" in payload["text"]
    assert "step_9: KeyError" in payload["text"]
    assert "step_10" not in payload["text"]
    assert "and 2 more" in payload["text"]
    assert (
        payload["blocks"][-1]["elements"][0]["text"]
        == "<http://ui/runs/r1|Open the run in Dagster>"
    )


def test_a_run_without_failed_steps_shows_the_run_error():
    failure = RunFailure("j", "r1", {}, [], run_error="the run worker exited <unexpectedly>")
    payload = run_failure_payload(failure, "http://ui")
    assert "the run worker exited &lt;unexpectedly&gt;" in payload["blocks"][2]["text"]["text"]
    assert "Partition" not in payload["text"]


def test_a_check_message_without_partition_or_details_has_no_empty_section():
    failure = CheckFailure("staging/orders", "contract", "ERROR", None, "r1", None)
    payload = check_failure_payload(failure, "http://ui")
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]


def test_helpers_pick_the_first_line_partition_root_run_and_failure_metadata():
    assert first_line("\n  ValueError: x  \nmore") == "ValueError: x"
    assert len(first_line("x" * 1000)) == 300
    assert partition_of({"dagster/partition": DAY}) == DAY
    assert partition_of({}) is None
    assert root_run_id("r2", {"dagster/root_run_id": "r1"}) == "r1"
    assert root_run_id("r1", {}) == "r1"
    assert failure_details(
        {"failed_row_count": dg.MetadataValue.int(3), "rows": dg.MetadataValue.int(9)}
    ) == {"failed_row_count": "3"}


def test_the_builder_returns_both_sensors_running_by_default():
    sensors = alerts.build_alert_sensors()
    assert [s.name for s in sensors] == [alerts.RUN_FAILURE_SENSOR, alerts.CHECK_FAILURE_SENSOR]
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors)
