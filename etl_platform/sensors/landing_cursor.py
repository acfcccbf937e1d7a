"""The landing sensor's cursor and tick planning: which files are new, and what one tick proposes.

This is kept apart from the sensor in `etl_platform.sensors.landing` because it is pure logic: it
takes the listed files, the previous cursor, the existing partitions and the clock, and returns a
decision and the next cursor, without touching Dagster, storage or the wall clock itself. That is
where the subtle cases live (out-of-order stamps, overwrites, cursor size caps, days that are not
partitions yet), so it is tested directly, without a Dagster instance; the sensor only lists files,
calls `plan_tick` and turns the result into run requests.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Literal, Self

from etl_platform.ingest.landing import LandedFile

MAX_FILES_PER_TICK = 500
MAX_RUNS_PER_TICK = 50
# Longer than any upload takes: a file listed this long after its stamp is still caught.
LOOKBACK = timedelta(minutes=15)
# ~90 bytes each (measured: 1,206 entries, 110 kB): a cursor of at most ~200 kB, even in a burst.
MAX_CURSOR_ENTRIES = 2_000
# Partitions end with today (`end_offset=1`), so a file for a later day (tomorrow, in another
# time zone, or a partition set that ends earlier) waits in the cursor until its day is a
# partition; a day further ahead than this is a bad file name.
WAIT_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class TickLimits:
    """How much one tick may do; what is left over resumes on the next tick."""

    max_files: int = MAX_FILES_PER_TICK
    max_runs: int = MAX_RUNS_PER_TICK
    lookback: timedelta = LOOKBACK
    max_cursor_entries: int = MAX_CURSOR_ENTRIES


@dataclass
class LandingCursor:
    """What the sensor has proposed, as stored in Dagster's cursor (JSON).

    Attributes:
        mtime_ns: Watermark: modification time of the newest file proposed (for operators: the
            window below follows the clock, and `seen` decides what is new).
        key: Watermark: the key of that file, which orders files of the same clock tick.
        floor_ns: Files stamped before this are done; it trails the clock by the lookback.
        seen: Key to `(etag, mtime_ns)` of every file proposed at or above the floor.
        pending: Day to `(files, digest)` of files proposed for a day that is not a partition yet.
    """

    mtime_ns: int = -1
    key: str = ""
    floor_ns: int = -1
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)
    pending: dict[str, tuple[int, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> Self:
        """The cursor from its JSON; no cursor (or a reset one) means nothing was proposed yet."""
        if not raw:
            return cls()
        data = json.loads(raw)
        mtime_ns = int(data["mtime_ns"])
        return cls(
            mtime_ns=mtime_ns,
            key=str(data["key"]),
            # The first cursor format was the bare watermark: everything up to it counts as done.
            floor_ns=int(data.get("floor_ns", mtime_ns)),
            seen={k: (str(e), int(m)) for k, (e, m) in data.get("seen", {}).items()},
            pending={d: (int(n), str(h)) for d, (n, h) in data.get("pending", {}).items()},
        )

    def dumps(self) -> str:
        """The cursor as Dagster stores it: compact, keys sorted so equal cursors are equal text."""
        data = {
            "mtime_ns": self.mtime_ns,
            "key": self.key,
            "floor_ns": self.floor_ns,
            "seen": self.seen,
            "pending": self.pending,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class DayBatch:
    """The files proposed for one day in one tick (with any that waited for the day to open)."""

    day: str
    files: int
    digest: str


@dataclass(frozen=True)
class Tick:
    """What one evaluation decided: the days to run, the files set aside, and the next cursor.

    `capped` says the size cap, not the lookback, decided what the cursor forgot this tick.
    """

    batches: list[DayBatch]
    proposed: list[LandedFile]
    waiting: list[LandedFile]
    skipped: list[LandedFile]
    cursor: LandingCursor
    capped: bool


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _token(f: LandedFile) -> str:
    return f"{f.key}\x00{f.etag}"


def _verdict(day: str, valid: set[str], last: str | None) -> Literal["run", "wait", "skip"]:
    """Run a partition; wait for a day just past the last one; skip anything else, once."""
    if day in valid:
        return "run"
    if last is None:
        return "wait"
    try:
        when, newest = date.fromisoformat(day), date.fromisoformat(last)
    except ValueError:
        return "skip"
    return "wait" if newest < when <= newest + WAIT_HORIZON else "skip"


def _candidates(files: list[LandedFile], state: LandingCursor) -> list[LandedFile]:
    """Files at or above the floor whose `(key, etag)` was not proposed yet, oldest first.

    A byte-identical re-upload (same etag, later stamp) only refreshes its entry's stamp, so the
    entry stays in the window as long as the file keeps being re-uploaded and is never proposed.
    """
    found = []
    for f in files:
        if f.mtime_ns < state.floor_ns:
            continue
        known = state.seen.get(f.key)
        if known is not None and known[0] == f.etag:
            state.seen[f.key] = (f.etag, max(known[1], f.mtime_ns))
            continue
        found.append(f)
    return sorted(found, key=lambda f: (f.mtime_ns, f.key))


def plan_tick(
    files: list[LandedFile],
    cursor: LandingCursor,
    partition_keys: Sequence[str],
    limits: TickLimits,
    now_ns: int,
) -> Tick:
    """Decide one tick: propose new files oldest first, within the limits, and move the cursor.

    New files are taken in `(mtime, key)` order up to the file cap; a file whose day would need one
    run more than allowed is left for a later tick, as is everything past the cap. The cursor
    records exactly what was proposed, so whatever was left is still new next tick. Files after one
    left behind are taken only while the cursor has room: it must keep all of them until the file
    left behind is proposed.

    Args:
        files: The source's files as listed now.
        cursor: The previous tick's cursor.
        partition_keys: The partitions that exist now; other days wait or are skipped.
        limits: The caps and the lookback.
        now_ns: The wall clock, which closes the lookback window when no files arrive.
    """
    state = replace(cursor, seen=dict(cursor.seen), pending=dict(cursor.pending))
    fresh = _candidates(files, state)
    valid = set(partition_keys)
    last = max(valid, default=None)
    runs: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for day in sorted(d for d in state.pending if d in valid)[: limits.max_runs]:
        counts[day], digest = state.pending.pop(day)
        runs[day] = [digest]
    proposed: list[LandedFile] = []
    waiting: list[LandedFile] = []
    skipped: list[LandedFile] = []
    first_left_ns: int | None = None
    for f in fresh:
        day = f.partition_key
        verdict = _verdict(day, valid, last)
        over_runs = verdict == "run" and day not in runs and len(runs) == limits.max_runs
        full = len(proposed) == limits.max_files or (
            first_left_ns is not None and len(state.seen) >= limits.max_cursor_entries
        )
        if full or over_runs:
            first_left_ns = f.mtime_ns if first_left_ns is None else first_left_ns
            if full:
                break
            continue
        if verdict == "run":
            if day not in runs:
                runs[day], counts[day] = [], 0
            runs[day].append(_token(f))
            counts[day] += 1
        elif verdict == "wait":
            count, digest = state.pending.get(day, (0, ""))
            state.pending[day] = (count + 1, _digest([digest, _token(f)]))
            waiting.append(f)
        else:
            skipped.append(f)
        proposed.append(f)
        state.seen[f.key] = (f.etag, f.mtime_ns)
        state.mtime_ns, state.key = max((state.mtime_ns, state.key), (f.mtime_ns, f.key))
    capped = _prune(state, limits, now_ns if first_left_ns is None else first_left_ns, now_ns)
    batches = [DayBatch(day, counts[day], _digest(runs[day])) for day in sorted(runs)]
    return Tick(batches, proposed, waiting, skipped, state, capped)


def _prune(state: LandingCursor, limits: TickLimits, first_left_ns: int, now_ns: int) -> bool:
    """Raise the floor to the lookback window, or past the oldest entries over the size cap.

    A file is listed at most `lookback` after its stamp, so entries stamped before `now - lookback`
    are never needed again. The window follows the clock, not the watermark: one file stamped in
    the future (a wrong clock, `touch -d`) must not push the floor past every file landing today.
    The floor never rises above a file listed but not yet proposed (`first_left_ns`): the cap may
    be exceeded rather than a file skipped. Returns whether the cap cut.
    """
    lookback_ns = limits.lookback // timedelta(microseconds=1) * 1_000
    floor = max(state.floor_ns, min(now_ns - lookback_ns, first_left_ns))
    newest_first = sorted((m for _, m in state.seen.values() if m >= floor), reverse=True)
    capped = len(newest_first) > limits.max_cursor_entries
    if capped:
        # A clock tick's entries go together: keeping part of one would re-propose the rest.
        floor = max(floor, min(newest_first[limits.max_cursor_entries] + 1, first_left_ns))
    state.floor_ns = floor
    state.seen = {k: v for k, v in state.seen.items() if v[1] >= floor}
    return capped
