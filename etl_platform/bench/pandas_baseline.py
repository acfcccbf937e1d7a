"""The same orders staging work and daily aggregate as plain pandas, as a user would write it.

Whole files through the C parser as strings, vectorized cleansing and checks, `drop_duplicates`
for both dedup steps. Run in a process of its own (`python -m etl_platform.bench.pandas_baseline
<landing>`) and measured like the other engines; it imports nothing of the platform. The checks are
written out by hand from `sources/specs/orders.yaml`, so a spec change that this misses shows up as
a disagreement, not as a silently easier benchmark.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from etl_platform.bench.figures import DayFigures, EngineResult, order_files

COLUMNS = [
    "order_id",
    "line_number",
    "customer_id",
    "product_id",
    "quantity",
    "unit_price_inr",
    "status",
    "channel",
    "order_ts",
    "updated_at",
]
NOT_NULL = [c for c in COLUMNS if c != "channel"]
NULL_TOKENS = ["", "na", "n/a", "null", "none"]
STATUSES = ["placed", "shipped", "delivered", "cancelled", "returned"]
CHANNELS = ["web", "android", "ios"]


def read_orders(landing: Path) -> pd.DataFrame:
    """Every landed order file as text, with its day, file and line (line 1 is the header)."""
    frames = []
    for path in order_files(landing):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=lambda c: c in COLUMNS)[
            COLUMNS
        ]
        frame["_day"] = path.parent.name
        frame["_file"] = str(path)
        frame["_line"] = np.arange(2, len(frame) + 2)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def typed(text: pd.DataFrame, timezone: str) -> tuple[pd.DataFrame, pd.Series]:
    """Trimmed, null tokens as NA, cast; and where a present value did not cast."""
    clean = pd.DataFrame(index=text.index)
    for column in COLUMNS:
        trimmed = text[column].str.strip(" ")
        clean[column] = trimmed.mask(trimmed.str.lower().isin(NULL_TOKENS))
    out = clean.copy()
    for column in ("line_number", "quantity", "unit_price_inr"):
        out[column] = pd.to_numeric(clean[column], errors="coerce")
    for column in ("order_ts", "updated_at"):
        out[column] = pd.to_datetime(
            clean[column], format="ISO8601", utc=True, errors="coerce"
        ).dt.tz_convert(timezone)
    failed = pd.Series(False, index=text.index)
    for column in ("line_number", "quantity", "unit_price_inr", "order_ts", "updated_at"):
        failed |= clean[column].notna() & out[column].isna()
    return out, failed


def valid_rows(text: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The rows that pass every check of the spec, typed, with their lineage."""
    rows, type_mismatch = typed(text, timezone)
    local_day = rows["order_ts"].dt.tz_localize(None).dt.normalize()
    ok = ~type_mismatch & (local_day == pd.to_datetime(text["_day"]))
    ok &= rows[NOT_NULL].notna().all(axis=1)
    ok &= rows["line_number"].between(1, 50) & rows["quantity"].between(1, 1000)
    ok &= rows["unit_price_inr"] >= 0
    ok &= rows["status"].isin(STATUSES)
    ok &= rows["channel"].isna() | rows["channel"].isin(CHANNELS)
    ok &= rows["order_id"].str.fullmatch(r"ORD-[0-9]{8}").astype("boolean").fillna(False)
    ok &= rows["updated_at"] >= rows["order_ts"]
    out = rows[ok].copy()
    out["line_number"] = out["line_number"].astype("int64")
    out["quantity"] = out["quantity"].astype("int64")
    # Money in integer paise: exact sums, as DECIMAL(18, 2) gives the engines.
    out["unit_price_inr"] = (out["unit_price_inr"] * 100).round().astype("int64")
    return pd.concat([out, text.loc[ok, ["_day", "_file", "_line"]]], axis=1)


def run(landing: Path, timezone: str) -> EngineResult:
    """Stage the landed orders and aggregate them per day, in pandas."""
    started = time.perf_counter()
    text = read_orders(landing)
    valid = valid_rows(text, timezone)
    # Exact copies drop to the first by file and line (rows are in file and line order).
    unique = valid.drop_duplicates(subset=["_day", *COLUMNS], keep="first")
    # Latest version per line; equally recent versions: the later file and line wins.
    latest = unique.sort_values(
        ["_day", "order_id", "line_number", "updated_at", "_file", "_line"]
    ).drop_duplicates(subset=["_day", "order_id", "line_number"], keep="last")
    latest = latest.assign(revenue=latest["quantity"] * latest["unit_price_inr"])
    per_day = latest.groupby("_day").agg(
        rows=("order_id", "size"), revenue=("revenue", "sum"), lines=("_line", "sum")
    )
    daily = {day: DayFigures(0, 0, 0) for day in text["_day"].unique()}
    for day, figures in per_day.iterrows():
        daily[str(day)] = DayFigures(
            int(figures["rows"]), int(figures["revenue"]), int(figures["lines"])
        )
    return EngineResult("pandas", len(text), time.perf_counter() - started, daily)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, print the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m etl_platform.bench.pandas_baseline")
    parser.add_argument("landing", type=Path, help="the landing folder (holds orders/<day>/)")
    parser.add_argument("--timezone", default="Asia/Kolkata")
    args = parser.parse_args(argv)
    run(args.landing, args.timezone).write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
