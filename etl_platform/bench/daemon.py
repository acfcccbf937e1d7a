"""The real Dagster daemon as a child process group, for measurements that need sensors and a queue.

The daemon starts a code server and every run in processes of its own, so stopping only the
daemon's process would leave them running (and holding the DuckDB file): the whole process group
is stopped, on success and on error alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from etl_platform.environment import PROJECT_ROOT

STOP_GRACE_SECONDS = 20.0
POLL_SECONDS = 0.5


class DaemonError(RuntimeError):
    """The daemon exited or never became ready; the message carries the end of its log."""


def log_tail(log: Path, chars: int = 3000) -> str:
    """The end of a log file, for error messages."""
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL what is left after the grace period."""
    for sig, grace in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # The daemon is gone; its children may not be (a run still winding down).
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


@contextmanager
def running_daemon(
    env: dict[str, str],
    log: Path,
    ready: Callable[[], bool],
    timeout_s: float = 180.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """`dagster-daemon run` on the platform's definitions until the block ends.

    Args:
        env: The daemon's environment (`DAGSTER_HOME`, `ETL_DATA_DIR`, `ETL_ENV`).
        log: Where the daemon's output goes.
        ready: Polled until true (e.g. a sensor has ticked); the block starts then.
        timeout_s: How long the daemon may take to become ready.

    Raises:
        DaemonError: the daemon exited, or was not ready in time.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "dagster-daemon"),
        "run",
        "-m",
        "etl_platform.definitions",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
        try:
            deadline = time.monotonic() + timeout_s
            while not ready():
                if process.poll() is not None:
                    raise DaemonError(
                        f"dagster-daemon exited {process.returncode}:\n{log_tail(log)}"
                    )
                if time.monotonic() > deadline:
                    raise DaemonError(
                        f"dagster-daemon not ready after {timeout_s:.0f} s:\n{log_tail(log)}"
                    )
                time.sleep(POLL_SECONDS)
            yield process
        finally:
            _stop(process)
