"""Streaming readers: landed files as Arrow record batches of strings, rows exactly as read.

Raw keeps every value as the text it arrived as, so a later fix to parsing can replay raw without
asking the source again. Records that cannot be parsed are kept too, whole, in `_raw_record`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from etl_platform.ingest.drift import normalize_header

BATCH_ROWS = 65_536
# ~28 K order rows a block: large enough to amortize per-batch costs, small enough to stream.
CSV_BLOCK_BYTES = 4 << 20
RAW_RECORD = "_raw_record"
SOURCE_LINE = "_source_line"

Source = Path | BinaryIO
"""A landed file: a path, or a binary stream positioned at its start (not closed here)."""


def needs_random_access(fmt: str) -> bool:
    """Whether a format is read by seeking (Parquet's footer), not front to back."""
    return fmt == "parquet"


@contextmanager
def _binary(source: Source) -> Iterator[BinaryIO]:
    """The source as a binary stream; a path is opened here and closed after."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            yield handle
    else:
        yield source


@contextmanager
def _text(stream: BinaryIO, newline: str | None = None) -> Iterator[io.TextIOWrapper]:
    """UTF-8 text over a binary stream, detached after so the caller's stream stays open."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline=newline)
    try:
        yield text
    finally:
        text.detach()


def file_header(source: Source, fmt: str) -> list[str]:
    """The column names a file declares, as written, without reading its rows.

    For JSON Lines, the keys seen in the first thousand records. A stream is consumed from its
    current position; for Parquet it must be seekable (see `needs_random_access`).
    """
    with _binary(source) as stream:
        if fmt == "csv":
            return _csv_header(stream)
        if fmt == "parquet":
            return list(_parquet_file(stream).schema_arrow.names)
        seen: dict[str, None] = {}
        with _text(stream) as handle:
            for _, line in zip(range(1_000), handle, strict=False):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    seen.update(dict.fromkeys(record))
        return list(seen)


def _csv_header(stream: BinaryIO) -> list[str]:
    with _text(stream, newline="") as handle:
        return next(csv.reader(handle), [])


def _parquet_file(stream: BinaryIO) -> pq.ParquetFile:
    if not stream.seekable():
        raise ValueError("a Parquet file needs a seekable stream (open it with seekable=True)")
    return pq.ParquetFile(stream)


def unique_names(header: list[str]) -> list[str]:
    """Normalized names made unique by position, so an ambiguous header can still be read.

    The first of colliding headers keeps the name; drift detection has already flagged the file.
    """
    names: list[str] = []
    for index, raw in enumerate(header):
        name = normalize_header(raw) or f"_unnamed_{index}"
        names.append(name if name not in names else f"{name}__{index}")
    return names


def read_batches(source: Source, fmt: str, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Yield batches with `columns` (strings, missing ones null), `_source_line`, `_raw_record`.

    The file is read in bounded batches as the caller pulls them, so its size never decides the
    memory used. A stream must be at the file's start; for Parquet it must be seekable.
    """
    if fmt not in {"csv", "jsonl", "parquet"}:
        raise ValueError(f"unsupported format {fmt!r}")
    with _binary(source) as stream:
        if fmt == "csv":
            yield from _csv_batches(stream, columns)
        elif fmt == "jsonl":
            yield from _jsonl_batches(stream, columns)
        else:
            yield from _parquet_batches(stream, columns)


def batch_schema(columns: list[str]) -> pa.Schema:
    """The schema every reader yields: string columns plus line number and unparsed record."""
    fields = [pa.field(c, pa.string()) for c in columns]
    return pa.schema(
        [*fields, pa.field(SOURCE_LINE, pa.int64()), pa.field(RAW_RECORD, pa.string())]
    )


def _conform(
    table_columns: dict[str, pa.Array], n: int, lines: pa.Array, columns: list[str]
) -> pa.RecordBatch:
    arrays = [table_columns.get(c, pa.nulls(n, pa.string())) for c in columns]
    return pa.RecordBatch.from_arrays(
        [*arrays, lines, pa.nulls(n, pa.string())], schema=batch_schema(columns)
    )


class _Replay(io.RawIOBase):
    """The bytes already read from a stream, then the rest of it: a one-pass stream read twice.

    The header is parsed by Python's csv module (quoting, colliding names) before Arrow's reader
    starts, and Arrow must still see the file from its first byte to skip the header itself.
    """

    def __init__(self, seen: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._seen = memoryview(seen)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._seen:
            n = min(len(view), len(self._seen))
            view[:n] = self._seen[:n]
            self._seen = self._seen[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


class _Recorder(io.RawIOBase):
    """A stream that keeps a copy of what is read through it (only the header's first chunks)."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self.seen = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        view[: len(data)] = data
        self.seen += data
        return len(data)


def _peek_csv_header(stream: BinaryIO) -> tuple[list[str], BinaryIO]:
    """The CSV header, and a stream that still starts at the file's first byte."""
    recorder = _Recorder(stream)
    header = _csv_header(io.BufferedReader(recorder, buffer_size=io.DEFAULT_BUFFER_SIZE))
    return header, io.BufferedReader(_Replay(bytes(recorder.seen), stream))


def _csv_batches(stream: BinaryIO, columns: list[str]) -> Iterator[pa.RecordBatch]:
    raw_header, replay = _peek_csv_header(stream)
    header = unique_names(raw_header)
    bad_rows: list[tuple[int, str]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        # A row with the wrong number of fields is kept whole, to be quarantined, never dropped.
        bad_rows.append((row.number or 0, row.text))
        return "skip"

    reader = pacsv.open_csv(
        replay,
        # Single-threaded so the invalid-row handler learns physical line numbers.
        read_options=pacsv.ReadOptions(
            column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=keep_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
        ),
    )
    line = 2  # line 1 is the header
    for batch in reader:
        by_name = {name: batch.column(i) for i, name in enumerate(header) if name in columns}
        lines, line = _good_lines(line, batch.num_rows, {n for n, _ in bad_rows})
        yield _conform(by_name, batch.num_rows, lines, columns)
    if bad_rows:
        yield _unparsed_batch(bad_rows, columns)


def _good_lines(start: int, n: int, bad: set[int]) -> tuple[pa.Array, int]:
    """Line numbers of `n` parsed rows from `start`, stepping over the lines skipped as invalid."""
    if not any(start <= b < start + n + len(bad) for b in bad):
        return pa.array(range(start, start + n), pa.int64()), start + n
    lines: list[int] = []
    line = start
    while len(lines) < n:
        if line not in bad:
            lines.append(line)
        line += 1
    return pa.array(lines, pa.int64()), line


def _unparsed_batch(rows: list[tuple[int, str]], columns: list[str]) -> pa.RecordBatch:
    n = len(rows)
    return pa.RecordBatch.from_arrays(
        [
            *(pa.nulls(n, pa.string()) for _ in columns),
            pa.array([r[0] for r in rows], pa.int64()),
            pa.array([r[1] for r in rows], pa.string()),
        ],
        schema=batch_schema(columns),
    )


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _jsonl_batches(stream: BinaryIO, columns: list[str]) -> Iterator[pa.RecordBatch]:
    records: list[dict[str, str | None]] = []
    lines: list[int] = []
    bad: list[tuple[int, str]] = []
    with _text(stream) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                # Numbers stay the text they were sent as: `1.50` must not become `1.5` in raw.
                record = json.loads(text, parse_float=str, parse_int=str)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                bad.append((number, text.rstrip("\n")))
                continue
            row: dict[str, str | None] = {}
            for key, value in record.items():  # of colliding keys the first wins, as in CSV
                row.setdefault(normalize_header(key), _as_text(value))
            records.append(row)
            lines.append(number)
            if len(records) == BATCH_ROWS:
                yield _records_batch(records, lines, columns)
                records, lines = [], []
    if records:
        yield _records_batch(records, lines, columns)
    if bad:
        yield _unparsed_batch(bad, columns)


def _records_batch(
    records: list[dict[str, str | None]], lines: list[int], columns: list[str]
) -> pa.RecordBatch:
    arrays = [pa.array([r.get(c) for r in records], pa.string()) for c in columns]
    return pa.RecordBatch.from_arrays(
        [*arrays, pa.array(lines, pa.int64()), pa.nulls(len(records), pa.string())],
        schema=batch_schema(columns),
    )


def _parquet_batches(stream: BinaryIO, columns: list[str]) -> Iterator[pa.RecordBatch]:
    parquet = _parquet_file(stream)
    names: dict[str, str] = {}
    for name in parquet.schema_arrow.names:
        names.setdefault(normalize_header(name), name)
    line = 1
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        by_name = {c: batch.column(names[c]).cast(pa.string()) for c in columns if c in names}
        lines = pa.array(range(line, line + batch.num_rows), pa.int64())
        yield _conform(by_name, batch.num_rows, lines, columns)
        line += batch.num_rows
