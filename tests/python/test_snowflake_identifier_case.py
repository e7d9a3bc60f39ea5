"""Landing columns in either case Streamkap writes them: UPPERCASE unquoted (its default on
Snowflake) or "quoted lowercase".

For each shape, snowflake/run_dbt_on_fakesnow.py creates the landing tables in the
emulator, builds two current-state models (create table as), merges a second batch,
runs the nightly repair of a late event, applies a re-snapshot, runs the models' and
sources' data tests (the audit included) and source freshness.

The emulator (DuckDB) resolves names in any letter case, so running proves little about
case: every statement dbt sent is also resolved against the emulator's catalog by
Snowflake's rules (magento_warehouse.devtools.identifiers): an unquoted name resolves
upper-case, a quoted one as written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from magento_warehouse.devtools import identifiers

from test_snowflake_sql import HELPER, REPO, helper_env, read_statements

TABLES = ("customer_group", "sales_order")
SHAPES = ("upper", "quoted-lower")
PHASES = ("run_1", "run_2", "repair", "resnapshot_run", "audit", "freshness")
EXPECTED_ROWS = {
    "run_1": {1: "k1 v1", 2: "k2 v1", 6: "k6 v2"},
    "run_2": {1: "k1 v2", 4: "k4 v1", 6: "k6 v2"},
    "repair": {1: "k1 v3 repaired", 4: "k4 v1", 6: "k6 v2"},  # a late event outside the window
    "resnapshot": {4: "k4 v1", 6: "k6 v2"},  # key 1 absent from the re-snapshot
}


@pytest.fixture(scope="module", params=SHAPES)
def shape(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp(f"case_{request.param}")
    process = subprocess.run(
        [sys.executable, str(HELPER), "--project-dir", str(REPO), "--work-dir", str(work),
         "--models", ",".join(TABLES), "--column-case", request.param, "--repairs"],
        cwd=work, env=helper_env(), capture_output=True, text=True, timeout=600,
    )
    if process.returncode != 0 or not (work / "summary.json").exists():
        pytest.fail(f"the fakesnow helper failed:\n{process.stdout[-4000:]}\n{process.stderr[-4000:]}")
    summary = json.loads((work / "summary.json").read_text())
    statements = [s for phase in summary["phases"] for s in read_statements(work / "logs" / phase / "dbt.log", phase)]
    return {"name": request.param, "work": work, "summary": summary, "statements": statements}


def test_landing_columns_are_stored_in_the_shape(shape: dict[str, Any]) -> None:
    stored = {c for _, s, t, c in shape["summary"]["catalog"] if s == "STREAMKAP" and t == "SALES_ORDER"}
    wanted = "_streamkap_ts_ms" if shape["name"] == "quoted-lower" else "_STREAMKAP_TS_MS"
    assert wanted in stored and "entity_id".upper() in {c.upper() for c in stored}


def test_every_phase_runs(shape: dict[str, Any]) -> None:
    for phase in (*PHASES, *(f"resnapshot_{t}" for t in TABLES)):
        outcome = shape["summary"]["phases"][phase]
        assert outcome["exception"] is None, (phase, outcome["exception"])
        # Freshness is stale (the events are from 2023): only errors of other kinds fail.
        failed = [(r["unique_id"], r["message"]) for r in outcome["results"]
                  if r["status"] not in ("success", "pass", "warn") and phase != "freshness"]
        assert failed == [], (phase, failed)
    audited = [r for r in shape["summary"]["phases"]["audit"]["results"] if "cdc_matches_change_log" in r["unique_id"]]
    assert len(audited) == len(TABLES) and all(r["status"] == "pass" for r in audited)


@pytest.mark.parametrize("phase", EXPECTED_ROWS)
def test_current_state_rows(shape: dict[str, Any], phase: str) -> None:
    for table in TABLES:
        state = shape["summary"]["tables"][phase][table]
        assert "error" not in state, state
        assert {row[state["key"]]: row[state["label"]] for row in state["rows"]} == EXPECTED_ROWS[phase], table


def test_current_state_columns_take_the_unquoted_spelling(shape: dict[str, Any]) -> None:
    """Upper-case on Snowflake whatever the landing shape, so staging's bare names resolve."""
    stored = [c for _, s, t, c in shape["summary"]["catalog"] if s.startswith("DBT") and t == "SALES_ORDER"]
    assert stored and all(c == c.upper() for c in stored), stored


def test_freshness_reads_the_newest_ingestion_time(shape: dict[str, Any]) -> None:
    results = json.loads((shape["work"] / "target" / "sources.json").read_text())["results"]
    order = next(r for r in results if r["unique_id"].endswith("magento.sales_order"))
    newest = datetime.fromisoformat(order["max_loaded_at"])
    assert newest > datetime.fromtimestamp(1_700_000_000, timezone.utc)


def test_every_statement_resolves_under_snowflake_case_rules(shape: dict[str, Any]) -> None:
    catalog = identifiers.catalog_from_rows(shape["summary"]["catalog"])
    problems, checked = [], 0
    kinds = set()
    for statement in shape["statements"]:
        found, was_checked = identifiers.unresolved(statement.sql, catalog)
        checked += was_checked
        if was_checked:
            kinds.add(statement.sql.lstrip().split()[0].lower())
        if found:
            problems.append(f"{statement}\n-> {found}")
    assert problems == [], "\n\n".join(problems)
    # The engine's statements were checked, not skipped: its merges, rebuilds, deletes and queries.
    assert checked > 20 and {"merge", "create", "delete", "select", "with"} <= kinds, (checked, kinds)
    # The sources' key tests among them: quoted in the quoted lowercase shape (quoting: column:).
    key_tests = [s for s in shape["statements"] if "source_not_null_magento_sales_order" in (s.node_id or "")]
    assert key_tests and all(('"entity_id"' in s.sql) == (shape["name"] == "quoted-lower") for s in key_tests)


def test_the_resolver_catches_a_bare_streamkap_column_on_quoted_lowercase_columns() -> None:
    catalog = identifiers.catalog_from_rows([
        ("ANALYTICS", "STREAMKAP", "SALES_ORDER", "entity_id"),
        ("ANALYTICS", "STREAMKAP", "SALES_ORDER", "_streamkap_ts_ms"),
        ("ANALYTICS", "DBT", "SALES_ORDER", "ENTITY_ID"),
    ])
    bad, checked = identifiers.unresolved(
        'select max(_streamkap_ts_ms) from ANALYTICS.STREAMKAP.sales_order', catalog)
    assert checked and bad
    good, _ = identifiers.unresolved('select max("_streamkap_ts_ms") from ANALYTICS.STREAMKAP.sales_order', catalog)
    assert good == []
    merge = ('merge into ANALYTICS.DBT.sales_order as t using (select "entity_id" as "ENTITY_ID" '
             'from ANALYTICS.STREAMKAP.sales_order) as s on t."entity_id" = s."ENTITY_ID" '
             'when not matched then insert ("ENTITY_ID") values (s."ENTITY_ID")')
    assert identifiers.unresolved(merge, catalog)[0]  # the target has no lowercase column


def test_the_commands_after_the_repairs_vars_do_not_parse_again(shape: dict[str, Any]) -> None:
    """The harness keeps a partial-parse state per set of vars: the repair's own vars do
    not cost the next command a full parse."""
    log = shape["work"] / "logs" / "resnapshot_run" / "dbt.log"
    events = {json.loads(line)["info"]["name"] for line in log.read_text().splitlines() if line.strip()}
    assert "PartialParsingSkipParsing" in events and "UnableToPartialParse" not in events
