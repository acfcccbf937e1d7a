import re
import subprocess

from etl_platform.environment import DBT_EXECUTABLE, local_resources


def test_the_dbt_resource_knows_the_version_the_dbt_executable_reports(tmp_path):
    printed = subprocess.run(
        [DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True
    ).stdout
    installed = re.search(r"installed:\s+(\d+\.\d+\.\d+)", printed)
    assert installed is not None, printed
    resource = local_resources(tmp_path)["dbt"]
    assert str(resource._cli_version) == installed.group(1)
