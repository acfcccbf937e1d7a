"""Row-by-row validation of bounded chunks with the spec's pandera schema."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pandera.errors
import pandera.pandas as pa
import pyarrow as pa_arrow

from etl_platform.quality.reasons import reason_for_check

REJECT_SCHEMA = pa_arrow.schema(
    [
        ("_source_file", pa_arrow.string()),
        ("_source_line", pa_arrow.int64()),
        ("_reason", pa_arrow.string()),
        ("_column", pa_arrow.string()),
        ("_check", pa_arrow.string()),
    ]
)

PANDAS_TYPES = {
    pa_arrow.int64(): pd.Int64Dtype(),
    pa_arrow.string(): pd.StringDtype(),
    pa_arrow.float64(): pd.Float64Dtype(),
    pa_arrow.bool_(): pd.BooleanDtype(),
}


def first_failures(failure_cases: pd.DataFrame, column_order: list[str]) -> pd.DataFrame:
    """One failure per row: the first by column order, nullability before value checks.

    A row gets exactly one quarantine reason so rows read = staged + quarantined + duplicates holds.
    """
    cases = failure_cases[failure_cases["index"].notna()].copy()
    if len(cases) != len(failure_cases):
        whole = failure_cases[failure_cases["index"].isna()]
        raise ValueError(f"schema-level failures where row-level ones were expected: {whole}")
    position = {name: i for i, name in enumerate(column_order)}
    cases["_col_rank"] = cases["column"].map(position)
    cases["_check_rank"] = pd.to_numeric(cases["check_number"], errors="coerce").fillna(-1)
    cases = cases.sort_values(["index", "_col_rank", "_check_rank"], kind="stable")
    return cases.drop_duplicates("index", keep="first")


def validate_chunks(
    schema: pa.DataFrameSchema, batches: Iterable[pa_arrow.RecordBatch]
) -> pa_arrow.Table:
    """Validate each batch; return one reject row (file, line, reason, column, check) per bad row.

    Batches carry `_source_file` and `_source_line` besides the schema's columns, so a failure
    points at the exact line it came from.
    """
    column_order = list(schema.columns)
    rejects = []
    for batch in batches:
        frame = batch.to_pandas(types_mapper=PANDAS_TYPES.get)
        try:
            schema.validate(frame, lazy=True)
            continue
        except pandera.errors.SchemaErrors as errors:
            failures = first_failures(errors.failure_cases, column_order)
        rows = frame.loc[failures["index"].astype(int).to_list()]
        rejects.append(
            pa_arrow.table(
                {
                    "_source_file": rows["_source_file"].astype(object).to_list(),
                    "_source_line": rows["_source_line"].astype("int64").to_list(),
                    "_reason": [str(reason_for_check(c)) for c in failures["check"]],
                    "_column": failures["column"].astype(str).to_list(),
                    "_check": failures["check"].astype(str).to_list(),
                },
                schema=REJECT_SCHEMA,
            )
        )
    return pa_arrow.concat_tables(rejects) if rejects else REJECT_SCHEMA.empty_table()
