"""The orders staging work and a daily aggregate through the platform's Spark path, `local[2]`.

Run by the benchmark in a process of its own (`python -m etl_platform.bench.spark_baseline
<landing>`), like the DuckDB baseline, and on the same files: Spark reads the landed CSVs as raw
would hold them (all text, source file and line, the day folder as the partition), runs
`stage_spark`'s core (`stage_frames`) and aggregates per day as `duckdb_baseline.sql` does. The
JVM's start is inside the measured process but outside `seconds`, as imports are for the others.
"""

import argparse
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from etl_platform.bench.figures import ORDERS, DayFigures, EngineResult, order_files
from etl_platform.io.spark import LOCAL_SETTINGS, session_config, start_session
from etl_platform.sources.model import SPEC_DIR, load_spec
from etl_platform.transform.stage_spark import stage_frames

MASTER = "local[2]"


def _landed(spark: SparkSession, landing: Path, columns: list[str]) -> DataFrame:
    """Every landed order file as raw rows: text columns, lineage, NULL reject markers."""
    frames = []
    for path in order_files(landing):
        # One read per file: Spark's CSV reader takes one header for all the files it reads, and
        # a file with an extra column (coupon_code) would shift the others' columns.
        text = spark.read.option("header", "true").csv(str(path))
        present = set(text.columns)
        in_file = Window.orderBy(F.monotonically_increasing_id())
        frames.append(
            text.select(
                *(
                    F.col(c) if c in present else F.lit(None).cast("string").alias(c)
                    for c in columns
                ),
                # Line 1 is the header, as in the platform's _source_line.
                (F.row_number().over(in_file) + 1).cast("long").alias("_source_line"),
                F.lit(None).cast("string").alias("_raw_record"),
                F.lit(None).cast("string").alias("_file_rejected"),
                F.lit(path.relative_to(landing).as_posix()).alias("_source_file"),
                F.lit(path.parent.name).alias("_partition_date"),
            )
        )
    landed = frames[0]
    for frame in frames[1:]:
        landed = landed.unionByName(frame)
    return landed


def run(landing: Path, timezone: str, master: str = MASTER) -> EngineResult:
    """Stage the landed orders with the platform's Spark expressions and aggregate them per day."""
    ZoneInfo(timezone)
    spark = start_session(session_config(master, timezone, **LOCAL_SETTINGS))
    try:
        started = time.perf_counter()
        spec = load_spec(SPEC_DIR / f"{ORDERS}.yaml")
        # Held once, as staging holds raw: every branch of the staging plan reads it.
        landed = _landed(spark, landing, spec.column_names).persist()
        frames = stage_frames(landed, spec)
        read = frames.normalized.groupBy("_partition_date").count()
        staged = frames.staged.groupBy("_partition_date").agg(
            F.count(F.lit(1)).alias("rows"),
            (F.sum(F.col("quantity") * F.col("unit_price_inr")) * 100).cast("long").alias("paise"),
            F.sum("_source_line").alias("lines"),
        )
        rows = read.join(staged, "_partition_date", "left").orderBy("_partition_date").collect()
        seconds = time.perf_counter() - started
    finally:
        spark.stop()
    daily = {
        day.isoformat(): DayFigures(int(n or 0), int(paise or 0), int(lines or 0))
        for day, _, n, paise, lines in rows
    }
    return EngineResult("spark", sum(int(r[1]) for r in rows), seconds, daily)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, print the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m etl_platform.bench.spark_baseline")
    parser.add_argument("landing", type=Path, help="the landing folder (holds orders/<day>/)")
    parser.add_argument("--timezone", default="Asia/Kolkata")
    parser.add_argument("--master", default=MASTER)
    args = parser.parse_args(argv)
    run(args.landing, args.timezone, args.master).write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
