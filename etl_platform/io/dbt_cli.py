"""The dbt CLI resource, told dbt's version instead of asking the executable on every run."""

from functools import cached_property
from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging.version import Version


class InstalledDbtCliResource(DbtCliResource):
    """dagster-dbt's `DbtCliResource` for the dbt installed beside this interpreter.

    Before every invocation dagster-dbt runs `dbt --version` to tell dbt Core from dbt Fusion:
    2.3 s measured here, nearly all of it importing dbt in a fresh process, and `--version` also
    asks PyPI for newer releases (a 1 s timeout per package on an offline machine). The platform
    runs the dbt of its own environment (`DBT_EXECUTABLE`), so the installed package says the same.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))
