"""Deterministic demo data for the landing folder, with defects at known rates and a manifest.

Writes `<landing>/<source>/<YYYY-MM-DD>/<file>` for orders (CSV), payments (JSON Lines), customers
(CSV) and products (Parquet), and a manifest saying exactly what the platform must stage, drop and
quarantine for every source and day, so end-to-end tests can check the platform against ground
truth. Same arguments give byte-identical files: every random draw comes from generators seeded
with the seed (plus source and day), never from the clock, and rows are built in a fixed order.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.demo.rows import (
    BANKS,
    BATCH_END,
    CANCELLED,
    DAY_SECONDS,
    LATEST_UPDATE,
    ORDER_START,
    PADS,
    STATUSES,
    Catalog,
    CustomerBase,
    OrderLines,
    bad_timestamp,
    invalid_pan,
    ist_stamps,
    malformed_email,
    pad,
    pad_codes,
    rupees,
    utc_stamps,
)

log = logging.getLogger(__name__)
_Row = TypeVar("_Row")  # one rendered row: a CSV row or a JSON line

REASON_CODES = [
    "null_violation",
    "type_mismatch",
    "out_of_range",
    "not_allowed",
    "pattern_mismatch",
]
ORDER_COLUMNS = [
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
CUSTOMER_COLUMNS = ["customer_id", "name", "email", "phone", "pan", "city", "state", "updated_at"]
ORDER_ID, QUANTITY, STATUS, ORDER_TS, UPDATED_AT = (
    ORDER_COLUMNS.index(c) for c in ("order_id", "quantity", "status", "order_ts", "updated_at")
)
EMAIL, PAN = CUSTOMER_COLUMNS.index("email"), CUSTOMER_COLUMNS.index("pan")
NEXT_STATUS = {0: 1, 1: 2, 2: 4}  # the later version of a line moves on; never into cancelled
# Payment outcome per order; codes 0-5 for live orders, 6-7 for cancelled ones.
PAYMENT_SCENARIOS = [
    "paid",
    "failed_then_paid",
    "no_payment",
    "underpaid",
    "overpaid",
    "pending",
    "cancelled_unpaid",
    "cancelled_paid",
]
PAYMENT_STATUSES = ("SUCCESS", "FAILED", "PENDING")
BANK_TEXT = [p.format(bank) for bank in BANKS for p in PADS]  # code = bank * 4 + pad
PRODUCTS = 200
ROWS_PER_ORDER_FILE = 250_000
CHUNK_ROWS = 250_000  # payments are rendered and written this many lines at a time
PRICE_TYPE = pa.decimal128(12, 2)


@dataclass(frozen=True)
class DefectRates:
    """Share of a day's rows given each defect: count = round(rate * rows), >= 1 from 50 rows."""

    order_exact_duplicates: float = 0.01
    order_key_updates: float = 0.02
    order_null_keys: float = 0.005
    order_negative_quantities: float = 0.005
    order_bad_timestamps: float = 0.005
    payment_exact_duplicates: float = 0.01
    payment_bad_timestamps: float = 0.003
    payment_unknown_orders: float = 0.003  # valid rows; a reconciliation finding, not a defect
    customer_key_updates: float = 0.02
    customer_bad_emails: float = 0.02
    customer_bad_pans: float = 0.015


DEFAULT_RATES = DefectRates()


def defect_count(rate: float, rows: int) -> int:
    """Exact number of defective rows; small days with 50+ rows still get one of each."""
    count = round(rate * rows)
    return max(1, count) if rate > 0 and rows >= 50 else count


def pick_disjoint(
    rnd: random.Random, population: list[int], counts: dict[str, int]
) -> dict[str, list[int]]:
    """Choose non-overlapping row sets in one draw, so no row carries two defects."""
    chosen = rnd.sample(population, min(sum(counts.values()), len(population)))
    out, used = {}, 0
    for name, count in counts.items():
        out[name] = sorted(chosen[used : used + count])
        used += len(out[name])
    return out


