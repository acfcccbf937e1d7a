import hashlib
import io
import json
import os
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import boto3
import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from etl_platform.assets.raw import build_raw_asset
from etl_platform.ingest.landing import LandingZone, LocalLandingZone, S3LandingZone
from etl_platform.ingest.raw_stream import landed_header
from etl_platform.ingest.readers import needs_random_access, read_batches
from etl_platform.io.delta_lake import DeltaLakeIOManager
from etl_platform.io.duckdb_warehouse import DuckDBWarehouse
from etl_platform.sources.model import SPEC_DIR, load_spec

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


def zone(endpoint: str, bucket: str, prefix: str = "") -> S3LandingZone:
    return S3LandingZone(bucket=bucket, prefix=prefix, endpoint_url=endpoint, **CREDENTIALS)


def client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def put(endpoint: str, bucket: str, objects: dict[str, bytes]) -> None:
    s3 = client(endpoint)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()
            )
        )


def test_listing_pages_through_more_than_a_thousand_keys(s3_server, s3_bucket):
    objects = {
        f"landing/orders/2026-11-0{day}/part-{i:04d}.csv": b"a\n1\n"
        for day in (1, 2, 3)
        for i in range(402)
    }
    put(s3_server, s3_bucket, objects)
    files = zone(s3_server, s3_bucket, prefix="landing").list_files("orders", "*.csv")
    assert len(files) == 1_206  # one listing page holds at most 1,000 keys
    assert [f.key for f in files] == sorted(k.removeprefix("landing/") for k in objects)
    assert {f.partition_key for f in files} == {"2026-11-01", "2026-11-02", "2026-11-03"}


def test_only_non_empty_files_in_day_folders_matching_the_pattern_are_listed(s3_server, s3_bucket):
    put(
        s3_server,
        s3_bucket,
        {
            "orders/2026-11-01/a.csv": b"a\n1\n",
            "orders/2026-11-01/in_progress.csv": b"",  # created, not yet written
            "orders/2026-11-01/notes.txt": b"x",
            "orders/2026-11-01/": b"",  # a console-made "folder" marker
            "orders/2026-11-01/deeper/b.csv": b"a\n1\n",
            "orders/not-a-day/c.csv": b"a\n1\n",
            "orders/d.csv": b"a\n1\n",
            "ordersx/2026-11-01/e.csv": b"a\n1\n",
            "orders/2026-11-02/f.csv": b"a\n2\n",
        },
    )
    files = zone(s3_server, s3_bucket).list_files("orders", "*.csv")
    assert [(f.key, f.partition_key, f.size) for f in files] == [
        ("orders/2026-11-01/a.csv", "2026-11-01", 4),
        ("orders/2026-11-02/f.csv", "2026-11-02", 4),
    ]
    (listed,) = client(s3_server).list_objects_v2(Bucket=s3_bucket, Prefix="orders/2026-11-01/a")[
        "Contents"
    ]
    assert files[0].etag == listed["ETag"].strip('"')
    assert files[0].mtime_ns == round(listed["LastModified"].timestamp() * 1_000_000) * 1_000


def test_files_for_picks_the_asked_days(s3_server, s3_bucket):
    put(
        s3_server,
        s3_bucket,
        {f"orders/2026-11-0{d}/x.csv": b"a\n1\n" for d in (1, 2, 3)},
    )
    files = zone(s3_server, s3_bucket).files_for("orders", "*.csv", ["2026-11-01", "2026-11-03"])
    assert [f.key for f in files] == ["orders/2026-11-01/x.csv", "orders/2026-11-03/x.csv"]


def test_the_hash_of_an_object_equals_the_hash_of_its_bytes(s3_server, s3_bucket):
    body = os.urandom(3 * (1 << 20) + 17)  # several 1 MiB chunks and a remainder
    put(s3_server, s3_bucket, {"orders/2026-11-01/a.csv": body})
    assert (
        zone(s3_server, s3_bucket).sha256("orders/2026-11-01/a.csv")
        == hashlib.sha256(body).hexdigest()
    )


def test_opening_a_large_object_holds_a_buffer_not_the_object(s3_server, s3_bucket):
    body = os.urandom(16 << 20)
    put(s3_server, s3_bucket, {"orders/2026-11-01/big.csv": body})
    landing = zone(s3_server, s3_bucket)
    # Only allocations made on the client's read path count; moto serves from the same process.
    client_side = [tracemalloc.Filter(True, "*/etl_platform/ingest/landing.py", all_frames=True)]
    tracemalloc.start(64)
    try:
        with landing.open("orders/2026-11-01/big.csv") as stream:
            first = stream.read(100)
            snapshot = tracemalloc.take_snapshot()
            tracemalloc.stop()  # tracing the rest would only slow the test down
            rest = stream.read()
    finally:
        tracemalloc.stop()
    held = sum(stat.size for stat in snapshot.filter_traces(client_side).statistics("lineno"))
    assert first + rest == body
    assert held < 4 << 20


@pytest.mark.parametrize(
    "key", ["orders/../../secrets.txt", "../x", "/orders/2026-11-01/a.csv", "orders//a.csv", ""]
)
def test_a_key_that_could_escape_the_root_is_refused(s3_server, s3_bucket, key):
    landing = zone(s3_server, s3_bucket, prefix="landing")
    with pytest.raises(ValueError, match="escapes the landing root"), landing.open(key):
        pass
    with pytest.raises(ValueError, match="escapes the landing root"):
        landing.sha256(key)


