"""scripts/hightouch_exposures.py against the Hightouch stand-in serving the demo's
workspace (src/magento_warehouse/demo/hightouch_workspace.yml) in Hightouch's API
shapes, two objects a page: the committed exposures file is what it generates, and
--check passes on the demo and names each kind of drift."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import parse_project
from hightouch_workspace_helpers import GENERATED, REPO, demo_workspace, run_cli, sync

PROJECT = "magento_warehouse"


def test_regenerating_from_the_stand_in_reproduces_the_committed_file(capsys, tmp_path: Path) -> None:
    output = tmp_path / "exposures.yml"
    run = run_cli(capsys, ["--output", str(output)])
    assert run.code == 0, run.out + run.err
    assert output.read_bytes() == GENERATED.read_bytes(), "regenerate: python scripts/hightouch_exposures.py"
    # Every page of every list was read: 8 models, 7 syncs, 1 destination at 2 a page.
    assert sorted(run.stub.listed) == sorted(
        [("models", offset) for offset in (0, 2, 4, 6)] + [("syncs", offset) for offset in (0, 2, 4, 6)]
        + [("destinations", 0)])
    assert "7 exposure(s)" in run.out


def test_each_query_type_resolves_to_its_mart(manifest: dict) -> None:
    """One exposure per sync; a dbt model, a table and SQL (with a CTE) each resolve to the mart they read."""
    workspace = demo_workspace()
    models = {str(model["id"]): model for model in workspace["models"]}
    exposures = {e["meta"]["hightouch"]["sync_id"]: e for e in manifest["exposures"].values()}
    assert sorted(exposures) == sorted(str(item["id"]) for item in workspace["syncs"])
    expected = {"201": "crm_contacts", "202": "crm_contacts", "203": "crm_new_customers",
                "204": "crm_new_customers", "205": "crm_customer_order_summary", "206": "crm_abandoned_carts",
                "207": "crm_newsletter_subscribers"}
    for item in workspace["syncs"]:
        exposure = exposures[str(item["id"])]
        mart = expected[str(item["modelId"])]
        assert exposure["depends_on"]["nodes"] == [f"model.{PROJECT}.{mart}"], exposure["name"]
        assert exposure["meta"]["hightouch"]["model_query_type"] == {
            "raw_sql": "SQL", "table": "table", "dbt": "dbt model"}[models[str(item["modelId"])]["queryType"]]


def test_lineage_runs_from_the_change_logs_to_each_sync(manifest: dict) -> None:
    """Each exposure depends on its mart, whose ancestors reach the Streamkap change logs (sources)."""
    for exposure_id, exposure in manifest["exposures"].items():
        seen, todo = set(), list(manifest["parent_map"][exposure_id])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += manifest["parent_map"].get(node, [])
        assert {node for node in seen if node.startswith(f"source.{PROJECT}.magento.")}, exposure["name"]
        mart = exposure["depends_on"]["nodes"][0]
        assert exposure_id in manifest["child_map"][mart]


def test_check_is_clean_on_the_demo_workspace(capsys) -> None:
    run = run_cli(capsys, ["--check", "--orchestrator", "runner"])
    assert run.code == 0, run.out + run.err
    assert run.out.count("\n") == 1 and "7 sync(s) reading dbt models" in run.out


def dbt_cloud_schedules(job_id: str = "40001") -> Callable[[dict], None]:
    def apply(workspace: dict) -> None:
        for item in workspace["syncs"]:
            item["schedule"] = {"type": "dbt-cloud", "schedule": {"account": {"id": "10000"}, "job": {"id": job_id}}}
    return apply


def test_check_is_clean_when_the_crm_job_triggers_every_sync(capsys) -> None:
    workspace = demo_workspace()
    dbt_cloud_schedules()(workspace)
    run = run_cli(capsys, ["--check", "--orchestrator", "dbt-cloud", "--output", str(REPO / "no-such-file.yml")],
                  workspace)
    assert run.code == 0, run.out + run.err


def change(sync_id: str, **values: Any) -> Callable[[dict], None]:
    def apply(workspace: dict) -> None:
        sync(workspace, sync_id).update(copy.deepcopy(values))
    return apply


def remap(sync_id: str, column: str, target: str | None) -> Callable[[dict], None]:
    def apply(workspace: dict) -> None:
        mappings = sync(workspace, sync_id)["configuration"]["mappings"] = copy.deepcopy(
            sync(workspace, sync_id)["configuration"]["mappings"])
        mappings[:] = [m for m in mappings if m["from"] != column] + ([{"from": column, "to": target}] if target else [])
    return apply


def add_sync(workspace: dict) -> None:
    extra = copy.deepcopy(sync(workspace, "105"))
    extra.update(id="108", slug="emarsys-order-summary-copy")
    workspace["syncs"].append(extra)


def then(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def apply(workspace: dict) -> None:
        for step in changes:
            step(workspace)
    return apply


DRIFT = [
    ("runner", "a new sync without exposure", add_sync,
     "sync emarsys-order-summary-copy (sync 108): reads crm_customer_order_summary but no exposure has its sync_id"),
    ("runner", "a sync deleted", lambda w: w["syncs"].remove(sync(w, "107")),
     "exposure hightouch_emarsys_newsletter_subscribers: its sync 107 is gone from the workspace"),
    ("runner", "a sync disabled", change("106", disabled=True),
     "sync emarsys-abandoned-carts (sync 106): disabled in Hightouch, yet exposure "
     "hightouch_emarsys_abandoned_carts still syncs it"),
    ("runner", "another field id", remap("101", "first_name", "7"),
     "sync emarsys-contacts-website-1 (sync 101): field mapping differs from crm_contacts's column meta: "
     "first_name → 7 in the sync, 1 in crm_contacts"),
    ("runner", "a column not sent", remap("107", "opt_in", None),
     "sync emarsys-newsletter-subscribers (sync 107): field mapping differs from crm_newsletter_subscribers's "
     "column meta: opt_in → nothing in the sync, 31 in crm_newsletter_subscribers"),
    ("runner", "another sync key",
     change("105", configuration={"object": "contact", "mode": "upsert",
                                  "externalIdMapping": {"from": "lifetime_orders", "to": "3"},
                                  "mappings": [{"from": "email", "to": "900003"}]}),
     "sync emarsys-customer-order-summary (sync 105): its sync key is lifetime_orders, but "
     "crm_customer_order_summary's key column (emarsys_field_id 3) is email"),
    ("runner", "a scheduled sync the runner triggers",
     change("103", schedule={"type": "interval", "schedule": {"interval": {"quantity": 5, "unit": "minute"}}}),
     "sync emarsys-new-customers-website-1 (sync 103): schedule is interval, but the runner triggers it: "
     "it must be Manual"),
    ("dbt-cloud", "a Manual sync without the runner", then(dbt_cloud_schedules(), change("102", schedule=None)),
     "sync emarsys-contacts-website-2 (sync 102): schedule is manual, but it must run after dbt Cloud job "
     "crm_realtime"),
    ("dbt-cloud", "after the trading job",
     then(dbt_cloud_schedules(), change("104", schedule={"type": "dbt-cloud", "schedule": {
         "account": {"id": "10000"}, "job": {"id": "40002"}}})),
     "sync emarsys-new-customers-website-2 (sync 104): runs after dbt Cloud job trading (id 40002), but "
     "crm_realtime builds its upstream"),
    ("dbt-cloud", "after an unknown job", dbt_cloud_schedules("49999"),
     "sync emarsys-abandoned-carts (sync 106): runs after dbt Cloud job id 49999, which is not in the job ids file"),
]


@pytest.mark.parametrize(("orchestrator", "drift", "edit", "message"), DRIFT, ids=[case[1] for case in DRIFT])
def test_check_names_each_drift(capsys, orchestrator: str, drift: str, edit: Callable[[dict], None],
                                message: str) -> None:
    workspace = demo_workspace()
    edit(workspace)
    run = run_cli(capsys, ["--check", "--orchestrator", orchestrator], workspace)
    assert run.code == 1, run.out + run.err
    assert message in run.out, run.out


def test_check_flags_a_stale_file(capsys, tmp_path: Path) -> None:
    stale = tmp_path / "exposures.yml"
    stale.write_text(GENERATED.read_text().replace("Contacts, website 1 → Emarsys", "Contacts → Emarsys"))
    run = run_cli(capsys, ["--check", "--orchestrator", "runner", "--output", str(stale)])
    assert run.code == 1 and "is out of date with the workspace" in run.out, run.out


def test_a_sync_reading_no_dbt_model_gets_no_exposure(capsys, tmp_path: Path) -> None:
    workspace = demo_workspace()
    extra = copy.deepcopy(sync(workspace, "107"))
    extra.update(id="109", slug="emarsys-high-value", modelId="208")  # the visual model
    workspace["syncs"].append(extra)
    output = tmp_path / "exposures.yml"
    run = run_cli(capsys, ["--output", str(output)], workspace)
    assert run.code == 0 and output.read_bytes() == GENERATED.read_bytes()
    assert "no exposure for sync emarsys-high-value (sync 109): a visual model reads no dbt model" in run.out
    assert run_cli(capsys, ["--check", "--orchestrator", "runner"], workspace).code == 0


UNRESOLVED = [
    ({"queryType": "raw_sql", "raw": {"sql": "select * from (select"}}, "its SQL cannot be parsed"),
    ({"queryType": "raw_sql", "raw": {"sql": "select * from main.crm_contacts_old"}},
     "it reads main.crm_contacts_old, which no dbt model builds"),
    ({"queryType": "table", "table": {"name": "other_db.main.crm_contacts"}},
     "it reads other_db.main.crm_contacts, which no dbt model builds"),
    ({"queryType": "dbt", "dbt": {"dbtUniqueId": "model.magento_warehouse.crm_gone"}},
     "its dbt model model.magento_warehouse.crm_gone is not in the project"),
]


@pytest.mark.parametrize(("query", "note"), UNRESOLVED, ids=[note for _, note in UNRESOLVED])
def test_a_model_that_reads_no_dbt_model_is_reported(capsys, tmp_path: Path, query: dict, note: str) -> None:
    workspace = demo_workspace()
    model = next(m for m in workspace["models"] if m["id"] == 202)
    for key in ("raw", "table", "dbt"):
        model.pop(key, None)
    model.update(query)
    output = tmp_path / "exposures.yml"
    run = run_cli(capsys, ["--output", str(output)], workspace)
    assert run.code == 0 and f"no exposure for sync emarsys-contacts-website-2 (sync 102): {note}" in run.out, run.out
    assert "hightouch_emarsys_contacts_website_2" not in output.read_text()


def test_a_disabled_sync_gets_no_exposure(capsys, tmp_path: Path) -> None:
    workspace = demo_workspace()
    change("106", disabled=True)(workspace)
    output = tmp_path / "exposures.yml"
    run = run_cli(capsys, ["--output", str(output)], workspace)
    assert run.code == 0 and "no exposure for sync emarsys-abandoned-carts (sync 106): it is disabled" in run.out
    assert "hightouch_emarsys_abandoned_carts" not in output.read_text()
    assert output.read_text().count("- name: hightouch_") == 6


def test_two_syncs_making_one_name_is_an_error(capsys, tmp_path: Path) -> None:
    workspace = demo_workspace()
    change("102", slug="Emarsys contacts website 1!")(workspace)
    run = run_cli(capsys, ["--output", str(tmp_path / "x.yml")], workspace)
    assert run.code == 3 and not (tmp_path / "x.yml").exists()
    assert ("syncs emarsys-contacts-website-1 (sync 101) and Emarsys contacts website 1! (sync 102) both make "
            "the exposure name 'hightouch_emarsys_contacts_website_1'") in run.err


def test_an_unreachable_api_exits_6(capsys, monkeypatch) -> None:
    from magento_warehouse.hightouch_workspace import cli
    monkeypatch.setenv("HIGHTOUCH_API_URL", "http://127.0.0.1:9")  # discard port: connection refused
    monkeypatch.setenv("HIGHTOUCH_API_KEY", "k")
    assert cli.main(["--check", "--project-dir", str(REPO), "--profiles-dir", str(REPO)]) == 6
    assert "Hightouch API unreachable at 127.0.0.1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return parse_project(tmp_path_factory.mktemp("target"))


def test_a_missing_api_key_exits_3_before_any_call(capsys, monkeypatch) -> None:
    from magento_warehouse.hightouch_workspace import cli
    monkeypatch.delenv("HIGHTOUCH_API_KEY", raising=False)
    monkeypatch.setenv("HIGHTOUCH_API_URL", "http://127.0.0.1:9")
    assert cli.main(["--check", "--project-dir", str(REPO), "--profiles-dir", str(REPO)]) == 3
    assert "HIGHTOUCH_API_KEY is not set" in capsys.readouterr().err
