"""Alerts on failed runs and failed asset checks, posted to a Slack-compatible webhook.

Without `ETL_ALERT_WEBHOOK_URL` an alert is only logged, as a warning: a sensor failing for want of
a webhook would also stop logging the failures it exists to report.
"""

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import dagster as dg

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

WEBHOOK_ENV = "ETL_ALERT_WEBHOOK_URL"
DAGSTER_URL_ENV = "ETL_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
RUN_FAILURE_SENSOR = "run_failure_alert_sensor"
CHECK_FAILURE_SENSOR = "asset_check_alert_sensor"

# Set on the root run of a retry chain once its failure is alerted: run storage keeps it across
# daemon restarts, and the UI shows it. The run-status sensor's cursor is Dagster's, not ours.
ALERTED_TAG = "etl/failure_alerted_by_run"

MAX_CHECK_EVALUATIONS_PER_TICK = 200
MAX_RUNS_PER_TICK = 50
# The daemon abandons a tick after 60 s; no alert starts after 30 s, and one takes at most ~17 s
# (3 tries of 5 s, 1.5 s of backoff).
TICK_SECONDS = 30.0
FinishedRunEvent = Literal[
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
]
FINISHED_RUN_EVENTS: tuple[FinishedRunEvent, ...] = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)


def dagster_url() -> str:
    """The UI's base URL for links, read at each evaluation like the webhook."""
    return os.environ.get(DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL).rstrip("/")


def send_alert(log: logging.Logger, payload: dict[str, Any]) -> None:
    """Log the alert, then post it when a webhook is configured.

    Raises:
        AlertDeliveryError: The webhook did not take it; the sensor tick shows the error.
    """
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        log.warning(f"{WEBHOOK_ENV} is not set, alert only logged: {payload['text']}")
        return
    log.info(f"alert: {payload['text']}")
    post_alert(url, payload)


class _ErrorInfo(Protocol):
    message: str
    cls_name: str | None
    cause: "_ErrorInfo | None"


def _user_error_line(error: _ErrorInfo) -> str:
    # Dagster wraps user errors ("Error occurred while executing op ..."); the cause says why.
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return first_line(error.message)


def _run_failure(context: dg.RunFailureSensorContext) -> RunFailure:
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        steps.append((event.step_key or "?", _user_error_line(error) if error else "no error"))
    run_error = getattr(context.failure_event.event_specific_data, "error", None)
    return RunFailure(
        job_name=run.job_name,
        run_id=run.run_id,
        tags=dict(run.tags),
        failed_steps=steps,
        run_error=_user_error_line(run_error)
        if run_error
        else first_line(context.failure_event.message or "the run failed"),
    )


