"""Order files for today, cut to an exact size and delivered the way uploaders should deliver.

The demo generator makes a clean day (no defects, so every landed line reaches curated and a
day's row count says which files are in); its order lines are re-cut into files of exactly the
size asked, and each is delivered under a hidden temporary name and renamed into place, so a
sensor never lists half a file.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import fields
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from etl_platform.demo.generator import DefectRates
from etl_platform.partitions import platform_timezone

# Clean rows: every landed line is staged, so a day's curated count is exactly the rows landed.
NO_DEFECTS = DefectRates(**{f.name: 0.0 for f in fields(DefectRates)})


def platform_today() -> date:
    """Today in the platform time zone: the partition files landing now belong to."""
    return datetime.now(ZoneInfo(platform_timezone())).date()


def write_order_files(source: Path, pending: Path, day: date, count: int, rows: int) -> list[Path]:
    """Cut the generated day's order lines into `count` CSV files of exactly `rows` lines."""
    folder = source / "orders" / day.isoformat()
    readers = sorted(p for p in folder.glob("*.csv") if "_resend" not in p.name)
    pending.mkdir(parents=True, exist_ok=True)
    paths = [pending / f"orders_{day.isoformat()}_{n:03d}.csv" for n in range(count)]
    lines = (row for path in readers for row in _rows(path))
    header: list[str] | None = None
    for path in paths:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            for n, (head, row) in enumerate(lines):
                header = header or head
                if n == 0:
                    writer.writerow(header)
                writer.writerow(row)
                if n + 1 == rows:
                    break
            else:
                raise ValueError(f"the generated day has fewer than {count} x {rows} order lines")
    return paths


def _rows(path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """(header, row) per line, without the generator's extra `coupon_code` column."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        width = len(header) - (header[-1] == "coupon_code")
        for row in reader:
            yield header[:width], row[:width]


def land(source_file: Path, landing: Path, prefix: str, day: date) -> float:
    """Deliver a file atomically (a hidden temporary name, then a rename); return the time."""
    folder = landing / prefix / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{source_file.name}.part"
    shutil.copyfile(source_file, temporary)
    os.replace(temporary, folder / source_file.name)
    return time.time()
