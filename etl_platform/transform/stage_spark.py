"""Raw rows to staging rows on Spark: the contract and the results of `stage.stage`, for big inputs.

The same normalisation, casts, reasons and their precedence, rules, dedup order and masking as the
DuckDB path, written as Spark column expressions, so a source can switch engines (`engine: spark`)
without a row changing place. Row-level reasons are Spark expressions: pandera's pyspark backend
reports failing columns, not failing rows. It validates the staged frame instead, as a guard: an
error there is a bug in this module, not bad data.

Known cast differences from DuckDB, none of which a shipped spec meets: DuckDB also reads hex
integers (`0x10`) and `infinity` timestamps; Spark quarantines them as type_mismatch.
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandera.pyspark as pas
import pyarrow as pa
from deltalake import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_platform.io.warehouse import PARTITION_COLUMN
from etl_platform.quality.reasons import Reason, reason_for_check
from etl_platform.quality.schema import build_schema, column_checks
from etl_platform.sources.model import ColumnSpec, ColumnType, SourceSpec
from etl_platform.sources.rules import compile_rule
from etl_platform.transform.cleanse import NULL_TOKENS
from etl_platform.transform.stage import (
    PartitionStats,
    StagingResult,
    balanced_stats,
    free_text_columns,
    mask_batch,
)

SPARK_TYPES: dict[ColumnType, T.DataType] = {
    ColumnType.STRING: T.StringType(),
    ColumnType.INTEGER: T.LongType(),
    ColumnType.FLOAT: T.DoubleType(),
    ColumnType.DECIMAL: T.DecimalType(18, 2),
    ColumnType.BOOLEAN: T.BooleanType(),
    ColumnType.DATE: T.DateType(),
    ColumnType.TIMESTAMP: T.TimestampType(),
}

_ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.DECIMAL: pa.decimal128(18, 2),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATE: pa.date32(),
}

LINEAGE_FIELDS = [
    pa.field(PARTITION_COLUMN, pa.date32()),
    pa.field("_source_file", pa.string()),
    pa.field("_source_line", pa.int64()),
]
_REASON_FIELDS = ["_reason", "_column", "_check"]
# Masked batches carry what the scrubber found as JSON on their first row, so the counts travel
# with the data (a retried task recounts, an accumulator would count twice).
_FOUND = "_pii_found"
_TEXT = "__text_"  # prefix of the normalized text kept for quarantine; no identifier starts so


def raw_frame(
    spark: SparkSession,
    table_uri: str,
    partition_keys: list[str],
    spec: SourceSpec,
    storage_options: dict[str, str] | None = None,
) -> DataFrame:
    """The raw Delta table's rows for `partition_keys`, read from its active Parquet files.

    Spark here cannot load delta-spark (no jars offline), so delta-rs names the files of the
    current version and Spark reads them; `basePath` makes Spark recover the partition column
    from the Hive-style folders, as Delta keeps it out of the files.
    """
    files = DeltaTable(table_uri, storage_options=storage_options).file_uris(
        file_pruning_predicate=[(PARTITION_COLUMN, "in", sorted(partition_keys))]
    )
    wanted = [*spec.column_names, "_source_line", "_raw_record", "_file_rejected", "_source_file"]
    if not files:
        empty = T.StructType([T.StructField(c, T.StringType()) for c in wanted])
        frame = spark.createDataFrame([], empty).withColumn(PARTITION_COLUMN, F.lit(None))
    else:
        frame = (
            spark.read.option("basePath", _spark_path(table_uri))
            .option("mergeSchema", "true")
            .parquet(*(_spark_path(f) for f in files))
        )
    present = set(frame.columns)
    return frame.select(
        *(F.col(c) if c in present else F.lit(None).cast("string").alias(c) for c in wanted),
        F.col(PARTITION_COLUMN).cast("string").alias(PARTITION_COLUMN),
    )


def _spark_path(uri: str) -> str:
    # Hadoop's S3 connector is `s3a`; it needs the hadoop-aws jar on the cluster.
    return "s3a://" + uri.removeprefix("s3://") if uri.startswith("s3://") else uri


def _normalized(name: str) -> Column:
    """Trimmed text, the null tokens as NULL (as `cleanse.normalized`)."""
    trimmed = F.trim(F.col(name))
    return F.when(F.lower(trimmed).isin(*NULL_TOKENS), None).otherwise(trimmed)


def _typed(column: ColumnSpec) -> Column:
    """The normalized text cast to the column's type; NULL where the cast fails (as TRY_CAST)."""
    text = F.col(_TEXT + column.name)
    if column.type is ColumnType.INTEGER:
        # DuckDB reads `1.5` and `1e3` as integers, rounding half away from zero; so does this.
        rounded = F.round(text.try_cast(T.DecimalType(38, 10)), 0).try_cast(T.LongType())
        return F.coalesce(text.try_cast(T.LongType()), rounded)
    return text.try_cast(SPARK_TYPES[column.type])


