"""Pandera schemas built from source specs: the data contract of each staging table."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from etl_platform.partitions import platform_timezone
from etl_platform.sources.model import ColumnSpec, ColumnType, SourceSpec

# Validation sees decimals as floats: pandas has no nullable decimal dtype, and range checks on
# money need no more than float precision.
_PANDAS_DTYPES: dict[ColumnType, object] = {
    ColumnType.STRING: "string",
    ColumnType.INTEGER: "Int64",
    ColumnType.FLOAT: "Float64",
    ColumnType.DECIMAL: "Float64",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "datetime64[us]",
}


def pandas_dtype(column: ColumnSpec) -> object:
    """The pandas dtype a validated chunk carries for this column."""
    if column.type is ColumnType.TIMESTAMP:
        return pd.DatetimeTZDtype("us", platform_timezone())
    return _PANDAS_DTYPES[column.type]


def _checks(column: ColumnSpec) -> list[pa.Check]:
    spec = column.checks
    checks = []
    if spec.min is not None and spec.max is not None:
        checks.append(pa.Check.in_range(spec.min, spec.max))
    elif spec.min is not None:
        checks.append(pa.Check.ge(spec.min))
    elif spec.max is not None:
        checks.append(pa.Check.le(spec.max))
    if spec.allowed is not None:
        checks.append(pa.Check.isin(spec.allowed))
    if spec.regex is not None:
        checks.append(pa.Check.str_matches(spec.regex))
    return checks


def build_schema(spec: SourceSpec, *, masked: bool = False) -> pa.DataFrameSchema:
    """The row-level contract of a source: types, nullability, ranges, allowed values, patterns.

    Uniqueness is not here: a chunk cannot see other chunks, so it is enforced set-wise in the
    engine (primary key by dedup, `unique` columns by a window count). With `masked`, the schema
    describes staged rows, whose PII columns hold tokens: their value checks no longer apply.
    """
    return pa.DataFrameSchema(
        {
            c.name: pa.Column(
                pandas_dtype(c),
                nullable=c.nullable,
                checks=[] if masked and c.pii else _checks(c),
                description=c.description,
            )
            for c in spec.columns
        },
        name=spec.name,
        description=spec.description,
        strict=False,
    )
