"""Freed memory goes back to the operating system between a run's steps."""

import os

import pyarrow as pa
import pyarrow.compute as pc

from etl_platform.bench.measure import process_memory_kib
from etl_platform.memory import return_freed_memory


def _rss_mb() -> float:
    rss_kib, _ = process_memory_kib(os.getpid())
    assert rss_kib > 0, "no VmRSS in /proc/self/status"
    return rss_kib / 1024


def test_memory_an_earlier_step_freed_leaves_the_process() -> None:
    return_freed_memory()
    before, allocated = _rss_mb(), pa.total_allocated_bytes()  # earlier tests may hold some
    # ~400 MB in many medium buffers, as a step's record batches are: the pool keeps them freed.
    tables = [
        pa.table({"n": pc.add(pa.array(range(100_000)), i), "s": pa.array([str(i)] * 100_000)})
        for i in range(300)
    ]
    assert _rss_mb() - before > 300
    del tables
    assert pa.total_allocated_bytes() - allocated < 2**20
    held = _rss_mb()

    return_freed_memory()

    assert held - _rss_mb() > 300, "the freed pages stayed with the process"
    assert _rss_mb() - before < 100
