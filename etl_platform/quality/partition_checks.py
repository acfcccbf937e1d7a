"""Partition-level checks on a staging table: each returns which days fail and why.

Pure functions over counts, so each is tested on crafted numbers; the staging asset feeds them
figures read back from the warehouse, not the ones it meant to write.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

# MAD of a normal sample times this estimates its standard deviation.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict over the run's partitions."""

    failing: dict[str, str] = field(default_factory=dict)  # day -> why
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every partition passed."""
        return not self.failing


def conservation(
    days: list[str],
    read: dict[str, int],
    staged: dict[str, int],
    quarantined: dict[str, int],
    dropped: dict[str, int],
) -> CheckOutcome:
    """Rows landed in raw = rows in staging + rows in quarantine + duplicates dropped, per day."""
    failing = {}
    for day in days:
        accounted = staged.get(day, 0) + quarantined.get(day, 0) + dropped.get(day, 0)
        if read.get(day, 0) != accounted:
            failing[day] = f"raw has {read.get(day, 0)} rows, layers account for {accounted}"
    return CheckOutcome(failing, {"rows_read": sum(read.get(d, 0) for d in days)})


def quarantine_rate(
    days: list[str], read: dict[str, int], quarantined: dict[str, int], max_rate: float
) -> CheckOutcome:
    """The share of a day's rows sent to quarantine stays at or under `max_rate`."""
    rates = {d: (quarantined.get(d, 0) / read[d]) if read.get(d) else 0.0 for d in days}
    failing = {
        d: f"{r:.2%} quarantined, limit {max_rate:.2%}" for d, r in rates.items() if r > max_rate
    }
    return CheckOutcome(failing, {"rate_by_partition": {d: round(r, 6) for d, r in rates.items()}})


def volume_anomaly(
    days: list[str], read: dict[str, int], history: list[int], k: float
) -> CheckOutcome:
    """A day's row count lies within median ± k·sigma of the trailing days (sigma from the MAD).

    Robust statistics, so one bad day in the history does not widen the band for the next. With
    fewer than three days of history there is no band yet, and the check passes saying so.
    """
    if len(history) < 3:
        return CheckOutcome(metadata={"history_days": len(history), "note": "too little history"})
    median = statistics.median(history)
    mad = statistics.median(abs(x - median) for x in history)
    # A perfectly steady history has MAD 0; allow 1 % of the median so +1 row is no anomaly.
    spread = max(_MAD_TO_SIGMA * mad, 0.01 * median, 1.0)
    low, high = median - k * spread, median + k * spread
    failing = {
        d: f"{read.get(d, 0)} rows, expected {low:.0f}..{high:.0f}"
        for d in days
        if not low <= read.get(d, 0) <= high
    }
    band = {"median": median, "mad": mad, "low": round(low, 1), "high": round(high, 1)}
    return CheckOutcome(failing, {"history_days": len(history), **band})
