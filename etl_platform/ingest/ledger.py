"""The ledger of landed files: decides, by content hash, which files are new and which are copies.

The ledger, not the sensor, keeps a file that lands twice from loading twice: a sensor cursor can be
lost, the ledger cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl_platform.ingest.landing import LandedFile
from etl_platform.io.warehouse import Warehouse, transaction

LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS _etl;
CREATE TABLE IF NOT EXISTS _etl.file_ledger (
    source VARCHAR NOT NULL,
    file_key VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    partition_key VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    duplicate_of VARCHAR,
    run_id VARCHAR NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, file_key)
);
ALTER TABLE _etl.file_ledger ADD COLUMN IF NOT EXISTS etag VARCHAR;
"""


@dataclass(frozen=True)
class LedgerDecision:
    """What the ledger decided for one file: load it, or skip it as a copy of `duplicate_of`."""

    file: LandedFile
    sha256: str
    duplicate_of: str | None

    @property
    def load(self) -> bool:
        """Whether the file's rows go to raw."""
        return self.duplicate_of is None


def register(
    warehouse: Warehouse, source: str, files: list[tuple[LandedFile, str]], run_id: str
) -> list[LedgerDecision]:
    """Record files with their hashes; a file whose content another key delivered is skipped.

    Registration is idempotent: re-registering the same key with the same content gives the same
    decision, so re-materializing a partition re-loads exactly the same files. The SQL is portable
    (DuckDB and PostgreSQL); only the parameter placeholder comes from the warehouse. An update
    keeps a file's first `registered_at`, which orders redeliveries.
    """
    p = warehouse.param
    decisions = []
    with warehouse.connect() as con, transaction(con):
        con.execute(LEDGER_DDL)
        for landed, sha in sorted(files):
            original = con.execute(
                f"SELECT file_key FROM _etl.file_ledger WHERE source = {p} AND sha256 = {p} "
                f"AND file_key <> {p} AND status = 'loaded' "
                "ORDER BY registered_at, file_key LIMIT 1",
                [source, sha, landed.key],
            ).fetchall()
            duplicate_of = original[0][0] if original else None
            con.execute(
                "INSERT INTO _etl.file_ledger (source, file_key, sha256, size, partition_key, "
                "status, duplicate_of, run_id, etag) "
                f"VALUES ({', '.join([p] * 9)}) "
                "ON CONFLICT (source, file_key) DO UPDATE SET sha256 = excluded.sha256, "
                "size = excluded.size, partition_key = excluded.partition_key, "
                "etag = excluded.etag, "
                "status = excluded.status, duplicate_of = excluded.duplicate_of, "
                "run_id = excluded.run_id",
                [
                    source,
                    landed.key,
                    sha,
                    landed.size,
                    landed.partition_key,
                    "duplicate" if duplicate_of else "loaded",
                    duplicate_of,
                    run_id,
                    landed.etag,
                ],
            )
            decisions.append(LedgerDecision(landed, sha, duplicate_of))
    return decisions


def known_hashes(warehouse: Warehouse, source: str, files: list[LandedFile]) -> dict[str, str]:
    """Content hashes the ledger already holds for files unchanged since (same key, etag, size).

    Hashing means reading a whole file (a full GET on S3) before it is read again to load it;
    an unchanged file needs neither its hash recomputed nor that extra read.
    """
    p = warehouse.param
    with warehouse.connect() as con, transaction(con):
        con.execute(LEDGER_DDL)
        rows = con.execute(
            f"SELECT file_key, etag, size, sha256 FROM _etl.file_ledger WHERE source = {p}",
            [source],
        ).fetchall()
    recorded = {key: (etag, size, sha) for key, etag, size, sha in rows}
    known = {}
    for landed in files:
        etag, size, sha = recorded.get(landed.key, (None, None, None))
        if landed.etag and etag == landed.etag and size == landed.size:
            known[landed.key] = sha
    return known