def _reason(reason: str, column: str | None, check: str | None) -> Column:
    return F.struct(
        F.lit(reason).alias("r"),
        F.lit(column).cast("string").alias("c"),
        F.lit(check).cast("string").alias("k"),
    )


def _first(cases: list[tuple[Column, Column]]) -> Column:
    """The first matching case's reason, NULL when none matches."""
    chosen = F.lit(None).cast("struct<r:string,c:string,k:string>")
    for condition, reason in reversed(cases):
        chosen = F.when(condition, reason).otherwise(chosen)
    return chosen


def _early_cases(spec: SourceSpec) -> list[tuple[Column, Column]]:
    """Unparseable record, failed cast, wrong day: the reasons found before validation."""
    cases = [
        (
            F.col("_file_rejected").isNotNull(),
            F.struct(
                F.lit(str(Reason.FILE_REJECTED)).alias("r"),
                F.lit(None).cast("string").alias("c"),
                F.col("_file_rejected").alias("k"),
            ),
        ),
        (F.col("_raw_record").isNotNull(), _reason(Reason.UNPARSEABLE_RECORD, None, None)),
    ]
    for column in spec.columns:
        fails = F.col(_TEXT + column.name).isNotNull() & F.col(column.name).isNull()
        cases.append((fails, _reason(Reason.TYPE_MISMATCH, column.name, None)))
    event = F.to_date(F.col(spec.event_time)) != F.col(PARTITION_COLUMN)
    cases.append((event, _reason(Reason.EVENT_TIME_OUTSIDE_PARTITION, spec.event_time, None)))
    return cases


def _value_fails(column: ColumnSpec) -> list[Column]:
    """A failing condition per value check, in the order `quality.schema` declares them."""
    checks = column.checks
    value = F.col(column.name)
    # Validation compares decimals as doubles (quality.schema); so must this.
    number = value.cast("double") if column.type is ColumnType.DECIMAL else value
    conditions: list[Column] = []
    if checks.min is not None and checks.max is not None:
        conditions.append((number < checks.min) | (number > checks.max))
    elif checks.min is not None:
        conditions.append(number < checks.min)
    elif checks.max is not None:
        conditions.append(number > checks.max)
    if checks.allowed is not None:
        conditions.append(~value.isin(*checks.allowed))
    if checks.regex is not None:
        # pandas' str.match anchors at the start only, as re.match does.
        conditions.append(~value.rlike(f"^(?:{checks.regex})"))
    return conditions


def _late_cases(spec: SourceSpec) -> list[tuple[Column, Column]]:
    """Validation (column order, nullability first), then error rules: the DuckDB path's order.

    The check names come from the pandas schema, so `_check` reads exactly as there.
    """
    schema = build_schema(spec)
    cases: list[tuple[Column, Column]] = []
    for column in spec.columns:
        value = F.col(column.name)
        if not column.nullable:
            cases.append(
                (value.isNull(), _reason(Reason.NULL_VIOLATION, column.name, "not_nullable"))
            )
        names = [check.error for check in schema.columns[column.name].checks]
        for check, fails in zip(names, _value_fails(column), strict=True):
            reason = _reason(reason_for_check(check), column.name, check)
            cases.append((value.isNotNull() & fails, reason))
    for rule in (r for r in spec.rules if r.severity == "error"):
        broken = ~_rule(spec, rule.expression)
        cases.append((broken, _reason(Reason.RULE_VIOLATION, rule.name, rule.expression)))
    return cases


def _rule(spec: SourceSpec, expression: str) -> Column:
    """A rule as a Spark expression: compiled SQL with Spark's backtick identifiers."""
    sql = compile_rule(expression, set(spec.column_names))
    # compile_rule quotes only column names, which are plain identifiers.
    return F.expr(re.sub(r'"([a-z][a-z0-9_]*)"', r"`\1`", sql))


@dataclass
class StagedFrames:
    """The staging outcome as Spark frames, before accounting, validation and masking."""

    normalized: DataFrame  # every row read: lineage and normalized text
    outcome: DataFrame  # every row read with its `_bucket`: staged, a duplicate kind, or a reason
    staged: DataFrame  # unordered: `stage_spark` sorts what it collects
    quarantined: DataFrame