@dataclass
class _Day:
    """One landing day: its date, stamp tables and seeded random streams."""

    index: int
    day: date
    seed: int
    landing: Path

    def __post_init__(self) -> None:
        self.ist = ist_stamps(self.day)

    def rng(self, source: str) -> np.random.Generator:
        code = ("orders", "payments", "customers", "products").index(source)
        return np.random.default_rng([self.seed % 2**64, self.day.toordinal(), code])

    def rnd(self, source: str) -> random.Random:
        return random.Random(f"{self.seed}/{source}/{self.day.isoformat()}")

    def folder(self, source: str) -> Path:
        path = self.landing / source / self.day.isoformat()
        path.mkdir(parents=True, exist_ok=True)
        return path


def _entry(
    files: int, rows_read: int, defects: dict[str, int], quarantined: dict[str, int], dropped: int
) -> dict[str, Any]:
    """Manifest entry; staged is whatever is neither quarantined nor dropped as a duplicate."""
    reasons = {r: quarantined[r] for r in REASON_CODES if quarantined.get(r)}
    return {
        "files": files,
        "duplicate_files": 0,
        "rows_in_duplicate_files": 0,
        "files_with_extra_column": 0,
        "rows_read": rows_read,
        "defects": defects,
        "expected": {
            "staged": rows_read - sum(reasons.values()) - dropped,
            "duplicates_dropped": dropped,
            "quarantined": reasons,
        },
    }


