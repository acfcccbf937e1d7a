"""The raw stream: landed files' batches with their lineage columns, one file after another."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa

from etl_platform.ingest.landing import LandingZone
from etl_platform.ingest.ledger import LedgerDecision
from etl_platform.ingest.readers import batch_schema, file_header, needs_random_access, read_batches

LINEAGE_FIELDS = [
    pa.field("_source_file", pa.string()),
    pa.field("_file_sha256", pa.string()),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC")),
    pa.field("_partition_date", pa.string()),
    # Why the schema policy refused the file this row came from; staging quarantines such rows.
    pa.field("_file_rejected", pa.string()),
]
# What a file's rows say about how it was loaded: the same three values on every row of it.
FILE_IDENTITY = ["_source_file", "_file_sha256", "_file_rejected"]


def raw_schema(columns: list[str]) -> pa.Schema:
    """Raw's schema: data columns as strings, line number, unparsed record, lineage."""
    base = batch_schema(columns)
    return pa.schema([*base, *LINEAGE_FIELDS])


def landed_header(landing: LandingZone, key: str, fmt: str) -> list[str]:
    """The header of a landed file, reading only its start (or, for Parquet, its footer)."""
    with landing.open(key, seekable=needs_random_access(fmt)) as stream:
        return file_header(stream, fmt)


def raw_stream(
    landing: LandingZone,
    files: list[LedgerDecision],
    fmt: str,
    columns: list[str],
    rejected: dict[str, str],
) -> pa.RecordBatchReader:
    """A lazy reader over the files: nothing is read until the lake writer pulls a batch.

    `rejected` maps a file key to the reason its schema policy refused it; its rows are marked.
    """
    schema = raw_schema(columns)
    ingested_at = datetime.now(UTC)

    def batches() -> Iterator[pa.RecordBatch]:
        for decision in files:
            landed = decision.file
            # One file open at a time, read as the writer pulls: memory is a batch, not a file.
            with landing.open(landed.key, seekable=needs_random_access(fmt)) as stream:
                for batch in read_batches(stream, fmt, columns):
                    n = batch.num_rows
                    values = (
                        landed.key,
                        decision.sha256,
                        ingested_at,
                        landed.partition_key,
                        rejected.get(landed.key),
                    )
                    # Constant per file: repeated in Arrow, not built from Python lists.
                    lineage = [
                        pa.repeat(pa.scalar(value, field.type), n)
                        for value, field in zip(values, LINEAGE_FIELDS, strict=True)
                    ]
                    yield pa.RecordBatch.from_arrays([*batch.columns, *lineage], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())
