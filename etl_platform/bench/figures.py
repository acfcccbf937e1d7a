"""What every engine of the benchmark reports: per day, the order lines it staged.

Standard library only: the baselines import this module, and the memory and start-up measured for
them must be their engine's, not Dagster's.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ORDERS = "orders"
_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class DayFigures:
    """One day's figures: enough to tell two engines that did different work apart.

    Row counts alone miss an engine that keeps the wrong copy or version of a line (the count is
    the same); the sum of the winners' source lines does not.
    """

    rows: int  # valid, deduplicated order lines
    revenue_paise: int  # sum of quantity * unit price over them, exact
    line_checksum: int  # sum of their source lines (line 1 is the header)


@dataclass(frozen=True)
class EngineResult:
    """What a baseline process prints: its figures, rows read, and its own timing of the work."""

    engine: str
    rows_read: int
    seconds: float  # inside the process, after start-up and imports
    daily: dict[str, DayFigures]

    def to_json(self) -> str:
        """One JSON document (days sorted)."""
        body: dict[str, Any] = asdict(self)
        body["daily"] = {day: asdict(self.daily[day]) for day in sorted(self.daily)}
        return json.dumps(body)

    @classmethod
    def from_json(cls, text: str) -> EngineResult:
        """Parse what `to_json` wrote."""
        body = json.loads(text)
        daily = {day: DayFigures(**figures) for day, figures in body["daily"].items()}
        return cls(body["engine"], int(body["rows_read"]), float(body["seconds"]), daily)

    def write(self) -> None:
        """Print to stdout, where the benchmark reads it."""
        sys.stdout.write(self.to_json() + "\n")


def order_files(landing: Path) -> list[Path]:
    """The landed order files, in the platform's key order (day folder, then file name).

    Ties between equally recent versions are broken by file and line, so every engine must see
    the files in the same order.
    """
    base = landing / ORDERS
    days = sorted(p for p in base.iterdir() if p.is_dir() and _DAY_FOLDER.match(p.name))
    return [f for day in days for f in sorted(day.glob("*.csv")) if f.stat().st_size > 0]
