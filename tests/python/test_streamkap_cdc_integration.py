"""The streamkap_cdc package's integration project (packages/streamkap_cdc/integration_tests):
two batches of change-log events landed one after the other, a re-snapshot applied by
its operation, and every model compared with its expected state by an equality test,
following the project's steps.yml: on DuckDB in this process, and for a snowflake
target in the emulator (a subprocess, since fakesnow patches the connector process-wide)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbt.cli.main import dbtRunner, dbtRunnerResult

from conftest import REPO

PACKAGE = REPO / "packages" / "streamkap_cdc"
STEPS = yaml.safe_load((PACKAGE / "integration_tests" / "steps.yml").read_text())["steps"]
EMULATED = Path(__file__).resolve().parent / "snowflake" / "run_integration_on_fakesnow.py"


def step_argv(step: dict[str, Any]) -> list[str]:
    return [*step["args"], *(["--vars", json.dumps(step["vars"])] if step.get("vars") else [])]


def run_integration_project(root: Path) -> dbtRunnerResult:
    """Runs the steps in a copy of the integration project under `root`; the last step's result."""
    project = root / "integration_tests"
    shutil.copytree(PACKAGE / "integration_tests", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*"))
    # The copy's `local: ../` would point at `root`: point it at the package itself.
    (project / "packages.yml").write_text(f"packages:\n  - local: {PACKAGE}\n")
    common = ["--project-dir", str(project), "--profiles-dir", str(project)]
    result = None
    for step in STEPS:
        result = dbtRunner().invoke([*step_argv(step), *common])
        assert result.success or step["args"][0] == "build", (step, result.exception, result.result)
    assert result is not None
    return result


@pytest.fixture
def duckdb_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "integration.duckdb"
    monkeypatch.setenv("STREAMKAP_CDC_IT_DUCKDB", str(path))
    return path


def test_every_equality_test_of_the_integration_project_passes(tmp_path: Path, duckdb_path: Path) -> None:
    result = run_integration_project(tmp_path)
    tests = [r for r in result.result if r.node.resource_type == "test"]
    failed = [(r.node.name, str(r.status), r.failures) for r in tests if str(r.status) != "pass"]
    assert failed == []
    equality = [r for r in tests if r.node.name.startswith("equals_expected")]
    assert len(equality) >= 4 and result.success


def test_the_integration_project_passes_for_a_snowflake_target_in_the_emulator(tmp_path: Path) -> None:
    process = subprocess.run([sys.executable, str(EMULATED), "--package-dir", str(PACKAGE), "--work-dir",
                              str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    phases = summary["phases"]
    assert len(phases) == len([s for s in STEPS if s["args"] != ["deps"]])
    assert [p for p, outcome in phases.items() if not outcome["success"]] == [], {
        p: (o["exception"], [r for r in o["results"] if r["status"] not in ("pass", "success")])
        for p, o in phases.items() if not o["success"]}
    built = next(o for p, o in phases.items() if p.endswith("_build"))
    equality = [r for r in built["results"] if ".equals_expected" in r["unique_id"]]
    assert len(equality) >= 4 and all(r["status"] == "pass" for r in equality), equality
    # The second run applied the second batch with each incremental model's MERGE into its table.
    last_run = max(number for number, step in enumerate(STEPS, start=1) if step["args"][0] == "run")
    merged = set()
    for line in (tmp_path / "logs" / f"{last_run:02d}_run" / "dbt.log").read_text().splitlines():
        event = json.loads(line)
        sql = event["data"].get("sql", "").lower() if event["info"]["name"] == "SQLQuery" else ""
        if "merge into" in sql and "cdc_watermarks" not in sql.split("merge into", 1)[1][:80]:
            merged.add(event["data"]["node_info"]["unique_id"].rsplit(".", 1)[1])
    assert merged == {"items_current", "accounts_current", "items_history"}
