"""The landing zone: where source files arrive, laid out as `<prefix>/<YYYY-MM-DD>/<file>`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import dagster as dg

_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, order=True)
class LandedFile:
    """One file in the landing zone; `key` is its path relative to the landing root."""

    key: str
    partition_key: str
    size: int
    mtime_ns: int


class LocalLandingZone(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A landing folder on the local disk (the `local` environment's landing zone)."""

    root: str

    def _root(self) -> Path:
        return Path(self.root).resolve()

    def list_files(self, prefix: str, pattern: str) -> list[LandedFile]:
        """Every non-empty file of a source, sorted by key.

        Zero-byte files are skipped: a writer that has created but not yet filled a file must not
        have it ingested half-written.
        """
        base = self._root() / prefix
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
                key = path.relative_to(self._root()).as_posix()
                found.append(LandedFile(key, day_dir.name, stat.st_size, stat.st_mtime_ns))
        return found

    def files_for(self, prefix: str, pattern: str, partition_keys: list[str]) -> list[LandedFile]:
        """The files that belong to the given daily partitions."""
        wanted = set(partition_keys)
        return [f for f in self.list_files(prefix, pattern) if f.partition_key in wanted]

    def local_path(self, key: str) -> Path:
        """The path of a landed file; a key can never escape the landing root."""
        root = self._root()
        path = (root / key).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"landing key {key!r} escapes the landing root")
        return path

    def sha256(self, key: str) -> str:
        """Content hash of a landed file, read in 1 MiB chunks so any size fits in memory."""
        digest = hashlib.sha256()
        with self.local_path(key).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
