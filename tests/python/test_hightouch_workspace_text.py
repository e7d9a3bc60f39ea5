"""Workspace text is data: sync and model names, slugs and destination names made
of Jinja, quotes, `#` and line breaks land in the exposures file as inert text.

The generator writes the file of a small project from the Hightouch stand-in; a
real `dbt parse` then reads it. The manifest must hold the literal text, and the
`drop table` in a name must not have run (the table is still there).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import yaml
from dbt.cli.main import dbtRunner

from hightouch_workspace_helpers import demo_workspace, run_cli

DROP = "{{ run_query('drop table main.x') }}"
MODEL_NAME = (f"{DROP} {{% do run_query('drop table main.x') %}} {{# hidden #}} it's \"quoted\" # no comment\n"
              "line two {{{ env_var('HOME') }}")
SLUG = "{{ run_query('drop table main.x') }}"
DESTINATION = "# {% raw %}Emarsys: {{ 1 + 1 }}"
COLUMN = "{{ var('x') }}"


def small_project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: inert\nversion: '1.0'\nprofile: inert\n")
    (root / "profiles.yml").write_text(yaml.safe_dump({"inert": {"target": "local", "outputs": {"local": {
        "type": "duckdb", "path": str(root / "inert.duckdb"), "schema": "main"}}}}))
    (root / "models" / "crm_contacts.sql").write_text("select 'a@example.com' as email, 'Ann' as first_name\n")
    (root / "models" / "_models.yml").write_text(
        "version: 2\nmodels:\n  - name: crm_contacts\n    columns:\n"
        "      - {name: email, config: {meta: {emarsys_field_id: 3}}}\n"
        "      - {name: first_name, config: {meta: {emarsys_field_id: 1}}}\n")
    with duckdb.connect(str(root / "inert.duckdb")) as con:
        con.execute("create table main.x as select 1 as kept")
    return root


def hostile_workspace() -> dict:
    workspace = demo_workspace()
    model = next(m for m in workspace["models"] if m["id"] == 201)
    model["name"] = MODEL_NAME
    sync = next(s for s in workspace["syncs"] if s["id"] == "101")
    sync["slug"] = SLUG
    sync["configuration"] = {"object": "contact", "mode": "upsert", "externalIdMapping": {"from": "email", "to": "3"},
                             "mappings": [{"from": "first_name", "to": "1"}, {"from": COLUMN, "to": DROP}]}
    workspace["destinations"][0]["name"] = DESTINATION
    # Only the hostile sync: the small project has none of the other marts.
    workspace["syncs"] = [sync]
    return workspace


def test_workspace_text_lands_as_literal_text_and_runs_nothing(capsys, tmp_path: Path) -> None:
    project = small_project(tmp_path / "project")
    run = run_cli(capsys, [], hostile_workspace(), project=project)
    assert run.code == 0, run.out + run.err
    written = project / "models" / "magento-retail-hightouch-sync-exposures.yml"
    assert yaml.safe_load(written.read_text())["exposures"][0]["name"] == "hightouch_run_query_drop_table_main_x"

    result = dbtRunner().invoke(["parse", "--project-dir", str(project), "--profiles-dir", str(project),
                                 "--target-path", str(tmp_path / "target"), "--quiet"])
    assert result.success, result.exception
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    (exposure,) = manifest["exposures"].values()
    hightouch = exposure["meta"]["hightouch"]
    sync_name = f"{MODEL_NAME} → {DESTINATION}"
    assert exposure["label"] == sync_name
    assert hightouch["sync_name"] == sync_name and hightouch["model"] == MODEL_NAME
    assert hightouch["sync_slug"] == SLUG and hightouch["destination_name"] == DESTINATION
    assert hightouch["field_mapping"] == {"email": 3, "first_name": 1, COLUMN: DROP}
    # The description's markdown keeps the text on one line, literally.
    assert " ".join(MODEL_NAME.split()) in exposure["description"]
    assert f"| `{COLUMN}` | {DROP} |" in exposure["description"]
    assert exposure["depends_on"]["nodes"] == ["model.inert.crm_contacts"]
    with duckdb.connect(str(project / "inert.duckdb"), read_only=True) as con:
        assert con.execute("select kept from main.x").fetchall() == [(1,)], "the drop table ran"
