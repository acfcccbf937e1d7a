"""Wall time and peak memory of a command and every process it starts, the same for all engines.

Peak RSS is sampled from /proc (no psutil): every 0.2 s, the resident sets of the process and all
its descendants (Dagster's step processes, dbt) are summed, and the largest sum is kept. A sum
counts pages shared between processes once per process, and a peak shorter than the interval can be
missed; so the largest per-process high-water mark (VmHWM, which the kernel keeps between samples)
is kept beside it. The samples are kept with their time, so that one command (a Dagster run of
several layers) can be cut into windows, each with its own wall time and peak. Not `wait4`'s
ru_maxrss: Linux carries the parent's peak into a child across fork and exec, so every child of this
(large) process would report at least its size.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.2
_PROC = Path("/proc")


class CommandFailedError(RuntimeError):
    """A measured command exited non-zero; the message carries the end of its log."""


@dataclass(frozen=True)
class Measurement:
    """One command's cost."""

    wall_s: float
    peak_rss_mb: float  # largest sampled sum over the process tree
    peak_single_rss_mb: float  # the largest single process's high-water mark (VmHWM)


@dataclass(frozen=True)
class Sample:
    """The process tree's memory at one moment."""

    at: float  # epoch seconds, the clock Dagster's event log uses
    tree_kib: int  # summed VmRSS
    largest_kib: int  # the largest single process's VmRSS


@dataclass(frozen=True)
class Timeline:
    """A measured command from start to end (epoch seconds) with its memory samples."""

    started: float
    ended: float
    samples: tuple[Sample, ...]

    def window(self, start: float, end: float) -> Measurement:
        """The cost of a part of the command: its seconds, and the peaks sampled within them.

        Within a window the single-process figure is the largest sampled VmRSS, not VmHWM: a
        high-water mark cannot tell which window it was reached in.
        """
        inside = [s for s in self.samples if start <= s.at <= end]
        return Measurement(
            end - start,
            max((s.tree_kib for s in inside), default=0) / 1024,
            max((s.largest_kib for s in inside), default=0) / 1024,
        )


def _parents() -> dict[int, int]:
    """The parent of every live process, by process id."""
    parents: dict[int, int] = {}
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (_PROC / entry.name / "stat").read_text()
        except OSError:  # gone since the listing
            continue
        # The command name may hold spaces and parentheses; the fields after its last `)` do not.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> set[int]:
    """The process and all its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, []))
    return tree


def process_memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process; zeros when it is gone or a zombie (no such lines)."""
    rss = hwm = 0
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def tree_memory_kib(root: int) -> tuple[int, int, int]:
    """A process and its descendants now: their summed VmRSS, largest VmRSS and largest VmHWM."""
    total = largest = highest = 0
    for pid in process_tree(root):
        rss, hwm = process_memory_kib(pid)
        total += rss
        largest = max(largest, rss)
        highest = max(highest, hwm)
    return total, largest, highest


class _PeakSampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.samples: list[Sample] = []
        self.single_kib = 0
        self._finished = threading.Event()

    def run(self) -> None:
        while True:
            at = time.time()
            total, largest, highest = tree_memory_kib(self.root)
            self.samples.append(Sample(at, total, largest))
            self.single_kib = max(self.single_kib, highest)
            if self._finished.wait(SAMPLE_SECONDS):
                return

    def stop(self) -> None:
        self._finished.set()
        self.join()


def run_sampled(
    command: Sequence[str], env: dict[str, str], log: Path, stdout: Path | None = None
) -> tuple[Measurement, Timeline]:
    """Run a command to its end, measuring it; its stderr (and stdout unless given) go to `log`.

    Raises:
        CommandFailedError: the command exited non-zero.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as log_file, stdout.open("wb") if stdout else nullcontext(log_file) as out:
        started, epoch = time.perf_counter(), time.time()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=log_file)
        sampler = _PeakSampler(process.pid)
        sampler.start()
        process.wait()
        wall, ended = time.perf_counter() - started, time.time()
        sampler.stop()
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise CommandFailedError(f"{' '.join(command)} exited {process.returncode}:\n{tail}")
    peak = max((s.tree_kib for s in sampler.samples), default=0)
    timeline = Timeline(epoch, ended, tuple(sampler.samples))
    return Measurement(wall, peak / 1024, sampler.single_kib / 1024), timeline


def run_measured(
    command: Sequence[str], env: dict[str, str], log: Path, stdout: Path | None = None
) -> Measurement:
    """`run_sampled` for a command measured as a whole."""
    return run_sampled(command, env, log, stdout)[0]
