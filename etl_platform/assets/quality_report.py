"""The daily quality report: per source and day, rows per layer, quarantine reasons, checks, drift.

Built from what each step recorded for the day (materialization metadata), so it reports what
happened, and is itself a table in the warehouse for dashboards.
"""

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa

from etl_platform.assets.raw import WAREHOUSE_POOL, raw_key
from etl_platform.assets.recorded import latest_for_day
from etl_platform.assets.staging import quarantine_key, staging_key
from etl_platform.partitions import daily_partitions
from etl_platform.sources.model import SourceSpec

REPORT_KEY = dg.AssetKey(["quality", "report"])
REPORT_SCHEMA = pa.schema(
    [
        ("_partition_date", pa.date32()),
        ("source", pa.string()),
        ("status", pa.string()),
        ("rows_read", pa.int64()),
        ("rows_staged", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("duplicates_dropped", pa.int64()),
        ("quarantine_rate", pa.float64()),
        ("quarantined_by_reason", pa.string()),
        ("checks_failed", pa.string()),
        ("blocking_checks_failed", pa.string()),
        ("files_with_drift", pa.int64()),
        ("files_rejected", pa.int64()),
    ]
)


def _on_day(files: object, day: str) -> int:
    """Files of a (range) run's drift record that belong to the day (`<prefix>/<day>/<file>`)."""
    return sum(f"/{day}/" in key for key in files) if isinstance(files, Mapping) else 0


def report_row(
    day: str, source: str, staging: dict[str, Any] | None, raw: dict[str, Any] | None
) -> dict[str, Any]:
    """One source's day; `status` says whether it passed, failed a check, or never arrived."""
    if staging is None:
        return {"_partition_date": date.fromisoformat(day), "source": source, "status": "missing"}
    failed = staging.get("checks_failed") or []
    blocking = staging.get("blocking_checks_failed") or []
    status = "blocked" if blocking else "warning" if failed else "ok"
    raw = raw or {}
    return {
        "_partition_date": date.fromisoformat(day),
        "source": source,
        "status": status,
        "rows_read": staging.get("rows_read"),
        "rows_staged": staging.get("rows_staged"),
        "rows_quarantined": staging.get("rows_quarantined"),
        "duplicates_dropped": staging.get("duplicates_dropped"),
        "quarantine_rate": staging.get("quarantine_rate"),
        "quarantined_by_reason": json.dumps(staging.get("quarantined_by_reason") or {}),
        "checks_failed": json.dumps(failed),
        "blocking_checks_failed": json.dumps(blocking),
        "files_with_drift": _on_day(raw.get("schema_drift"), day),
        "files_rejected": _on_day(raw.get("files_rejected"), day),
    }


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| day | source | status | read | staged | quarantined | dups | drift files |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['_partition_date']} | {r['source']} | {r['status']} | {r.get('rows_read')} "
        f"| {r.get('rows_staged')} | {r.get('rows_quarantined')} | {r.get('duplicates_dropped')} "
        f"| {r.get('files_with_drift')} |"
        for r in rows
    ]
    return "\n".join(lines)


def build_quality_report(specs: list[SourceSpec]) -> dg.AssetsDefinition:
    """`quality/report`: one row per source and day, in the warehouse."""

    @dg.asset(
        key=REPORT_KEY,
        description="Per source and day: rows per layer, quarantine by reason, failed checks, "
        "schema drift. One row per source and day.",
        group_name="quality",
        kinds={"duckdb"},
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="warehouse_io_manager",
        pool=WAREHOUSE_POOL,
        deps=[k for s in specs for k in (raw_key(s), staging_key(s), quarantine_key(s))],
    )
    def quality_report(context: dg.AssetExecutionContext) -> pa.Table:
        instance = context.instance
        rows = []
        for day in sorted(context.partition_keys):
            day_rows = [
                report_row(
                    day,
                    spec.name,
                    latest_for_day(instance, staging_key(spec), day),
                    latest_for_day(instance, raw_key(spec), day),
                )
                for spec in specs
            ]
            context.add_asset_metadata(
                {
                    "dagster/row_count": len(day_rows),
                    "report": dg.MetadataValue.md(_markdown(day_rows)),
                    "sources_blocked": sum(r["status"] == "blocked" for r in day_rows),
                },
                partition_key=day,
            )
            rows.extend(day_rows)
        return pa.Table.from_pylist(rows, schema=REPORT_SCHEMA)

    return quality_report
