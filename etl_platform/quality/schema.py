"""Pandera schemas built from source specs: the data contract of each staging table.

The contract runs on the polars backend: staged record batches become polars frames without a
copy, and validating them costs a tenth of the same schema on pandas.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
import pyarrow

from etl_platform.partitions import platform_timezone
from etl_platform.sources.model import ColumnSpec, ColumnType, SourceSpec

# Decimals are validated as floats (see `validation_frame`): range checks on money need no more.
_POLARS_TYPES: dict[ColumnType, pl.DataType] = {
    ColumnType.STRING: pl.String(),
    ColumnType.INTEGER: pl.Int64(),
    ColumnType.FLOAT: pl.Float64(),
    ColumnType.DECIMAL: pl.Float64(),
    ColumnType.BOOLEAN: pl.Boolean(),
    ColumnType.DATE: pl.Date(),
}


def polars_type(column: ColumnSpec) -> pl.DataType:
    """The polars dtype a validated frame carries for this column."""
    if column.type is ColumnType.TIMESTAMP:
        return pl.Datetime("us", platform_timezone())
    return _POLARS_TYPES[column.type]


def column_checks(column: ColumnSpec) -> list[pa.Check]:
    """The value checks a column declares, in the order a failure is reported."""
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
                polars_type(c),
                nullable=c.nullable,
                checks=[] if masked and c.pii else column_checks(c),
                description=c.description,
            )
            for c in spec.columns
        },
        name=spec.name,
        description=spec.description,
        strict=False,
    )


def validation_frame(batch: pyarrow.RecordBatch, spec: SourceSpec) -> pl.DataFrame:
    """A record batch as the polars frame the schema validates (decimals as floats)."""
    frame = pl.DataFrame(batch)
    decimals = [c.name for c in spec.columns if c.type is ColumnType.DECIMAL and c.name in frame]
    return frame.with_columns(pl.col(decimals).cast(pl.Float64)) if decimals else frame
