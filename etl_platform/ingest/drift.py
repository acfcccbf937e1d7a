"""Schema drift between a landed file and its spec, and what the spec's policy makes of it.

A file is never dropped for drift: a file the policy refuses still lands in raw, marked with
`_file_rejected`, and staging sends all its rows to quarantine with that reason.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from etl_platform.sources.model import SchemaPolicy, SourceSpec

_STORABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def normalize_header(name: str) -> str:
    """Header text as a column name: trimmed and lower-cased (`" Amount"` matches `amount`)."""
    return name.strip().lower()


@dataclass(frozen=True)
class FileDrift:
    """How one file's header differs from its spec."""

    file_key: str
    extra: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    # Headers that mean the same column once normalized (`Amount`, `amount `), or repeat exactly.
    collisions: tuple[tuple[str, ...], ...] = ()
    empty_headers: int = 0
    # Extra names no table could hold (spaces, punctuation): evolve cannot keep them.
    unstorable: tuple[str, ...] = ()

    @property
    def header_anomaly(self) -> bool:
        """Whether the header itself is ambiguous, whatever the policy."""
        return bool(self.collisions or self.empty_headers)

    def describe(self) -> dict[str, object]:
        """The drift as metadata: only what is present."""
        found: dict[str, object] = {
            "extra": list(self.extra),
            "missing": list(self.missing),
            "collisions": [list(c) for c in self.collisions],
            "empty_headers": self.empty_headers,
            "unstorable": list(self.unstorable),
        }
        return {k: v for k, v in found.items() if v}


def detect(spec: SourceSpec, file_key: str, header: list[str]) -> FileDrift | None:
    """The drift of one file's raw header against the spec, or None if it matches."""
    by_name: dict[str, list[str]] = defaultdict(list)
    empty = 0
    for raw in header:
        name = normalize_header(raw)
        if name:
            by_name[name].append(raw)
        else:
            empty += 1
    declared = spec.column_names
    extra = tuple(n for n in by_name if n not in declared)
    drift = FileDrift(
        file_key,
        extra=extra,
        missing=tuple(c for c in declared if c not in by_name),
        collisions=tuple(tuple(raws) for raws in by_name.values() if len(raws) > 1),
        empty_headers=empty,
        unstorable=tuple(n for n in extra if not _STORABLE.match(n)),
    )
    return drift if drift.describe() else None


def rejection(spec: SourceSpec, drift: FileDrift | None) -> str | None:
    """Why the policy refuses the file (all its rows go to quarantine), or None to load it."""
    if drift is None:
        return None
    if drift.header_anomaly:
        return f"header_anomaly: {drift.describe()}"
    if spec.schema_policy is SchemaPolicy.FREEZE:
        return f"schema_policy freeze: {drift.describe()}"
    if drift.unstorable and spec.schema_policy is SchemaPolicy.EVOLVE:
        return f"columns no table can hold: {list(drift.unstorable)}"
    return None


def raw_columns(spec: SourceSpec, accepted: list[FileDrift]) -> list[str]:
    """The data columns raw keeps for the accepted files, by the spec's schema policy.

    Missing columns are always kept (as nulls): whether a row may lack them is staging's call.
    """
    if spec.schema_policy is not SchemaPolicy.EVOLVE:
        return spec.column_names
    extras = sorted({c for d in accepted for c in d.extra})
    return spec.column_names + extras
