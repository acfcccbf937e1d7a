"""The landing zone: where source files arrive, laid out as `<prefix>/<YYYY-MM-DD>/<file>`.

`LandingZone` is the interface the raw assets and sensors use; `LocalLandingZone` is a folder (the
`local` environment) and `S3LandingZone` a bucket prefix on any S3 API (the `prod` environment).
Keys are always relative to the zone's root and mean the same in both, so lineage columns
(`_source_file`) do not change with the environment.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, BinaryIO

import dagster as dg
from pydantic import Field, PrivateAttr

_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HASH_CHUNK_BYTES = 1 << 20
# Sequential S3 reads are pulled off the socket in 1 MiB reads: few syscalls, bounded memory.
S3_READ_BUFFER_BYTES = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class LandedFile:
    """One file in the landing zone; `key` is its path relative to the landing root.

    `etag` changes whenever the content may have changed (S3's ETag; size and modification time
    locally), so an overwrite in place is noticed without reading the file.
    """

    key: str
    partition_key: str
    size: int
    mtime_ns: int
    etag: str = ""


def _is_plain(key: str) -> bool:
    # An empty key, a leading or doubled `/` and a trailing `/` all show up as an empty part.
    parts = key.split("/")
    return "\\" not in key and "\x00" not in key and not {"", ".", ".."} & set(parts)


def check_key(key: str) -> str:
    """A key as given, if it is a plain relative key; anything that could escape the root raises.

    The same rule holds in every zone, so a key refused in production is refused locally too.
    """
    if not _is_plain(key):
        raise ValueError(f"landing key {key!r} escapes the landing root")
    return key


def _day_of(relative: str, prefix: str, pattern: str) -> str | None:
    """The day of a key under `<prefix>/`, or None when it is not a landed file.

    Only `<prefix>/<YYYY-MM-DD>/<name>` counts: deeper or shallower objects are not deliveries,
    and a key `open` would refuse is not listed either.
    """
    day, _, name = relative[len(prefix) + 1 :].partition("/")
    if not _DAY_FOLDER.match(day) or not name or "/" in name or not _is_plain(relative):
        return None
    return day if fnmatch(name, pattern) else None


class LandingZone(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where files land: list them, open them as streams, hash them.

    Readers only ever get a stream from `open`, so a file larger than memory is never loaded whole,
    wherever it lives.
    """

    def list_files(self, prefix: str, pattern: str) -> list[LandedFile]:
        """Every non-empty file of a source, sorted by key.

        Zero-byte files are skipped: a writer that has created but not yet filled a file must not
        have it ingested half-written.
        """
        raise NotImplementedError

    def open(self, key: str, *, seekable: bool = False) -> AbstractContextManager[BinaryIO]:
        """A binary stream over a landed file, read incrementally as the caller reads.

        Args:
            key: The file's key relative to the landing root.
            seekable: Whether the caller needs random access (Parquet reads its footer first).
        """
        raise NotImplementedError

    def files_for(self, prefix: str, pattern: str, partition_keys: list[str]) -> list[LandedFile]:
        """The files that belong to the given daily partitions."""
        wanted = set(partition_keys)
        return [f for f in self.list_files(prefix, pattern) if f.partition_key in wanted]

    def sha256(self, key: str) -> str:
        """Content hash of a landed file, read in 1 MiB chunks so any size fits in memory."""
        digest = hashlib.sha256()
        with self.open(key) as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest()


class LocalLandingZone(LandingZone):
    """A landing folder on the local disk (the `local` environment's landing zone)."""

    root: str

    def _root(self) -> Path:
        return Path(self.root).resolve()

    def list_files(self, prefix: str, pattern: str) -> list[LandedFile]:
        """Every non-empty file of a source, sorted by key."""
        root = self._root()
        base = root / check_key(prefix)
        if not base.is_dir():
            return []
        found = []
        for day_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            if not _DAY_FOLDER.match(day_dir.name):
                continue
            for path in sorted(day_dir.iterdir()):
                if not path.is_file() or not fnmatch(path.name, pattern):
                    continue
                stat = path.stat()
                if stat.st_size == 0:
                    continue
                found.append(
                    LandedFile(
                        key=path.relative_to(root).as_posix(),
                        partition_key=day_dir.name,
                        size=stat.st_size,
                        mtime_ns=stat.st_mtime_ns,
                        etag=f"{stat.st_size}-{stat.st_mtime_ns}",
                    )
                )
        return found

    def local_path(self, key: str) -> Path:
        """The path of a landed file; a key can never escape the landing root."""
        root = self._root()
        path = (root / check_key(key)).resolve()
        # Resolving follows symlinks, so a link pointing outside the root is refused too.
        if not path.is_relative_to(root):
            raise ValueError(f"landing key {key!r} escapes the landing root")
        return path

    @contextmanager
    def open(self, key: str, *, seekable: bool = False) -> Iterator[BinaryIO]:
        """The file opened for binary reading (a local file is always seekable)."""
        with self.local_path(key).open("rb") as handle:
            yield handle


