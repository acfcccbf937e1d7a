"""The demo's per-layer summary, checked against the generator's ground-truth manifest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from deltalake import DeltaTable

from etl_platform.assets.recorded import latest_by_day
from etl_platform.io.delta_lake import DeltaLakeIOManager
from etl_platform.io.sql import table_name
from etl_platform.io.warehouse import Warehouse

CURATED = (
    "fct_order_lines",
    "fct_payments",
    "dim_customers",
    "dim_products",
    "daily_revenue_by_category_state",
    "payment_reconciliation",
)


@dataclass
class SourceSummary:
    """One source's rows per layer, and what the manifest says they should be."""

    name: str
    raw: int
    staged: int
    quarantined: Counter[str]
    duplicates_dropped: int
    expected: dict[str, Any] = field(default_factory=dict)

    def mismatches(self) -> list[str]:
        """Every figure that differs from the manifest, as readable lines."""
        found = []
        expected_q = Counter(self.expected["quarantined"])
        for label, got, want in (
            ("raw rows", self.raw, self.expected["rows_read"]),
            ("staged", self.staged, self.expected["staged"]),
            ("duplicates dropped", self.duplicates_dropped, self.expected["duplicates_dropped"]),
            ("quarantined by reason", dict(self.quarantined), dict(expected_q)),
        ):
            if got != want:
                found.append(f"{self.name}: {label} is {got}, manifest says {want}")
        return found


def _expected(manifest: dict[str, Any], source: str) -> dict[str, Any]:
    days = manifest["sources"][source].values()
    quarantined: Counter[str] = Counter()
    for day in days:
        quarantined.update(day["expected"]["quarantined"])
    return {
        "rows_read": sum(d["rows_read"] for d in days),
        "staged": sum(d["expected"]["staged"] for d in days),
        "duplicates_dropped": sum(d["expected"]["duplicates_dropped"] for d in days),
        "quarantined": quarantined,
    }


def _dropped_from_metadata(instance: dg.DagsterInstance, source: str) -> int:
    """Duplicates dropped, as the staging step recorded it per day (not derived by subtraction)."""
    recorded = latest_by_day(instance, dg.AssetKey(["staging", source]), limit=10_000)
    return sum(int(m.get("duplicates_dropped") or 0) for m in recorded.values())


def summarize(
    manifest: dict[str, Any],
    warehouse: Warehouse,
    lake: DeltaLakeIOManager,
    instance: dg.DagsterInstance,
) -> tuple[list[SourceSummary], dict[str, int]]:
    """Count every layer of every source in the manifest, and the curated tables."""
    summaries = []
    with warehouse.connect() as con:
        for source in sorted(manifest["sources"]):
            uri = lake.table_uri(dg.AssetKey(["raw", source]))
            raw = DeltaTable(uri, storage_options=lake.storage_options()).count()
            ((staged,),) = con.execute(
                f"SELECT count(*) FROM {table_name('staging', source)}"
            ).fetchall()
            reasons = con.execute(
                f"SELECT _reason, count(*) FROM {table_name('quarantine', source)} GROUP BY 1"
            ).fetchall()
            summaries.append(
                SourceSummary(
                    source,
                    raw,
                    int(staged),
                    Counter({reason: int(n) for reason, n in reasons}),
                    _dropped_from_metadata(instance, source),
                    _expected(manifest, source),
                )
            )
        curated = {}
        for table in CURATED:
            ((count,),) = con.execute(
                f"SELECT count(*) FROM {table_name('curated', table)}"
            ).fetchall()
            curated[table] = int(count)
    return summaries, curated


def render(summaries: list[SourceSummary], curated: dict[str, int]) -> str:
    """A plain-text table: one line per source and layer, then the curated tables."""
    lines = [
        f"{'source':<10} {'raw':>9} {'staged':>9} {'quarant.':>9} {'dup drop':>9}  "
        "quarantined by reason",
    ]
    for s in summaries:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(s.quarantined.items()))
        lines.append(
            f"{s.name:<10} {s.raw:>9} {s.staged:>9} {sum(s.quarantined.values()):>9} "
            f"{s.duplicates_dropped:>9}  {reasons}"
        )
    lines.append("")
    lines.extend(f"curated.{name:<34} {count:>9} rows" for name, count in curated.items())
    return "\n".join(lines)


def render_quality(warehouse: Warehouse, instance: dg.DagsterInstance) -> str:
    """The quality report's rows and every check that did not pass, as plain text."""
    with warehouse.connect() as con:
        report = con.execute(
            "SELECT CAST(_partition_date AS VARCHAR), source, status, quarantine_rate, "
            "files_with_drift, checks_failed FROM quality.report ORDER BY 1, 2"
        ).fetchall()
    lines = [
        f"{'day':<11} {'source':<10} {'status':<8} {'quar. rate':>10} {'drift files':>11}  "
        "checks failed"
    ]
    lines += [
        f"{d:<11} {s:<10} {st:<8} {(r or 0):>10.2%} {(n or 0):>11}  {f}"
        for d, s, st, r, n, f in report
    ]
    evaluations = [
        event.dagster_event.asset_check_evaluation_data
        for run in instance.get_runs()
        for event in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
        if event.dagster_event is not None
    ]
    failed: dict[str, set[str]] = {}
    for e in evaluations:
        if not e.passed:
            name = f"{e.check_name} ({e.severity.value})"
            failed.setdefault(name, set()).add(e.asset_key.to_user_string())
    passed = sum(e.passed for e in evaluations)
    lines.append("")
    lines.append(f"asset checks: {len(evaluations)} evaluated, {passed} passed")
    lines.extend(
        f"  did not pass: {name} on {', '.join(sorted(assets))}"
        for name, assets in sorted(failed.items())
    )
    return "\n".join(lines)