def test_credentials_never_show_in_the_resource_repr(s3_server, s3_bucket):
    landing = S3LandingZone(
        bucket=s3_bucket, endpoint_url=s3_server, access_key_id="AKIDX", secret_access_key="S3CR3T"
    )
    assert "AKIDX" not in repr(landing) and "S3CR3T" not in repr(landing)


def _csv() -> bytes:
    lines = ["id,Amount,amount ,note"]  # colliding names: the first one wins
    lines += [f"{i},{i}.50,{i},plain" for i in range(250_000)]
    lines.insert(7, "bad,row")  # wrong field count: kept whole in _raw_record
    lines.insert(9, '8,1.00,1,"two\nlines"')
    return ("\n".join(lines) + "\n").encode()


def _jsonl() -> bytes:
    records = [
        json.dumps({"id": i, "amount": 1.5, "tags": [i]}).replace("1.5", "1.50")
        for i in range(70_000)
    ]
    records.insert(3, "{broken")
    records.insert(5, "")
    return ("\n".join(records) + "\n").encode()


def _parquet() -> bytes:
    sink = io.BytesIO()
    table = pa.table({"id": list(range(150_000)), "Price": [i / 4 for i in range(150_000)]})
    pq.write_table(table, sink, row_group_size=40_000)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("fmt", "body", "columns"),
    [
        ("csv", _csv(), ["id", "amount", "note", "missing"]),
        ("jsonl", _jsonl(), ["id", "amount", "tags"]),
        ("parquet", _parquet(), ["id", "price"]),
    ],
)
def test_readers_give_the_same_batches_from_s3_as_from_a_local_copy(
    s3_server, s3_bucket, tmp_path, fmt, body, columns
):
    key = f"src/2026-11-01/file.{fmt}"
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(body)
    put(s3_server, s3_bucket, {key: body})

    def batches(landing: LandingZone) -> list[pa.RecordBatch]:
        with landing.open(key, seekable=needs_random_access(fmt)) as stream:
            return list(read_batches(stream, fmt, columns))

    local, remote = LocalLandingZone(root=str(tmp_path)), zone(s3_server, s3_bucket)
    assert landed_header(remote, key, fmt) == landed_header(local, key, fmt)
    from_s3, from_disk = batches(remote), batches(local)
    assert len(from_s3) > 1  # several batches: the file really streamed
    assert [b.num_rows for b in from_s3] == [b.num_rows for b in from_disk]
    assert pa.Table.from_batches(from_s3).equals(pa.Table.from_batches(from_disk))
    assert from_disk == list(read_batches(tmp_path / key, fmt, columns))


ORDERS = load_spec(SPEC_DIR / "orders.yaml")
TS = "2026-11-01T10:00:00+05:30"


def _orders_files() -> dict[str, bytes]:
    header = ",".join(ORDERS.column_names)
    row = f"ORD-{{:08d}},1,CUST-000001,PRD-00001,2,10.00,placed,web,{TS},{TS}"
    return {
        "orders/2026-11-01/a.csv": "\n".join(
            [header, *(row.format(i) for i in range(50))]
        ).encode(),
        "orders/2026-11-01/b.csv": "\n".join(
            [header + ",coupon_code", row.format(99) + ",DIWALI10", "broken,row"]
        ).encode(),
        "orders/2026-11-02/c.csv": "\n".join([header, row.format(7)]).encode(),
    }


def _raw_rows(
    tmp_path, name: str, landing: LandingZone, lake: DeltaLakeIOManager, table_path: str
) -> list[dict]:
    resources = {
        "landing": landing,
        "warehouse": DuckDBWarehouse(path=str(tmp_path / f"{name}.duckdb")),
        "lake_io_manager": lake,
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [build_raw_asset(ORDERS)],
            partition_key="2026-11-01",
            resources=resources,
            instance=instance,
        )
    assert result.success
    table = DeltaTable(table_path, storage_options=lake.storage_options()).to_pyarrow_table()
    rows = table.drop_columns(["_ingested_at"]).to_pylist()
    return sorted(rows, key=lambda r: (r["_source_file"], r["_source_line"]))


def test_the_raw_asset_loads_the_same_rows_from_s3_as_from_a_folder(s3_server, s3_bucket, tmp_path):
    files = _orders_files()
    for key, body in files.items():
        (tmp_path / "landing" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "landing" / key).write_bytes(body)
    put(s3_server, s3_bucket, {f"landing/{k}": v for k, v in files.items()})

    from_folder = _raw_rows(
        tmp_path,
        "local",
        LocalLandingZone(root=str(tmp_path / "landing")),
        DeltaLakeIOManager(root=str(tmp_path / "lake_local")),
        str(tmp_path / "lake_local" / "raw" / "orders"),
    )
    from_s3 = _raw_rows(
        tmp_path,
        "s3",
        zone(s3_server, s3_bucket, prefix="landing"),
        DeltaLakeIOManager(root=str(tmp_path / "lake_s3")),
        str(tmp_path / "lake_s3" / "raw" / "orders"),
    )
    from_s3_to_s3 = _raw_rows(
        tmp_path,
        "s3_lake",
        zone(s3_server, s3_bucket, prefix="landing"),
        DeltaLakeIOManager(
            root=f"s3://{s3_bucket}/lake", endpoint_url=s3_server, region="us-east-1", **CREDENTIALS
        ),
        f"s3://{s3_bucket}/lake/raw/orders",
    )
    assert len(from_folder) == 52  # 50 + 1 + the broken row; 2026-11-02 was not asked for
    assert {r["_source_file"] for r in from_folder} == {
        "orders/2026-11-01/a.csv",
        "orders/2026-11-01/b.csv",
    }
    assert from_s3 == from_folder
    assert from_s3_to_s3 == from_folder
