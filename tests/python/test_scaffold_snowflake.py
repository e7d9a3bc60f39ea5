"""scripts/scaffold_cdc.py for a snowflake target, in the Snowflake emulator (fakesnow):
each test runs the scaffold in a subprocess over the emulator harness (fakesnow patches
the Snowflake connector, which must not leak here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scaffold_project import (  # noqa: F401  (_no_landing_overrides: an autouse fixture)
    BASE,
    PROPERTIES,
    SOURCES,
    _no_landing_overrides,
    make_project,
    source_table,
)


SNOWFLAKE_RUN = r"""
import json, sys
from pathlib import Path

from magento_warehouse.devtools.emulator import emulated_snowflake
from magento_warehouse.devtools.emulator import landing as emulator
from magento_warehouse.scaffold import scaffold_cdc

project, work = (Path(p) for p in sys.argv[1:3])
landing = f"{emulator.LANDING_DATABASE}.{emulator.LANDING_SCHEMA}"
streamkap = "_streamkap_source_ts_ms bigint, _streamkap_ts_ms bigint, _streamkap_offset bigint, __deleted varchar"
with emulated_snowflake(work, project, landing=False) as snowflake:
    cursor = snowflake.cursor
    cursor.execute(f"create table {landing}.CUSTOMER_GROUP (CUSTOMER_GROUP_ID integer, "
                   f"CUSTOMER_GROUP_CODE varchar, {streamkap})")
    cursor.execute(f"create table {landing}.acme_order (entity_id integer, status varchar, "
                   f"grand_total decimal(20,4), created_at timestamp_ntz, {streamkap})")
    passthrough = ["--profiles-dir", str(work / "profiles"), "--target", emulator.TARGET,
                   "--vars", json.dumps({"magento_landing_database": emulator.LANDING_DATABASE,
                                         "magento_landing_schema": emulator.LANDING_SCHEMA})]
    read = scaffold_cdc.read_landing(project, passthrough)
    (work / "landing.json").write_text(json.dumps(
        {"database": read.database, "schema": read.schema,
         "tables": {name: table.columns for name, table in read.tables.items()}}))
    code = scaffold_cdc.main([*passthrough, "--project-dir", str(project), "--pk", "acme_order=entity_id"])
sys.exit(code)
"""


LETTER_CASE_RUN = r"""
import contextlib, io, json, sys
from pathlib import Path

from magento_warehouse.devtools.emulator import emulated_snowflake
from magento_warehouse.devtools.emulator import landing as emulator
from magento_warehouse.scaffold import scaffold_cdc

project, work = (Path(p) for p in sys.argv[1:3])
landing = f"{emulator.LANDING_DATABASE}.{emulator.LANDING_SCHEMA}"
quoted = '"_streamkap_source_ts_ms" bigint, "_streamkap_ts_ms" bigint, "_streamkap_offset" bigint, "__deleted" varchar'
runs = {}
with emulated_snowflake(work, project, landing=False) as snowflake:
    cursor = snowflake.cursor
    cursor.execute(f'create table {landing}.CUSTOMER_GROUP ("customer_group_id" integer, '
                   f'"customer_group_code" varchar, {quoted})')

    def run(name, quoted_columns, *options):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = scaffold_cdc.main([
                "--profiles-dir", str(work / "profiles"), "--target", emulator.TARGET, "--project-dir", str(project),
                "--vars", json.dumps({"magento_landing_database": emulator.LANDING_DATABASE,
                                      "magento_landing_schema": emulator.LANDING_SCHEMA,
                                      "magento_landing_quoted_columns": quoted_columns}), *options])
        runs[name] = {"code": code, "out": out.getvalue()}

    run("quoted_columns_var_false", False)
    run("quoted_columns_var_true", True)
    cursor.execute(f"create table {landing}.SALES_ORDER (ENTITY_ID integer, STATUS varchar, "
                   "_STREAMKAP_SOURCE_TS_MS bigint, _STREAMKAP_TS_MS bigint, _STREAMKAP_OFFSET bigint, __DELETED varchar)")
    run("mixed_shapes_var_true", True, "--check")
(work / "runs.json").write_text(json.dumps(runs))
"""


def run_in_emulator(script: str, tmp_path: Path) -> tuple[Path, Path]:
    """Runs `script` (the scaffold against a fresh project) in a subprocess under fakesnow,
    which patches the Snowflake connector process-wide. Returns (project, work dir)."""
    project = make_project(tmp_path / "project", full=False)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "MAGENTO_LANDING_", "SNOWFLAKE_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    process = subprocess.run(
        [sys.executable, "-c", script, str(project), str(work)],
        cwd=work, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert process.returncode == 0, f"{process.stdout[-4000:]}\n{process.stderr[-4000:]}"
    return project, work


def test_snowflake_landing_letter_case_must_match_the_var(tmp_path: Path) -> None:
    """On Snowflake a name resolves by its case: the scaffold refuses a var that contradicts the columns."""
    project, work = run_in_emulator(LETTER_CASE_RUN, tmp_path)
    runs = json.loads((work / "runs.json").read_text())
    wrong = runs["quoted_columns_var_false"]
    assert wrong["code"] == 3, wrong["out"]
    assert 'customer_group."customer_group_id"' in wrong["out"]
    assert "Set var magento_landing_quoted_columns: true" in wrong["out"]
    right = runs["quoted_columns_var_true"]
    assert right["code"] == 0, right["out"]
    assert source_table(project, "customer_group")["columns"][0]["name"] == "customer_group_id"
    mixed = runs["mixed_shapes_var_true"]
    assert mixed["code"] == 3, mixed["out"]
    assert "var magento_landing_quoted_columns is true" in mixed["out"]
    assert 'sales_order."ENTITY_ID"' in mixed["out"] and "customer_group" not in mixed["out"].split("another case")[1]


def test_snowflake_target_in_the_emulator(tmp_path: Path) -> None:
    project, work = run_in_emulator(SNOWFLAKE_RUN, tmp_path)
    landing = json.loads((work / "landing.json").read_text())
    assert landing["tables"] == {
        "customer_group": {
            "customer_group_id": "number(38,0)", "customer_group_code": "text",
            "_streamkap_source_ts_ms": "number(38,0)", "_streamkap_ts_ms": "number(38,0)",
            "_streamkap_offset": "number(38,0)", "__deleted": "text",
        },
        "acme_order": {
            "entity_id": "number(38,0)", "status": "text", "grand_total": "number(20,4)",
            "created_at": "timestamp_ntz", "_streamkap_source_ts_ms": "number(38,0)",
            "_streamkap_ts_ms": "number(38,0)", "_streamkap_offset": "number(38,0)", "__deleted": "text",
        },
    }  # fmt: skip
    # Written in lower case, as the project spells Magento's names.
    assert (project / BASE / "base_magento__customer_group.sql").read_text() == (
        "{{ streamkap_cdc.cdc_current_state('magento', 'customer_group', unique_key='customer_group_id') }}\n"
    )
    assert (project / BASE / "base_magento__acme_order.sql").exists()
    order = source_table(project, "acme_order")
    assert [(c["name"], c["data_type"]) for c in order["columns"]][:4] == [
        ("entity_id", "number(38,0)"), ("status", "text"), ("grand_total", "number(20,4)"),
        ("created_at", "timestamp_ntz"),
    ]  # fmt: skip
    for text in (project / SOURCES, project / PROPERTIES):
        assert "CUSTOMER" not in text.read_text() and "ENTITY" not in text.read_text()