def build_run_failure_alert_sensor() -> dg.SensorDefinition:
    """A sensor alerting once per failed chain of retries, for every job of the code location."""

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Posts each failed run to ${WEBHOOK_ENV}, once per chain of retries.",
    )
    def _sensor(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        instance = context.instance
        root = instance.get_run_by_id(root_run_id(run.run_id, dict(run.tags))) or run
        if ALERTED_TAG in root.tags:
            context.log.info(f"run {run.run_id}: its root run {root.run_id} was already alerted")
            return
        send_alert(context.log, run_failure_payload(_run_failure(context), dagster_url()))
        # Marked after posting: a crash in between re-sends once, rather than never alerting.
        instance.add_run_tags(root.run_id, {ALERTED_TAG: run.run_id})

    return _sensor


@dataclass
class CheckCursor:
    """How far the check sensor has read: finished runs by event type, and a run read in part.

    Check evaluations are found through the runs that produced them: run status changes carry
    instance-wide storage ids on every storage, while the default SQLite storage numbers other
    events per run, so no single event id orders check evaluations across runs.
    """

    after: dict[str, int]  # per finished-run event type, the last run status storage id read
    run_id: str | None = None  # a run whose evaluations were cut short by the tick's budget
    done: int = -1  # in that run, the storage id of the last evaluation handled

    def to_json(self) -> str:
        """The cursor as the sensor stores it."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CheckCursor":
        """The cursor from its stored form."""
        return cls(**json.loads(text))


def _latest_status_id(instance: dg.DagsterInstance, event_type: dg.DagsterEventType) -> int:
    records = instance.fetch_run_status_changes(event_type, limit=1).records
    return records[0].storage_id if records else -1


def _finished_runs(instance: dg.DagsterInstance, cursor: CheckCursor) -> list[tuple[int, str, str]]:
    """(status storage id, event type, run id) of runs finished after the cursor, oldest first."""
    finished = []
    for event_type in FINISHED_RUN_EVENTS:
        records_filter = dg.RunStatusChangeRecordsFilter(
            event_type=event_type, after_storage_id=cursor.after.get(event_type.value, -1)
        )
        records = instance.fetch_run_status_changes(
            records_filter, limit=MAX_RUNS_PER_TICK, ascending=True
        ).records
        finished += [(r.storage_id, event_type.value, r.run_id) for r in records]
    return sorted(finished)[:MAX_RUNS_PER_TICK]


def _check_failure(record: dg.EventLogRecord, run: dg.DagsterRun | None) -> CheckFailure | None:
    event = record.event_log_entry.dagster_event
    evaluation = event.event_specific_data if event else None
    if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
        return None
    return CheckFailure(
        asset_key=evaluation.asset_key.to_user_string(),
        check_name=evaluation.check_name,
        severity=evaluation.severity.value,
        partition=evaluation.partition or partition_of(dict(run.tags) if run else {}),
        run_id=record.run_id,
        description=evaluation.description,
        details=failure_details(dict(evaluation.metadata)),
    )


@dataclass
class _Tick:
    """One evaluation's budget, and what it has done."""

    log: logging.Logger
    budget: int
    deadline: float
    alerts: int = 0
    refused: int = 0
    done: int = -1  # in the run being read, the storage id of the last evaluation handled

    def alert_run(self, instance: dg.DagsterInstance, run_id: str) -> bool:
        """Alerts the run's failed checks after `done`; whether it got through all of them.

        Raises:
            AlertDeliveryError: A transient failure: that evaluation must be tried again.
        """
        run = instance.get_run_by_id(run_id)
        check_evaluation = dg.DagsterEventType.ASSET_CHECK_EVALUATION
        for record in instance.get_records_for_run(run_id, of_type=check_evaluation).records:
            if record.storage_id <= self.done:
                continue
            if self.budget == 0 or time.monotonic() > self.deadline:
                return False
            self.budget -= 1
            failure = _check_failure(record, run)
            if failure:
                try:
                    send_alert(self.log, check_failure_payload(failure, dagster_url()))
                    self.alerts += 1
                except AlertDeliveryError as error:
                    if error.transient:
                        raise
                    # Refused (4xx): sending it again would wedge every later alert behind it.
                    self.log.error(f"alert dropped: {error}")
                    self.refused += 1
            self.done = record.storage_id
        return True


def build_check_failure_alert_sensor() -> dg.SensorDefinition:
    """A sensor posting one alert per failed asset check evaluation, ERROR and WARN alike."""

    @dg.sensor(
        name=CHECK_FAILURE_SENSOR,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Posts each failed asset check to ${WEBHOOK_ENV} once its run has finished.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        instance = context.instance
        if context.cursor is None:
            # As Dagster's run-status sensors do: start from now, not from the instance's history.
            start = {t.value: _latest_status_id(instance, t) for t in FINISHED_RUN_EVENTS}
            return dg.SensorResult(
                skip_reason="started: checks of runs finishing from now on will be alerted",
                cursor=CheckCursor(after=start).to_json(),
            )
        cursor = CheckCursor.from_json(context.cursor)
        deadline = time.monotonic() + TICK_SECONDS
        tick = _Tick(context.log, budget=MAX_CHECK_EVALUATIONS_PER_TICK, deadline=deadline)
        for status_id, event_type, run_id in _finished_runs(instance, cursor):
            tick.done = cursor.done if cursor.run_id == run_id else -1
            try:
                complete = tick.alert_run(instance, run_id)
            except AlertDeliveryError as error:
                if tick.alerts + tick.refused == 0:
                    raise  # nothing sent yet: a failed tick shows the error and repeats nothing
                context.log.error(f"alert delivery failed, retrying it next tick: {error}")
                complete = False
            if not complete:
                cursor.run_id, cursor.done = run_id, tick.done
                break
            cursor.after[event_type], cursor.run_id, cursor.done = status_id, None, -1
        summary = f"{tick.alerts} failed checks alerted, {tick.refused} refused by the webhook"
        return dg.SensorResult(skip_reason=summary, cursor=cursor.to_json())

    return _sensor


def build_alert_sensors() -> list[dg.SensorDefinition]:
    """The alerting sensors: one for failed runs, one for failed asset checks."""
    return [build_run_failure_alert_sensor(), build_check_failure_alert_sensor()]