def _write_csv(path: Path, header: list[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _merge(rows: Sequence[_Row], extras: Sequence[tuple[int, _Row]]) -> list[_Row]:
    """Insert extra rows at (position, row) pairs in one pass, keeping the draw order for ties."""
    out: list[_Row] = []
    previous = 0
    for position, row in sorted(extras, key=lambda e: e[0]):
        out.extend(rows[previous:position])
        out.append(row)
        previous = position
    out.extend(rows[previous:])
    return out


def _write_products(ctx: _Day, catalog: Catalog) -> dict[str, Any]:
    """Day 1: the full catalog. Later days: a few price changes, one of them superseded that day."""
    rng, rnd = ctx.rng("products"), ctx.rnd("products")
    versions: list[tuple[int, int, int]] = []  # (product, price in paise, second of day)
    superseded = 0
    if ctx.index == 0:
        versions = [(i, int(p), rnd.randrange(BATCH_END)) for i, p in enumerate(catalog.prices)]
    else:
        changed = sorted(rnd.sample(range(len(catalog.ids)), max(1, len(catalog.ids) // 40)))
        for n, i in enumerate(changed):
            second = rnd.randrange(60, BATCH_END)
            if n == 0:  # changed twice within the day: the earlier version must lose
                versions.append((i, catalog.repriced(i, rng), rnd.randrange(second)))
                superseded = 1
            versions.append((i, catalog.repriced(i, rng), second))
    for i, price, _ in sorted(versions, key=lambda v: v[2]):
        catalog.prices[i] = price  # the latest version of the day wins
    rnd.shuffle(versions)
    versions.sort(key=lambda v: v[0])  # by product id, same-id versions in random order
    table = pa.table(
        {
            "product_id": pa.array([catalog.ids[i] for i, _, _ in versions], pa.string()),
            "name": pa.array([pad(catalog.names[i], rnd, 0.02) for i, _, _ in versions]),
            "category": pa.array([catalog.categories[i] for i, _, _ in versions], pa.string()),
            "price_inr": pa.array([Catalog.decimal(p) for _, p, _ in versions], PRICE_TYPE),
            "updated_at": pa.array([ctx.ist[s] for _, _, s in versions], pa.string()),
        }
    )
    path = ctx.folder("products") / f"products_{ctx.day.isoformat()}.parquet"
    pq.write_table(table, path, compression="snappy", version="2.6", write_statistics=True)
    defects = {"superseded_key_updates": superseded}
    return _entry(1, len(versions), defects, {}, superseded)


def _write_customers(
    ctx: _Day, base: CustomerBase, rates: DefectRates, initial: int
) -> dict[str, Any]:
    """Day 1: the initial base (loaded before 00:30). Later days: sign-ups and profile changes."""
    rnd = ctx.rnd("customers")
    if ctx.index == 0:
        entries = [(rnd.randrange(BATCH_END), i, True) for i in base.create(initial)]
    else:
        changed = sorted(rnd.sample(base.pool, min(max(5, initial // 10), len(base.pool))))
        for i in changed:
            base.change(i)
        entries = [(rnd.randrange(LATEST_UPDATE), i, False) for i in changed]
        entries += [
            (rnd.randrange(LATEST_UPDATE), i, True) for i in base.create(max(5, initial // 10))
        ]
    entries.sort()
    n = len(entries)
    bad = pick_disjoint(
        rnd,
        list(range(n)),
        {
            "updates": defect_count(rates.customer_key_updates, n),
            "emails": defect_count(rates.customer_bad_emails, n),
            "pans": defect_count(rates.customer_bad_pans, n),
        },
    )
    rows = base.rows([i for _, i, _ in entries], [ctx.ist[second] for second, _, _ in entries])
    for k in bad["emails"]:
        rows[k][EMAIL] = malformed_email(rows[k][EMAIL], rnd)
    for k in bad["pans"]:
        rows[k][PAN] = invalid_pan(base.pans[entries[k][1]] or "BQZPS4821K", rnd)
    extras = []
    for k in bad["updates"]:  # same customer later that day, moved to another city
        second, i, _ = entries[k]
        base.move(i)
        later = second + rnd.randint(60, DAY_SECONDS - 1 - second)
        extras.append((rnd.randrange(n + 1), base.rows([i], [ctx.ist[later]])[0]))
    quarantined = set(bad["emails"]) | set(bad["pans"])
    base.admit([(s, i) for k, (s, i, new) in enumerate(entries) if new and k not in quarantined])
    path = ctx.folder("customers") / f"customers_{ctx.day.isoformat()}.csv"
    _write_csv(path, CUSTOMER_COLUMNS, _merge(rows, extras))
    defects = {
        "superseded_key_updates": len(extras),
        "malformed_emails": len(bad["emails"]),
        "invalid_pans": len(bad["pans"]),
    }
    pattern = len(bad["emails"]) + len(bad["pans"])
    return _entry(1, n + len(extras), defects, {"pattern_mismatch": pattern}, len(extras))


def _file_bounds(lines: OrderLines) -> list[int]:
    """Where the day's files start and end (file f holds bounds[f]:bounds[f+1]), between orders."""
    n = len(lines.order_of)
    files = max(1, min(len(lines.starts), max(4, -(-n // ROWS_PER_ORDER_FILE))))
    cuts = lines.starts[np.searchsorted(lines.starts, [n * f // files for f in range(1, files)])]
    return sorted({0, n, *map(int, cuts)})


def _order_defects(
    rnd: random.Random, lines: OrderLines, rates: DefectRates
) -> dict[str, list[int]]:
    """Disjoint line sets per defect; key updates only for lines whose status can still move on."""
    n = len(lines.order_of)
    movable = np.flatnonzero(np.isin(lines.status[lines.order_of], list(NEXT_STATUS))).tolist()
    updates = rnd.sample(movable, min(defect_count(rates.order_key_updates, n), len(movable)))
    free = np.ones(n, dtype=bool)
    free[updates] = False
    bad = pick_disjoint(
        rnd,
        np.flatnonzero(free).tolist(),
        {
            "dups": defect_count(rates.order_exact_duplicates, n),
            "null_keys": defect_count(rates.order_null_keys, n),
            "negative": defect_count(rates.order_negative_quantities, n),
            "timestamps": defect_count(rates.order_bad_timestamps, n),
        },
    )
    return {"updates": sorted(updates), **bad}


def _write_orders(
    ctx: _Day, lines: OrderLines, rates: DefectRates, resend: bool, extra: bool
) -> dict[str, Any]:
    """Split the day's lines over several CSV files and inject the order defects."""
    rnd, n, bounds = ctx.rnd("orders"), len(lines.order_of), _file_bounds(lines)
    files = len(bounds) - 1
    bad = _order_defects(rnd, lines, rates)
    # In-place defects: (column, bad value) replacing one value of an otherwise clean line.
    overrides = {i: (ORDER_ID, rnd.choice(("", "null"))) for i in bad["null_keys"]}
    overrides |= {i: (QUANTITY, str(-rnd.choice((1, 1, 2, 3)))) for i in bad["negative"]}
    overrides |= {i: (ORDER_TS, bad_timestamp(ctx.day, rnd, zulu=False)) for i in bad["timestamps"]}
    extra_file = rnd.randrange(files) if extra else -1
    resent = rnd.choice([f for f in range(files) if f != extra_file] or [0])
    # Added rows: (position in the target file, base line, later version or None for a copy).
    placed: list[list[tuple[int, int, tuple[str, str] | None]]] = [[] for _ in range(files)]
    updates = set(bad["updates"])
    for i in sorted(bad["dups"] + bad["updates"]):
        home = int(np.searchsorted(bounds, i, "right")) - 1
        target = rnd.choice([f for f in range(files) if (f == extra_file) == (home == extra_file)])
        later = None
        if i in updates:  # a later version of the line: next status, later updated_at
            second = int(lines.updated[i])
            status = STATUSES[NEXT_STATUS[int(lines.status[lines.order_of[i]])]]
            later = (status, ctx.ist[second + rnd.randint(60, DAY_SECONDS - 1 - second)])
        placed[target].append((rnd.randrange(bounds[target + 1] - bounds[target] + 1), i, later))
    folder, stem = ctx.folder("orders"), f"orders_{ctx.day.isoformat()}"
    resent_rows = 0
    for f in range(files):
        start, stop, coupon = bounds[f], bounds[f + 1], f == extra_file
        rows = lines.render(np.arange(start, stop), coupon)
        for i, (column, value) in overrides.items():
            if start <= i < stop:
                rows[i - start] = _replace(rows[i - start], {column: value})
        copies = lines.render(np.array([i for _, i, _ in placed[f]], dtype=np.int64), coupon)
        added = [
            (position, _replace(row, {STATUS: later[0], UPDATED_AT: later[1]}) if later else row)
            for (position, _, later), row in zip(placed[f], copies, strict=True)
        ]
        rows = _merge(rows, added)
        path = folder / f"{stem}_{f + 1:02d}.csv"
        _write_csv(path, ORDER_COLUMNS + ["coupon_code"] * coupon, rows)
        if resend and f == resent:  # the same bytes delivered again under another name
            shutil.copyfile(path, folder / f"{stem}_{f + 1:02d}_resend.csv")
            resent_rows = len(rows)
    defects = {
        "exact_duplicate_rows": len(bad["dups"]),
        "superseded_key_updates": len(bad["updates"]),
        "null_keys": len(bad["null_keys"]),
        "negative_quantities": len(bad["negative"]),
        "unparseable_timestamps": len(bad["timestamps"]),
    }
    quarantined = {
        "null_violation": len(bad["null_keys"]),
        "out_of_range": len(bad["negative"]),
        "type_mismatch": len(bad["timestamps"]),
    }
    dropped = len(bad["dups"]) + len(bad["updates"])
    entry = _entry(files + resend, n + dropped, defects, quarantined, dropped)
    entry["duplicate_files"], entry["rows_in_duplicate_files"] = int(resend), resent_rows
    entry["files_with_extra_column"] = int(extra)
    return entry


def _replace(row: tuple[str, ...], values: dict[int, str]) -> tuple[str, ...]:
    """The row with some columns replaced (rows are tuples so rendering stays cheap)."""
    return tuple(values.get(c, v) for c, v in enumerate(row))


def _draw_payments(
    rng: np.random.Generator, lines: OrderLines, base: CustomerBase, rates: DefectRates
) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Payment outcome per order and the resulting payments as columns, in settlement order."""
    orders = len(lines.order_num)
    scenario = np.where(
        lines.status == CANCELLED,
        6 + (rng.random(orders) < 0.1),
        rng.choice(6, size=orders, p=[0.885, 0.05, 0.02, 0.015, 0.01, 0.02]),
    )
    first = np.minimum(lines.order_secs + rng.integers(20, 900, orders), DAY_SECONDS - 1)
    retry = np.minimum(first + rng.integers(30, 600, orders), DAY_SECONDS - 1)
    short = np.maximum(1, (lines.total * rng.uniform(0.05, 0.5, orders)).astype(np.int64))
    amount = np.select(
        [scenario == 3, scenario == 4, scenario == 7],
        [lines.total - short, lines.total + rng.integers(100, 50_000, orders), lines.gross],
        lines.total,
    )
    once, twice = np.isin(scenario, [0, 3, 4, 5, 7]), scenario == 1
    unknown = defect_count(rates.payment_unknown_orders, int(once.sum() + 2 * twice.sum()))
    pool = np.asarray(base.pool, dtype=np.int64)
    # (order number, payer, status code, paise, second) per payment, one segment per kind
    segments = [
        (lines.order_num[once], lines.customer[once], np.where(scenario[once] == 5, 2, 0),
         amount[once], first[once]),
        (lines.order_num[twice], lines.customer[twice], np.ones(twice.sum(), np.int64),
         lines.total[twice], first[twice]),
        (lines.order_num[twice], lines.customer[twice], np.zeros(twice.sum(), np.int64),
         lines.total[twice], retry[twice]),
        (rng.integers(90_000_000, 100_000_000, unknown), pool[rng.integers(0, len(pool), unknown)],
         np.zeros(unknown, np.int64), rng.integers(5, 300, unknown) * 1_000 - 100,
         rng.integers(ORDER_START, DAY_SECONDS, unknown)),
    ]  # fmt: skip
    columns = [np.concatenate(c) for c in zip(*segments, strict=True)]
    by_time = np.argsort(columns[-1], kind="stable")
    columns = [c[by_time] for c in columns]
    count = len(by_time)
    columns.insert(0, np.cumsum(rng.integers(1, 7, count)))  # txn id offsets: rising, with gaps
    columns.append(pad_codes(rng, count, 0.01))  # stray spaces around the bank name
    return scenario, unknown, columns


def _write_payments(
    ctx: _Day, lines: OrderLines, base: CustomerBase, rates: DefectRates, txn: int
) -> tuple[dict[str, Any], int]:
    """UPI payments minutes after each order, with the usual mess: retries, gaps, wrong amounts.

    Rendered and written in chunks so a 10-million-line day never holds all its JSON at once.
    """
    rng, rnd = ctx.rng("payments"), ctx.rnd("payments")
    scenario, unknown, columns = _draw_payments(rng, lines, base, rates)
    n = len(columns[0])
    bad = pick_disjoint(
        rnd,
        list(range(n)),
        {
            "dups": defect_count(rates.payment_exact_duplicates, n),
            "timestamps": defect_count(rates.payment_bad_timestamps, n),
        },
    )
    broken = {k: bad_timestamp(ctx.day, rnd, zulu=True) for k in bad["timestamps"]}
    stamps = utc_stamps(ctx.day)

    def render(ks: list[int]) -> list[str]:
        # amount_inr is a bare JSON number with exactly two decimals: read it as Decimal.
        idx = np.asarray(ks, dtype=np.int64)
        return [
            f'{{"txn_id":"TXN{txn + t:010d}","order_id":"ORD-{o:08d}",'
            f'"payer_vpa":"{base.vpas[c]}","amount_inr":{rupees(a)},'
            f'"status":"{PAYMENT_STATUSES[s]}","bank":"{BANK_TEXT[base.banks[c] * 4 + p]}",'
            f'"txn_ts":"{broken.get(k, stamps[sec])}"}}\n'
            for k, t, o, c, s, a, sec, p in zip(
                ks, *(col[idx].tolist() for col in columns), strict=True
            )
        ]

    copies = sorted((rnd.randrange(n + 1), k) for k in bad["dups"])  # repeated lines
    copy_text = render([k for _, k in copies])
    path = ctx.folder("payments") / f"payments_{ctx.day.isoformat()}.jsonl"
    with path.open("w", encoding="utf-8", newline="") as out:
        for start in range(0, n, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, n)
            here = [
                (p - start, text)
                for (p, _), text in zip(copies, copy_text, strict=True)
                if start <= p < stop or p == stop == n
            ]
            out.writelines(_merge(render(list(range(start, stop))), here))
    defects = {
        "exact_duplicate_rows": len(copies),
        "unparseable_timestamps": len(broken),
    }
    entry = _entry(1, n + len(copies), defects, {"type_mismatch": len(broken)}, len(copies))
    counts = np.bincount(scenario, minlength=len(PAYMENT_SCENARIOS)).tolist()
    entry["scenarios"] = dict(zip(PAYMENT_SCENARIOS, counts, strict=True))
    entry["scenarios"]["unknown_order"] = unknown
    return entry, txn + (int(columns[0][-1]) if n else 0)


def generate(
    landing_dir: Path,
    manifest_path: Path,
    *,
    seed: int = 7,
    start: date = date(2026, 11, 1),
    days: int = 3,
    orders_per_day: int = 2_000,
    rates: DefectRates = DEFAULT_RATES,
) -> dict[str, Any]:
    """Write `days` days of all four sources under `landing_dir` and the manifest; return it.

    Days are generated one after another and only one day's order lines are held in memory.
    """
    if days < 1 or orders_per_day < 1:
        raise ValueError("days and orders_per_day must be at least 1")
    landing_dir, manifest_path = Path(landing_dir), Path(manifest_path)
    catalog = Catalog(np.random.default_rng([seed % 2**64, 2**32]), PRODUCTS)
    customers = CustomerBase(np.random.default_rng([seed % 2**64, 2**32 + 1]))
    initial = min(max(50, orders_per_day // 4), 200_000)
    sources: dict[str, dict[str, Any]] = {
        "orders": {},
        "payments": {},
        "customers": {},
        "products": {},
    }
    next_order, next_txn = 10_000_001, 4_100_000_000
    for index in range(days):
        ctx = _Day(index, start + timedelta(days=index), seed, landing_dir)
        key = ctx.day.isoformat()
        sources["products"][key] = _write_products(ctx, catalog)
        sources["customers"][key] = _write_customers(ctx, customers, rates, initial)
        lines = OrderLines(
            ctx.rng("orders"), ctx.ist, orders_per_day, next_order, customers, catalog
        )
        next_order += len(lines.order_num)
        if next_order > 90_000_000:
            raise ValueError("order ids are ORD- plus 8 digits below 90000000; generate fewer rows")
        resend, extra = index == min(1, days - 1), index == days - 1
        sources["orders"][key] = _write_orders(ctx, lines, rates, resend, extra)
        sources["payments"][key], next_txn = _write_payments(ctx, lines, customers, rates, next_txn)
        log.info("demo day %s written (%d order lines)", key, orders_per_day)
    manifest = {
        "seed": seed,
        "start": start.isoformat(),
        "days": days,
        "orders_per_day": orders_per_day,
        "reason_codes": list(REASON_CODES),
        "rates": asdict(rates),
        "sources": sources,
    }
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m etl_platform.demo.generator --landing data/landing ...`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, default=Path("data/landing"))
    parser.add_argument("--manifest", type=Path, default=Path("data/demo_manifest.json"))
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--orders-per-day", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate(
        args.landing,
        args.manifest,
        seed=args.seed,
        start=args.start,
        days=args.days,
        orders_per_day=args.orders_per_day,
    )
    log.info("manifest written to %s", args.manifest)


if __name__ == "__main__":
    main()
