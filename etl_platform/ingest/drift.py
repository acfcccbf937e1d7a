"""Schema drift between a landed file and its spec, and what the spec's policy makes of it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from etl_platform.sources.model import SchemaPolicy, SourceSpec

_STORABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DriftError(ValueError):
    """A file the spec's schema policy refuses; the message names the file and the columns."""


@dataclass(frozen=True)
class FileDrift:
    """Columns a file has beyond the spec, and spec columns it lacks."""

    file_key: str
    extra: tuple[str, ...]
    missing: tuple[str, ...]


def detect(spec: SourceSpec, file_key: str, header: list[str]) -> FileDrift | None:
    """The drift of one file's (normalized) header against the spec, or None if it matches."""
    declared = spec.column_names
    extra = tuple(c for c in header if c not in declared)
    missing = tuple(c for c in declared if c not in header)
    return FileDrift(file_key, extra, missing) if extra or missing else None


def raw_columns(spec: SourceSpec, drifts: list[FileDrift]) -> list[str]:
    """The data columns raw keeps for a set of files, by the spec's schema policy.

    Missing columns are always kept (as nulls): whether a row may lack them is staging's call.
    """
    extras = sorted({c for d in drifts for c in d.extra})
    if not extras or spec.schema_policy is SchemaPolicy.DISCARD_COLUMNS:
        return spec.column_names
    if spec.schema_policy is SchemaPolicy.FREEZE:
        offending = "; ".join(f"{d.file_key}: {list(d.extra)}" for d in drifts if d.extra)
        raise DriftError(
            f"source {spec.name!r} has schema_policy freeze; unexpected columns in {offending}"
        )
    unstorable = [c for c in extras if not _STORABLE.match(c)]
    if unstorable:
        raise DriftError(f"source {spec.name!r}: extra columns {unstorable} are not valid names")
    return spec.column_names + extras
