"""The dbt CLI resource: dbt's version read, no adapter opened, the run's window, parse kept."""

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
from packaging.version import Version

PARTIAL_PARSE = "partial_parse.msgpack"
_VERSION_QUERY = "from importlib.metadata import version; print(version('dbt-core'))"


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block: dagster-dbt hands dbt a copy of it at launch."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class InstalledDbtCliResource(DbtCliResource):
    """dagster-dbt's `DbtCliResource` for the dbt installed beside this interpreter.

    Before every invocation dagster-dbt runs `dbt --version` to tell dbt Core from dbt Fusion:
    2.3 s measured here, nearly all of it importing dbt in a fresh process, and `--version` also
    asks PyPI for newer releases (a 1 s timeout per package on an offline machine). dbt lives in
    an environment of its own (`DBT_EXECUTABLE`), so its interpreter, beside the executable,
    reads the installed dbt-core's version instead, without importing dbt.
    """

    @cached_property
    def _cli_version(self) -> Version:
        executable = Path(shutil.which(self.dbt_executable) or self.dbt_executable)
        python = executable.with_name("python")
        if not python.exists():
            raise FileNotFoundError(
                f"{python}: dbt's interpreter, expected beside {executable} (a virtualenv's bin/)"
            )
        printed = subprocess.run(
            [str(python), "-c", _VERSION_QUERY], capture_output=True, text=True, check=True
        ).stdout
        return Version(printed.strip())

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        """None: the run's process opens no dbt adapter of its own.

        dagster-dbt opens one before every invocation (loading the project, the profile and
        dbt-duckdb: 1.2 s before dbt starts, measured in a curated step) only to fetch row counts
        and column schemas after the build when asked (`fetch_row_counts`,
        `fetch_column_metadata`). The platform asks for neither: its no-leak check and the
        quality report read the warehouse themselves.
        """
        return None

    def cli_in_env(
        self, args: Sequence[str], env: Mapping[str, str], **kwargs: Any
    ) -> DbtCliInvocation:
        """`cli`, with `env` added to the dbt process's environment.

        Values that change every run (the partition window) go to dbt this way rather than as
        `--vars`: dbt re-parses the whole project whenever its vars change (3.2 s a run here),
        while an environment variable read only when models run leaves its parse state valid.
        Steps run one at a time in a run's process (the in-process executor), so setting the
        process environment for the launch is not seen by another step.
        """
        with _environment(env):
            return self.cli(args, **kwargs)

    def finish(self, invocation: DbtCliInvocation) -> None:
        """After a successful invocation: keep its parse state for the next, remove its folder.

        dagster-dbt gives each invocation a target folder of its own (its artifacts and dbt.log,
        ~7 MB for this project) and never removes it, so a sensor-driven platform piled one up
        per run. A failed invocation raises before this, and its folder stays to be looked into.
        """
        kept = self._keep_parse_state(invocation)
        produced = Path(invocation.target_path)
        if produced.resolve() != kept.parent.resolve():
            shutil.rmtree(produced, ignore_errors=True)

    def _keep_parse_state(self, invocation: DbtCliInvocation) -> Path:
        """Make this invocation's parse state the one the next invocation starts from; its path.

        dagster-dbt gives each invocation its own target folder, seeded with the project's
        `target/partial_parse.msgpack`; dbt writes its new state there, where no later run looks.
        The project's copy comes from `make manifest`, whose profile (the warehouse path, from
        ETL_DATA_DIR) differs from the runs', so without this every run parsed from scratch.
        dbt checks the state against the project's files before using it, so a stale copy
        costs a parse, never a wrong build. Replaced atomically: runs may finish together.
        """
        # Where dagster-dbt seeds invocations from: DBT_TARGET_PATH, else the project's target/.
        kept = Path(self.project_dir) / os.environ.get("DBT_TARGET_PATH", "target") / PARTIAL_PARSE
        produced = Path(invocation.target_path) / PARTIAL_PARSE
        if not produced.exists():
            return kept
        kept.parent.mkdir(parents=True, exist_ok=True)
        staging = kept.with_name(f".{PARTIAL_PARSE}.{os.getpid()}")
        shutil.copyfile(produced, staging)
        os.replace(staging, kept)
        return kept
