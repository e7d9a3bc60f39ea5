"""Selectors select what each job needs, and the dbt Cloud jobs file is valid.

The manifest's own graph is the oracle: crm_realtime must be exactly the models
upstream of the Hightouch exposures, trading exactly those upstream of the trading
reports but the current-state models crm_realtime builds: each current-state table
has one few-minute writer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dbt.cli.main import dbtRunner

from conftest import REPO

JOBS = REPO / "dbt_cloud/jobs.yml"
JOBS_VARS = REPO / "dbt_cloud/vars_prod.yml"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    target = tmp_path_factory.mktemp("selectors") / "target"
    common = ["--project-dir", str(REPO), "--profiles-dir", str(REPO), "--target-path", str(target), "--quiet"]
    assert dbtRunner().invoke(["parse", *common]).success
    return json.loads((target / "manifest.json").read_text()), target


def selected_models(target: Path, selector: str) -> set[str]:
    result = dbtRunner().invoke(["ls", "--selector", selector, "--resource-type", "model", "--output", "json",
                                 "--output-keys", "unique_id", "--project-dir", str(REPO),
                                 "--profiles-dir", str(REPO), "--target-path", str(target), "--quiet"])
    assert result.success, result.exception
    return {json.loads(line)["unique_id"] for line in result.result}


def upstream_models(manifest: dict, start: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        for parent in manifest["parent_map"].get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return {node for node in seen if node.startswith("model.")}


def views(manifest: dict) -> set[str]:
    return {n for n, node in manifest["nodes"].items() if node["config"].get("materialized") == "view"}


def test_crm_realtime_is_exactly_what_the_hightouch_syncs_need(project: tuple[dict, Path]) -> None:
    manifest, target = project
    syncs = [e for e in manifest["exposures"].values() if e["meta"].get("hightouch", {}).get("sync_id")]
    assert syncs, "no Hightouch exposure in the project"
    needed = upstream_models(manifest, [e["unique_id"] for e in syncs])
    # Views are built by the deploy job: they change only with the project.
    assert selected_models(target, "crm_realtime") == needed - views(manifest)
    assert needed & views(manifest) <= selected_models(target, "deploy")
    for exposure in syncs:
        assert upstream_models(manifest, [exposure["unique_id"]]) <= needed


def current_state_models(manifest: dict) -> set[str]:
    return {n for n, node in manifest["nodes"].items()
            if node["resource_type"] == "model" and node["path"].startswith("staging/magento/base/")}


def test_trading_is_what_the_trading_reports_need_but_the_crm_jobs_current_state(
    project: tuple[dict, Path],
) -> None:
    manifest, target = project
    reports = [n for n, node in manifest["nodes"].items()
               if node["resource_type"] == "model" and node["path"].startswith("marts/trading/")]
    assert reports
    needed = set(reports) | upstream_models(manifest, reports)
    owned_by_crm = current_state_models(manifest) & selected_models(target, "crm_realtime")
    assert needed & owned_by_crm, "the trading reports read no table the CRM job owns: the rule is moot"
    assert selected_models(target, "trading") == needed - views(manifest) - owned_by_crm
    assert needed & views(manifest) <= selected_models(target, "deploy")


def test_each_current_state_model_has_one_few_minute_writer(project: tuple[dict, Path]) -> None:
    """No two few-minute jobs merge into one table; every table they read is written by one of them."""
    manifest, target = project
    jobs = yaml.safe_load(JOBS.read_text())["jobs"]
    few_minute = {step.split("--selector ")[1]: job for name, job in jobs.items()
                  if name not in ("nightly", "deploy") for step in job["execute_steps"]}
    current_state = current_state_models(manifest)
    writers: dict[str, list[str]] = {}
    read = set()
    for selector in few_minute:
        selected = selected_models(target, selector)
        for model in selected & current_state:
            writers.setdefault(model, []).append(selector)
        read |= upstream_models(manifest, list(selected)) & current_state
    assert {m: w for m, w in writers.items() if len(w) > 1} == {}
    assert read <= set(writers), sorted(read - set(writers))
    assert {w[0] for w in writers.values()} == {"crm_realtime", "trading"}
    # The CRM job owns tables the trading job reads, and runs at least as often.
    crm_owned = {m for m, w in writers.items() if w == ["crm_realtime"]}
    trading_reads = upstream_models(manifest, list(selected_models(target, "trading")))
    assert crm_owned & trading_reads
    assert few_minute["crm_realtime"]["schedule"]["cron"] == "*/5 * * * *"
    assert minutes_between_runs(few_minute["trading"]["schedule"]["cron"]) >= 5


def minutes_between_runs(cron: str) -> int:
    """The shortest gap between runs of an hourly cron whose minute field is a list or */n."""
    minute, hour, *_ = cron.split()
    assert hour == "*", cron
    if minute.startswith("*/"):
        return int(minute[2:])
    minutes = sorted(int(m) for m in minute.split(","))
    return min(b - a for a, b in zip(minutes, minutes[1:] + [minutes[0] + 60]))


def test_nightly_is_everything(project: tuple[dict, Path]) -> None:
    manifest, target = project
    every_model = {n for n, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    assert selected_models(target, "nightly") == every_model


def test_few_minute_selectors_leave_out_the_full_scan_reconciliation(project: tuple[dict, Path]) -> None:
    _, target = project
    for selector, wanted in (("crm_realtime", False), ("trading", False), ("nightly", True)):
        result = dbtRunner().invoke(["ls", "--selector", selector, "--resource-type", "test", "--project-dir",
                                     str(REPO), "--profiles-dir", str(REPO), "--target-path", str(target), "--quiet"])
        assert any("cdc_matches_change_log" in name for name in result.result) is wanted, selector


def selected_tests(manifest: dict, target: Path, selector: str) -> list[dict]:
    """The data and unit tests a selector runs, as manifest entries."""
    result = dbtRunner().invoke(["ls", "--selector", selector, "--resource-type", "test", "--resource-type",
                                 "unit_test", "--output", "json", "--output-keys", "unique_id", "--project-dir",
                                 str(REPO), "--profiles-dir", str(REPO), "--target-path", str(target), "--quiet"])
    assert result.success, result.exception
    nodes = {**manifest["nodes"], **manifest["unit_tests"]}
    return [nodes[json.loads(line)["unique_id"]] for line in result.result]


def test_few_minute_jobs_run_no_unit_test_and_no_test_that_grows_with_history(project: tuple[dict, Path]) -> None:
    manifest, target = project
    few_minute = {step.split("--selector ")[1] for name, job in yaml.safe_load(JOBS.read_text())["jobs"].items()
                  if name not in ("nightly", "deploy") for step in job["execute_steps"]}
    assert few_minute == {"crm_realtime", "trading"}
    for selector in few_minute:
        tests = selected_tests(manifest, target, selector)
        assert tests, f"{selector} runs no test at all"
        assert not [t for t in tests if t["resource_type"] == "unit_test"], selector
        for test in tests:
            # Only tests of the marts: change logs, current-state and staging tables
            # grow with history, and seeds are fixed inputs. The exception is the alarm
            # of each current-state model, which reads only the last window.
            if "cdc_alarm" in test["tags"]:
                assert test["test_metadata"]["name"] == "cdc_newest_events_applied", test["unique_id"]
                continue
            tested = [n for n in test["depends_on"]["nodes"] if not n.startswith("macro.")]
            assert tested and all(manifest["nodes"][n]["original_file_path"].startswith("models/marts/")
                                  for n in tested), (selector, test["unique_id"])
        # Every current-state model the job builds has its alarm.
        alarmed = {n for t in tests if "cdc_alarm" in t["tags"] for n in t["depends_on"]["nodes"]}
        built = {n for n in selected_models(target, selector)
                 if manifest["nodes"][n]["config"]["materialized"] == "cdc_current_state"}
        assert built and built <= alarmed, selector
    nightly = selected_tests(manifest, target, "nightly")
    assert any(t["resource_type"] == "unit_test" for t in nightly)
    assert any(t["original_file_path"].startswith("models/staging/") for t in nightly)


def validate_jobs(path: Path) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "dbt-jobs-as-code"
    return subprocess.run([str(cli), "validate", str(path), "--vars-yml", str(JOBS_VARS)],
                          capture_output=True, text=True, timeout=120)


def test_dbt_cloud_jobs_file_validates_offline_and_a_broken_one_does_not(tmp_path: Path) -> None:
    assert validate_jobs(JOBS).returncode == 0
    broken = yaml.safe_load(JOBS.read_text())
    del broken["jobs"]["crm_realtime"]["triggers"]
    (tmp_path / "jobs.yml").write_text(yaml.safe_dump(broken))
    assert validate_jobs(tmp_path / "jobs.yml").returncode != 0


def test_dbt_cloud_jobs_run_the_project_selectors_on_their_cadence() -> None:
    jobs = yaml.safe_load(JOBS.read_text())["jobs"]
    selectors = {s["name"] for s in yaml.safe_load((REPO / "selectors.yml").read_text())["selectors"]}
    crm = jobs["crm_realtime"]
    assert crm["schedule"]["cron"] == "*/5 * * * *"
    assert crm["execute_steps"] == ["dbt build --selector crm_realtime"]
    assert jobs["nightly"]["generate_docs"] is True
    # The incremental CRM marts are rebuilt from scratch after the nightly build (docs/crm.md).
    assert jobs["nightly"]["execute_steps"] == ["dbt build --selector nightly",
                                                "dbt build --selector crm_marts --full-refresh"]
    for job in jobs.values():
        for step in job["execute_steps"]:
            assert step.split("--selector ")[1].split()[0] in selectors
