"""Deterministic deduplication as SQL window ranks.

Ties on the "latest" column are broken by source file and line: without that stable order, reruns
and engines disagree on which of two equally recent rows wins. The file is `_file_rank`, the rank
of its name among the run's files, so the order is the names' but the sorts move an integer.
"""

from __future__ import annotations

from etl_platform.io.sql import quote
from etl_platform.sources.model import SourceSpec

PARTITION = '"_partition_date"'
LINEAGE_ORDER = '"_file_rank", "_source_line"'


def exact_copy_rank(spec: SourceSpec) -> str:
    """1 for the first copy of a row whose values are all identical to another's, 2+ for repeats."""
    columns = ", ".join(quote(c) for c in spec.column_names)
    return f"row_number() OVER (PARTITION BY {PARTITION}, {columns} ORDER BY {LINEAGE_ORDER})"


def version_rank(spec: SourceSpec, last_if: str = "false") -> str:
    """1 for the latest version of a primary key (by the spec's `latest_by`), 2+ for older ones.

    Rows where `last_if` is true rank after all others, as if they were not there.
    """
    keys = ", ".join(quote(c) for c in spec.primary_key)
    latest = quote(spec.dedup.latest_by)
    return (
        f"row_number() OVER (PARTITION BY {PARTITION}, {keys} ORDER BY {last_if}, "
        f"{latest} DESC NULLS LAST, "
        '"_file_rank" DESC, "_source_line" DESC)'
    )


def value_rank(column: str, last_if: str = "false") -> str:
    """1 for the first row holding a value of a `unique` column, 2+ for rows repeating it.

    Rows where `last_if` is true rank after all others, as if they were not there.
    """
    return (
        f"row_number() OVER (PARTITION BY {PARTITION}, {quote(column)} "
        f"ORDER BY {last_if}, {LINEAGE_ORDER})"
    )
