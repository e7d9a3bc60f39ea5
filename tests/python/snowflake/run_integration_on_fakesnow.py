"""Runs the streamkap_cdc package's integration project for a Snowflake target against
fakesnow, over the emulator harness: each step of integration_tests/steps.yml, in a
copy of the project under the work folder. <work>/summary.json has each step's outcome.

Usage: run_integration_on_fakesnow.py --package-dir DIR --work-dir DIR
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml
from dbt.cli.main import dbtRunner

from magento_warehouse.devtools.emulator import emulated_snowflake
from magento_warehouse.devtools.emulator.landing import PROFILE


def copy_project(package: Path, work: Path) -> Path:
    """The integration project under `work`, its `local: ../` pointed at the package itself."""
    project = work / "integration_tests"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(package / "integration_tests", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*"))
    (project / "packages.yml").write_text(f"packages:\n  - local: {package}\n")
    return project


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package-dir", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path)
    args = parser.parse_args()
    package, work = args.package_dir.resolve(), args.work_dir.resolve()
    project = copy_project(package, work)
    steps = yaml.safe_load((project / "steps.yml").read_text())["steps"]
    # `dbt deps` takes none of the harness's options and needs no warehouse.
    if not dbtRunner().invoke(["deps", "--project-dir", str(project), "--quiet"]).success:
        return 1
    with emulated_snowflake(work, project, landing=False) as snowflake:
        for number, step in enumerate(steps, start=1):
            if step["args"][0] == "deps":
                continue
            snowflake.dbt(f"{number:02d}_{step['args'][0]}", *step["args"], "--profile", PROFILE,
                          extra_vars=step.get("vars"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
