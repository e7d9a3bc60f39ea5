"""The streamkap_cdc package's integration project (packages/streamkap_cdc/integration_tests),
run on DuckDB in a temporary copy: two batches of change-log events landed one after
the other, a re-snapshot applied by its operation, and every model compared with its
expected state by an equality test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from conftest import REPO

PACKAGE = REPO / "packages" / "streamkap_cdc"
LANDING = "path:models/landing"
# The second batch's re-snapshot began at 2026-01-01 02:00 UTC (seeds/_seeds.yml).
RESNAPSHOT = "{table: accounts, snapshot_started_at_ms: 1767232800000}"
STEPS = [
    ["deps"],
    ["seed"],
    # The first batch lands, and the first run builds every model from it.
    ["run", "--select", LANDING, "--vars", "{batch: 1}"],
    ["run", "--exclude", LANDING, "--vars", "{batch: 1}"],
    # The second batch lands, and the run applies only what is new.
    ["run", "--select", LANDING],
    ["run", "--exclude", LANDING],
    ["run-operation", "cdc_apply_resnapshot", "--args", RESNAPSHOT],
    ["build", "--exclude", LANDING],
]


def run_integration_project(root: Path) -> dbtRunnerResult:
    """Runs STEPS in a copy of the integration project under `root`; the last step's result."""
    project = root / "integration_tests"
    shutil.copytree(PACKAGE / "integration_tests", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*"))
    # The copy's `local: ../` would point at `root`: point it at the package itself.
    (project / "packages.yml").write_text(f"packages:\n  - local: {PACKAGE}\n")
    common = ["--project-dir", str(project), "--profiles-dir", str(project)]
    result = None
    for step in STEPS:
        result = dbtRunner().invoke([*step, *common])
        assert result.success or step[0] == "build", (step, result.exception, result.result)
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
