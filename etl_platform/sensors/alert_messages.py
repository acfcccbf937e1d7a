"""The text of alerts: Slack-compatible JSON (`text` plus `blocks`) built from plain values.

`text` carries everything on its own, for webhooks that ignore blocks (Mattermost, notification
previews) and for the log line written when no webhook is configured.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

ROOT_RUN_TAG = "dagster/root_run_id"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

MAX_STEPS_LISTED = 10
MAX_LINE = 300
# Slack rejects (HTTP 400) a header over 150 characters and a section over 3000.
MAX_HEADER = 150
MAX_SECTION = 3000


@dataclass(frozen=True)
class RunFailure:
    """What an alert says about a failed run."""

    job_name: str
    run_id: str
    tags: dict[str, str]
    failed_steps: list[tuple[str, str]]  # (step key, first line of its error)
    run_error: str  # shown when no step failed, e.g. the run worker died


@dataclass(frozen=True)
class CheckFailure:
    """What an alert says about a failed asset check evaluation."""

    asset_key: str
    check_name: str
    severity: str
    partition: str | None
    run_id: str
    description: str | None
    details: dict[str, str] = field(default_factory=dict)


def first_line(text: str) -> str:
    """The first non-empty line, shortened: a chat message is no place for a traceback."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def root_run_id(run_id: str, tags: dict[str, str]) -> str:
    """The first run of a retry chain: each retry and re-execution carries it as a tag."""
    return tags.get(ROOT_RUN_TAG, run_id)


def partition_of(tags: dict[str, str]) -> str | None:
    """The partition, or the partition range, a run was launched for."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start and end:
        return start if start == end else f"{start}...{end}"
    return None


def failure_details(metadata: dict[str, dg.MetadataValue]) -> dict[str, str]:
    """The metadata that says what failed: `failing_partitions`, dbt's `failed_row_count`."""
    details = {}
    for key, entry in metadata.items():
        if "fail" in key.lower() or key == "description":
            value = entry.value
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            details[key] = first_line(text)
    return details


def run_failure_payload(failure: RunFailure, dagster_url: str) -> dict[str, Any]:
    """The message for a failed run: which job and partition, which steps failed and why."""
    fields = [("Job", failure.job_name), ("Run", failure.run_id)]
    partition = partition_of(failure.tags)
    if partition:
        fields.append(("Partition", partition))
    steps = [f"{step}: {error}" for step, error in failure.failed_steps[:MAX_STEPS_LISTED]]
    if len(failure.failed_steps) > MAX_STEPS_LISTED:
        steps.append(f"and {len(failure.failed_steps) - MAX_STEPS_LISTED} more")
    body = ["Failed steps:", *steps] if steps else [failure.run_error]
    link = f"{dagster_url}/runs/{failure.run_id}"
    return _payload(f"Run failed: {failure.job_name}", fields, body, link)


def check_failure_payload(failure: CheckFailure, dagster_url: str) -> dict[str, Any]:
    """The message for a failed asset check: severity, asset, check, partition and evidence."""
    fields = [
        ("Severity", failure.severity),
        ("Asset", failure.asset_key),
        ("Check", failure.check_name),
    ]
    if failure.partition:
        fields.append(("Partition", failure.partition))
    body = [failure.description] if failure.description else []
    body += [f"{key}: {value}" for key, value in failure.details.items()]
    link = f"{dagster_url}/runs/{failure.run_id}"
    title = f"Asset check failed ({failure.severity}): {failure.asset_key} {failure.check_name}"
    return _payload(title, fields, body, link)


def _escape(text: str) -> str:
    # Slack reads <...> as links and mentions: an error quoting "<!channel>" must not page anyone.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _payload(
    title: str, fields: list[tuple[str, str]], body: list[str], link: str
) -> dict[str, Any]:
    lines = [title, *(f"{name}: {value}" for name, value in fields), *body, link]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:MAX_HEADER]}},
        {
            "type": "section",
            "fields": [_mrkdwn(f"*{name}*\n{_escape(value)}") for name, value in fields],
        },
    ]
    if body:
        section = "\n".join(_escape(line) for line in body)[:MAX_SECTION]
        blocks.append({"type": "section", "text": _mrkdwn(section)})
    blocks.append({"type": "context", "elements": [_mrkdwn(f"<{link}|Open the run in Dagster>")]})
    return {"text": _escape("\n".join(lines)), "blocks": blocks}