class _BodyReader(io.RawIOBase):
    """botocore's `StreamingBody` as a raw stream, so `io.BufferedReader` can wrap it."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data: bytes = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3LandingZone(LandingZone):
    """A landing prefix in an S3 bucket (AWS, MinIO or any S3 API): the `prod` landing zone.

    Listing and sequential reads use boto3: one GET per file whose body is streamed off the
    socket, so a file is read at one version and never held whole in memory. Random access (Parquet
    reads its footer, then only the column chunks it needs) uses `pyarrow.fs.S3FileSystem`, whose
    files issue ranged GETs; downloading to a temporary file would cost a full copy on disk first.
    """

    bucket: str
    prefix: str = Field(default="", description="Root prefix inside the bucket; may be empty.")
    endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint, e.g. http://minio:9000; None means AWS."
    )
    region: str = "us-east-1"
    access_key_id: str | None = Field(
        default=None, repr=False, description="From dg.EnvVar; None uses the default AWS chain."
    )
    secret_access_key: str | None = Field(
        default=None, repr=False, description="From dg.EnvVar; never logged."
    )

    _client: Any = PrivateAttr(default=None)

    def _s3(self) -> Any:
        if self._client is None:
            # Imported here: boto3 costs every definitions load, and only prod lists S3.
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                config=Config(
                    # MinIO and most S3 APIs other than AWS only route path-style requests.
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                    retries={"mode": "standard", "max_attempts": 5},
                ),
            )
        return self._client

    def _root(self) -> str:
        root = self.prefix.strip("/")
        return f"{check_key(root)}/" if root else ""

    def _object_key(self, key: str) -> str:
        return self._root() + check_key(key)

    def list_files(self, prefix: str, pattern: str) -> list[LandedFile]:
        """Every non-empty object of a source, sorted by key, over every page of the listing."""
        root = self._root()
        source = check_key(prefix.strip("/"))
        found = []
        pages = (
            self._s3()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=f"{root}{source}/")
        )
        for page in pages:
            for item in page.get("Contents", []):
                if item["Size"] == 0:
                    continue
                key = item["Key"][len(root) :]
                day = _day_of(key, source, pattern)
                if day is None:
                    continue
                modified: datetime = item["LastModified"]
                found.append(
                    LandedFile(
                        key=key,
                        partition_key=day,
                        size=int(item["Size"]),
                        mtime_ns=(modified - _EPOCH) // timedelta(microseconds=1) * 1_000,
                        etag=str(item["ETag"]).strip('"'),
                    )
                )
        return sorted(found, key=lambda f: f.key)

    @contextmanager
    def open(self, key: str, *, seekable: bool = False) -> Iterator[BinaryIO]:
        """A stream over an object: the GET's body, or a ranged-read file when `seekable`."""
        object_key = self._object_key(key)
        if seekable:
            with self._filesystem().open_input_file(f"{self.bucket}/{object_key}") as handle:
                yield handle
            return
        body = self._s3().get_object(Bucket=self.bucket, Key=object_key)["Body"]
        with io.BufferedReader(_BodyReader(body), buffer_size=S3_READ_BUFFER_BYTES) as handle:
            yield handle

    def _filesystem(self) -> Any:
        # Built per open and dropped after: pyarrow finalizes S3 at interpreter exit, and a
        # filesystem cached on the resource would still be alive then.
        from pyarrow import fs as pafs

        return pafs.S3FileSystem(
            access_key=self.access_key_id,
            secret_key=self.secret_access_key,
            region=self.region,
            endpoint_override=self.endpoint_url,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=5),
        )
