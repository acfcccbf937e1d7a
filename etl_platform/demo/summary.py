"""The demo's per-layer summary, checked against the generator's ground-truth manifest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from deltalake import DeltaTable

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
    """Duplicates dropped, as the staging step itself recorded it (not derived by subtraction)."""
    total = 0
    for record in instance.fetch_materializations(
        dg.AssetKey(["staging", source]), limit=1000
    ).records:
        materialization = record.asset_materialization
        if materialization is not None:
            value = materialization.metadata["duplicates_dropped"].value
            total += int(value) if isinstance(value, int) else 0
    return total


def summarize(
    manifest: dict[str, Any], data_dir: Path, instance: dg.DagsterInstance
) -> tuple[list[SourceSummary], dict[str, int]]:
    """Count every layer of every source in the manifest, and the curated tables."""
    summaries = []
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        for source in sorted(manifest["sources"]):
            raw = DeltaTable(str(data_dir / "lake" / "raw" / source)).count()
            ((staged,),) = con.execute(f'SELECT count(*) FROM staging."{source}"').fetchall()
            reasons = con.execute(
                f'SELECT _reason, count(*) FROM quarantine."{source}" GROUP BY ALL'
            ).fetchall()
            summaries.append(
                SourceSummary(
                    source,
                    raw,
                    staged,
                    Counter(dict(reasons)),
                    _dropped_from_metadata(instance, source),
                    _expected(manifest, source),
                )
            )
        curated = {}
        for table in CURATED:
            ((curated[table],),) = con.execute(f'SELECT count(*) FROM curated."{table}"').fetchall()
    finally:
        con.close()
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


def render_quality(data_dir: Path, instance: dg.DagsterInstance) -> str:
    """The quality report's rows and every check that did not pass, as plain text."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        report = con.execute(
            "SELECT _partition_date::VARCHAR, source, status, quarantine_rate, files_with_drift, "
            "checks_failed "
            "FROM quality.report ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
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
