"""The benchmark's table, its agreement check and the machine it ran on."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, fields
from importlib.metadata import version

from etl_platform.bench.figures import DayFigures

ENGINES = ("platform", "duckdb", "pandas", "spark")


@dataclass(frozen=True)
class Row:
    """One line of the table: an engine, or one layer of the platform."""

    engine: str
    layer: str
    wall_s: float
    rows_per_s: float
    peak_rss_mb: float  # largest sampled sum over the process tree
    peak_single_rss_mb: float  # largest single process's high-water mark (VmHWM)
    ratio_to_duckdb: float | None  # rows/s over the bare DuckDB baseline's rows/s


def with_ratios(rows: list[Row]) -> list[Row]:
    """The rows with `ratio_to_duckdb` filled in, when the DuckDB baseline ran."""
    limit = next((r.rows_per_s for r in rows if r.engine == "duckdb"), None)
    if not limit:
        return rows
    return [
        Row(r.engine, r.layer, r.wall_s, r.rows_per_s, r.peak_rss_mb, r.peak_single_rss_mb,
            r.rows_per_s / limit)
        for r in rows
    ]  # fmt: skip


def render(rows: list[Row]) -> str:
    """The table: engine/layer, wall s, rows/s, peak RSS MB (tree sum), ratio to DuckDB."""
    lines = [
        f"{'engine / layer':<22}{'wall s':>9}{'rows/s':>12}{'peak RSS MB':>13}{'vs DuckDB':>11}"
    ]
    for r in rows:
        ratio = "n/a" if r.ratio_to_duckdb is None else f"{r.ratio_to_duckdb:.2f}"
        lines.append(
            f"{r.engine + ' ' + r.layer:<22}{r.wall_s:>9.1f}{r.rows_per_s:>12,.0f}"
            f"{r.peak_rss_mb:>13,.0f}{ratio:>11}"
        )
    return "\n".join(lines)


def disagreements(
    daily: dict[str, dict[str, DayFigures]],
    expected_rows: dict[str, int],
    rows_read: dict[str, int],
    landed_rows: int,
) -> list[str]:
    """Every day and figure on which the engines (and the generator's manifest) differ.

    `daily`: engine -> day -> figures; `expected_rows`: the manifest's staged rows per day, the
    ground truth for the row counts; `rows_read`: what each baseline says it read, which must be
    every landed row.
    """
    problems = [
        f"MISMATCH rows read: {engine} read {n:,} of {landed_rows:,} landed rows"
        for engine, n in rows_read.items()
        if n != landed_rows
    ]
    days = sorted(set(expected_rows).union(*(d.keys() for d in daily.values())))
    for day in days:
        for figure in (f.name for f in fields(DayFigures)):
            values: dict[str, int | None] = {
                engine: getattr(by_day[day], figure) if day in by_day else None
                for engine, by_day in daily.items()
            }
            if figure == "rows":
                values["manifest"] = expected_rows.get(day)
            if len(set(values.values())) > 1:
                found = ", ".join(f"{name}={value}" for name, value in values.items())
                problems.append(f"MISMATCH {day} {figure}: {found}")
    return problems


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _memory_mb() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def machine() -> dict[str, object]:
    """Where the figures were measured: they mean little without it."""
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_mb": _memory_mb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        **{name: version(name) for name in ("duckdb", "pandas", "pyarrow", "dagster")},
    }