def stage_frames(raw: DataFrame, spec: SourceSpec) -> StagedFrames:
    """Cleanse, type, check, deduplicate: `stage()`'s SQL as Spark expressions."""
    lineage = [F.col(PARTITION_COLUMN), F.col("_source_file"), F.col("_source_line")]
    normalized = raw.select(
        F.to_date(F.col(PARTITION_COLUMN)).alias(PARTITION_COLUMN),
        F.col("_source_file"),
        F.col("_source_line").cast("long").alias("_source_line"),
        F.col("_raw_record"),
        F.col("_file_rejected"),
        *(_normalized(c).alias(_TEXT + c) for c in spec.column_names),
    )
    typed = normalized.select("*", *(_typed(c).alias(c.name) for c in spec.columns)).withColumn(
        "_early", _first(_early_cases(spec))
    )
    checked = typed.withColumn(
        "_fail", F.coalesce(F.col("_early"), _first(_late_cases(spec)))
    ).drop("_early")
    clean = checked.filter(F.col("_fail").isNull())
    copies = Window.partitionBy(PARTITION_COLUMN, *spec.column_names).orderBy(
        "_source_file", "_source_line"
    )
    ranked = clean.withColumn("_copy", F.row_number().over(copies))
    versions_window = Window.partitionBy(PARTITION_COLUMN, *spec.primary_key).orderBy(
        F.col(spec.dedup.latest_by).desc_nulls_last(),
        F.col("_source_file").desc(),
        F.col("_source_line").desc(),
    )
    versions = ranked.filter("_copy = 1").withColumn(
        "_version", F.row_number().over(versions_window)
    )
    latest = versions.filter("_version = 1")
    duplicate_cases = []
    for column in (c for c in spec.columns if c.checks.unique):
        first = Window.partitionBy(PARTITION_COLUMN, column.name).orderBy(
            "_source_file", "_source_line"
        )
        repeated = F.col(column.name).isNotNull() & (F.row_number().over(first) > 1)
        duplicate_cases.append((repeated, _reason(Reason.DUPLICATE_VALUE, column.name, "unique")))
    latest = latest.withColumn("_fail", _first(duplicate_cases))
    bucket = F.when(F.col("_fail").isNotNull(), F.concat(F.lit("quarantined:"), F.col("_fail.r")))
    outcome = (
        checked.filter(F.col("_fail").isNotNull())
        .unionByName(ranked.filter("_copy > 1"), allowMissingColumns=True)
        .unionByName(versions.filter("_version > 1"), allowMissingColumns=True)
        .unionByName(latest, allowMissingColumns=True)
        .withColumn(
            "_bucket",
            bucket.when(F.col("_copy") > 1, "exact_duplicates")
            .when(F.col("_version") > 1, "superseded")
            .otherwise("staged"),
        )
    )
    # From `latest`, not `outcome`: Spark cannot prune the union's other branches by `_bucket`.
    staged = latest.filter(F.col("_fail").isNull()).select(*spec.column_names, *lineage)
    quarantined = outcome.filter(F.col("_fail").isNotNull()).select(
        *(F.col(_TEXT + c).alias(c) for c in spec.column_names),
        F.col("_fail.r").alias("_reason"),
        F.col("_fail.c").alias("_column"),
        F.col("_fail.k").alias("_check"),
        F.col("_raw_record"),
        *lineage,
    )
    return StagedFrames(normalized, outcome, staged, quarantined)


def pandera_schema(spec: SourceSpec) -> pas.DataFrameSchema:
    """The spec's row contract for pandera's pyspark backend: types, nullability, value checks."""
    columns = {}
    for column in spec.columns:
        columns[column.name] = pas.Column(
            # pandera's pyspark engine takes Spark types; its annotation lists only its own.
            SPARK_TYPES[column.type],  # type: ignore[arg-type]
            nullable=column.nullable,
            checks=column_checks(column),
            description=column.description,
        )
    return pas.DataFrameSchema(columns, name=spec.name, description=spec.description)


class StagedContractError(RuntimeError):
    """Staged rows breaking the spec's contract: a bug in the staging expressions, not bad data."""


def validate_staged(frame: DataFrame, spec: SourceSpec) -> None:
    """Validate staged rows with pandera's pyspark backend; raise naming the failed checks.

    That backend does not raise: it records what failed in `df.pandera.errors`, which a caller
    must read, or a broken contract passes silently.
    """
    errors = pandera_schema(spec).validate(frame).pandera.errors
    if errors:
        raise StagedContractError(
            f"{spec.name}: staged rows break the contract: {json.dumps(errors, default=str)}"
        )


