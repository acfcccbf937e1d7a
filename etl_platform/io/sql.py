"""Identifier handling: names that come from specs or data are validated, then quoted."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def quote(name: str) -> str:
    """A validated, double-quoted SQL identifier; anything else is refused, never pasted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"refusing SQL identifier {name!r}: letters, digits and _ only")
    return f'"{name}"'


def table_name(schema: str, table: str) -> str:
    """`"schema"."table"`, both parts validated."""
    return f"{quote(schema)}.{quote(table)}"


def sql_string(value: str) -> str:
    """A single-quoted SQL string literal, quotes doubled: for spec text, never for data."""
    return "'" + value.replace("'", "''") + "'"
