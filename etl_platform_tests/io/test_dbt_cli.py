import os
import re
import shutil
import subprocess

from etl_platform.environment import DBT_EXECUTABLE, DBT_PROJECT_DIR, local_resources
from etl_platform.io.dbt_cli import InstalledDbtCliResource


def test_the_dbt_resource_knows_the_version_the_dbt_executable_reports(tmp_path):
    printed = subprocess.run(
        [DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True
    ).stdout
    installed = re.search(r"installed:\s+(\d+\.\d+\.\d+)", printed)
    assert installed is not None, printed
    resource = local_resources(tmp_path)["dbt"]
    assert str(resource._cli_version) == installed.group(1)


def test_an_invocation_opens_no_dbt_adapter_in_the_runs_process(tmp_path):
    dbt = local_resources(tmp_path)["dbt"]
    invocation = dbt.cli_in_env(["parse"], {"ETL_DATA_DIR": str(tmp_path)})
    invocation.wait()
    assert invocation.is_successful()
    assert invocation.adapter is None


def test_a_new_window_reuses_the_parse_state_the_previous_run_kept(tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    dbt = InstalledDbtCliResource(
        project_dir=str(project),
        profiles_dir=str(project),
        target="local",
        dbt_executable=DBT_EXECUTABLE,
    )
    env = {"ETL_DATA_DIR": str(tmp_path)}

    def parse(day: str) -> str:
        window = {**env, "ETL_MIN_DATE": day, "ETL_MAX_DATE": day}
        invocation = dbt.cli_in_env(["parse"], window)
        invocation.wait()
        log = (invocation.target_path / "dbt.log").read_text()
        dbt.finish(invocation)
        assert not invocation.target_path.exists()  # the run's own folder, removed
        return log

    first = parse("2026-11-01")
    assert "Unable to do partial parsing" in first  # nothing kept yet: a full parse
    second = parse("2026-11-02")
    assert "Unable to do partial parsing" not in second, second
    assert (project / "target" / "partial_parse.msgpack").exists()
    assert "ETL_MIN_DATE" not in os.environ  # the window went to dbt, not to this process