def _accounting(frames: StagedFrames, partition_keys: list[str]) -> dict[str, PartitionStats]:
    """Rows per day and bucket, with `read` counted apart, so a lost row shows as imbalance."""
    read = frames.normalized.select(PARTITION_COLUMN, F.lit("read").alias("_bucket"))
    counted = (
        read.unionByName(frames.outcome.select(PARTITION_COLUMN, "_bucket"))
        .groupBy(PARTITION_COLUMN, "_bucket")
        .count()
        .collect()
    )
    return balanced_stats(counted, partition_keys)


def _rule_warnings(staged: DataFrame, spec: SourceSpec) -> dict[str, dict[str, int]]:
    """Staged rows breaking each warn rule, per day (only days and rules with some)."""
    found: dict[str, dict[str, int]] = {}
    for rule in (r for r in spec.rules if r.severity == "warn"):
        broken = staged.filter(~_rule(spec, rule.expression)).groupBy(PARTITION_COLUMN).count()
        for day, n in broken.collect():
            found.setdefault(day.isoformat(), {})[rule.name] = int(n)
    return found


def _masker(
    spec: SourceSpec, key: bytes
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The DuckDB path's own Arrow masking, per batch on the executors: byte-identical tokens."""

    def mask(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            found: Counter[str] = Counter()
            masked = mask_batch(batch, spec, key, found)
            counts = [json.dumps(dict(found))] + [None] * (batch.num_rows - 1)
            arrays = [masked.column(i).cast(f.type) for i, f in enumerate(batch.schema)]
            yield pa.RecordBatch.from_arrays(
                [*arrays, pa.array(counts, pa.string())], names=[*batch.schema.names, _FOUND]
            )

    return mask


def _masked_arrow(
    frame: DataFrame, spec: SourceSpec, key: bytes, schema: pa.Schema, found: Counter[str]
) -> pa.Table:
    """The frame masked on the executors, collected as Arrow in `schema`, counting what was found.

    Sorted by day, file and line first: the DuckDB path's order for quarantined rows (its staged
    rows carry none, so any order serves them).
    """
    frame = frame.orderBy(PARTITION_COLUMN, "_source_file", "_source_line")
    if not any(c.pii for c in spec.columns) and not free_text_columns(spec):
        return frame.toArrow().cast(schema)
    with_found = T.StructType([*frame.schema.fields, T.StructField(_FOUND, T.StringType())])
    table = frame.mapInArrow(_masker(spec, key), with_found).toArrow()
    for counts in table.column(_FOUND).drop_null().to_pylist():
        found.update(json.loads(counts))
    return table.drop_columns([_FOUND]).cast(schema)


def arrow_schemas(spec: SourceSpec, timezone: str) -> tuple[pa.Schema, pa.Schema]:
    """The staged and quarantined Arrow schemas, exactly as the DuckDB path returns them."""
    typed = [
        pa.field(c.name, _ARROW_TYPES.get(c.type) or pa.timestamp("us", tz=timezone))
        for c in spec.columns
    ]
    text = [pa.field(c, pa.string()) for c in spec.column_names]
    reasons = [pa.field(name, pa.string()) for name in [*_REASON_FIELDS, "_raw_record"]]
    return pa.schema([*typed, *LINEAGE_FIELDS]), pa.schema([*text, *reasons, *LINEAGE_FIELDS])


def stage_spark(
    spark: SparkSession,
    raw: DataFrame,
    spec: SourceSpec,
    partition_keys: list[str],
    pii_key: bytes,
    timezone: str,
) -> StagingResult:
    """Turn a raw slice into staging and quarantine tables for `partition_keys`, on Spark."""
    ZoneInfo(timezone)  # refuse an unknown zone before it reaches Spark
    # The day of a timestamp is its day in the platform zone, as in the DuckDB session.
    spark.conf.set("spark.sql.session.timeZone", timezone)
    frames = stage_frames(raw, spec)
    # Every count, the contract's checks and both outputs read these; compute them once.
    frames.outcome.persist()
    frames.staged.persist()
    try:
        stats = _accounting(frames, partition_keys)
        validate_staged(frames.staged, spec)
        warnings = _rule_warnings(frames.staged, spec)
        staged_schema, quarantined_schema = arrow_schemas(spec, timezone)
        found: Counter[str] = Counter()
        staged = _masked_arrow(frames.staged, spec, pii_key, staged_schema, found)
        quarantined = _masked_arrow(frames.quarantined, spec, pii_key, quarantined_schema, found)
    finally:
        frames.staged.unpersist()
        frames.outcome.unpersist()
    return StagingResult(staged, quarantined, stats, warnings, dict(found))
