"""The history engine's Snowflake SQL: every statement it sends parses as Snowflake SQL.

snowflake/run_history_on_fakesnow.py runs the history models for a snowflake target
against fakesnow (an emulator backed by DuckDB) in a subprocess: a first build, an
incremental run with a late event, a nightly repair, cdc_write_states_as_of, and a
compile of the history models and the reports that read them. This module parses each
statement dbt sent for them (the SQLQuery events of dbt's JSON logs) and each compiled
report with sqlglot's Snowflake dialect, and checks the emulator's history as a smoke
test of the semantics.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from test_snowflake_sql import helper_env, parse_snowflake, project_name, read_statements

from magento_warehouse.devtools import identifiers

REPO = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).resolve().parent / "snowflake" / "run_history_on_fakesnow.py"
BUILT = ("sales_order", "newsletter_subscriber")
PHASES = ("run_1", "run_2", "repair", "as_of", "compile")
REPORTS = ("rpt_stockouts", "fct_order_state_durations", "rpt_customer_status_changes")
T0 = datetime(2023, 11, 14, 22, 13, 20)  # the helper's first batch: 1_700_000_000_000 ms


# Both shapes Streamkap lands columns in on Snowflake: UPPERCASE unquoted, "quoted lowercase".
@pytest.fixture(scope="module", params=["upper", "quoted-lower"])
def emulated(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list]:
    work = tmp_path_factory.mktemp("snowflake_history")
    process = subprocess.run([sys.executable, str(HELPER), "--project-dir", str(REPO), "--work-dir", str(work),
                              "--models", ",".join(BUILT), "--column-case", request.param],
                             cwd=work, env=helper_env(), capture_output=True, text=True, timeout=600)
    summary_file = work / "summary.json"
    if process.returncode != 0 or not summary_file.exists():
        pytest.fail(f"the fakesnow helper failed (exit {process.returncode}):\n{process.stderr[-4000:]}")
    summary = json.loads(summary_file.read_text())
    statements = [s for phase in PHASES for s in read_statements(work / "logs" / phase / "dbt.log", phase)]
    return work, summary, statements


def test_every_phase_succeeds_in_the_emulator(emulated: tuple[Path, dict[str, Any], list]) -> None:
    _, summary, _ = emulated
    assert {p: o["success"] for p, o in summary["phases"].items()} == {p: True for p in PHASES}


def test_every_history_statement_parses_as_snowflake(emulated: tuple[Path, dict[str, Any], list]) -> None:
    _, _, statements = emulated
    ours = [s for s in statements if s.node_id and ".history_magento__" in s.node_id or s.phase == "as_of"]
    assert ours
    failures = []
    for statement in ours:
        try:
            parsed = parse_snowflake(statement.sql)
        except sqlglot.errors.ParseError as error:
            failures.append(f"{statement}\n-> {error}")
            continue
        # dbt-snowflake's own query-tag look-up is the one statement sqlglot keeps opaque.
        own = statement.sql.lstrip().lower().startswith("show parameters like 'query_tag'")
        if len(parsed) != 1 or isinstance(parsed[0], exp.Command) and not own:
            failures.append(f"{statement}\n-> not one statement sqlglot understands")
    assert not failures, "\n\n".join(failures)
    # Each history model's statements run under the folder's query tag.
    tag = "alter session set query_tag = 'magento_history'"
    tagged = {s.node_id for s in ours if s.sql.lstrip().lower().startswith(tag)}
    assert tagged == {s.node_id for s in ours if s.phase == "run_1"}
    # The incremental run replaces the touched keys' versions with a MERGE where events
    # landed; the repair recomputes every history model's keys the same way.
    every_history = {f"model.{project_name()}.{path.stem}"
                     for path in (REPO / "models/staging/magento/history").glob("*.sql")}
    expected = {"run_2": {f"model.{project_name()}.history_magento__{name}" for name in BUILT},
                "repair": every_history}
    for phase, models in expected.items():
        merged = {s.node_id for s in ours if s.phase == phase and isinstance(parse_snowflake(s.sql)[0], exp.Merge)}
        assert merged == models, phase


def test_history_and_reports_compile_to_snowflake_queries(emulated: tuple[Path, dict[str, Any], list]) -> None:
    work, _, _ = emulated
    compiled = work / "target" / "compiled" / project_name() / "models"
    paths = [*(compiled / "staging/magento/history").glob("*.sql"),
             *(compiled / "marts/trading" / f"{name}.sql" for name in REPORTS)]
    assert len(paths) >= len(REPORTS) + 4
    for path in paths:
        (tree,) = parse_snowflake(path.read_text())
        assert isinstance(tree, exp.Query), path.name


def test_emulated_history_counts_a_redelivery_as_its_original(emulated: tuple[Path, dict[str, Any], list]) -> None:
    _, summary, _ = emulated

    def at(ms: int | None) -> str | None:
        return None if ms is None else str(T0 + timedelta(milliseconds=ms))

    minute = 60_000
    for phase in ("run_2", "repair"):
        table = summary["tables"][phase]["sales_order"]
        rows = [{name.lower(): value for name, value in row.items()} for row in table["rows"]]
        versions = sorted((r["entity_id"], r["version_number"], r["status"], r["valid_from"], r["valid_to"])
                          for r in rows)
        assert versions == [
            (1, 1, "k1 v1", at(0), at(minute)), (1, 2, "k1 v2", at(minute), None),
            (2, 1, "k2 v1", at(0), at(minute)),  # closed by its delete
            (3, 1, "k3 v1", at(0), at(5)),
            (4, 1, "k4 v1", at(minute), None),
            # k6 v1 delivered again after k6 v2 (a redelivery) changes nothing.
            (6, 1, "k6 v1", at(20), at(50)), (6, 2, "k6 v2", at(50), None),
        ], phase



def test_every_read_of_a_change_log_in_a_steady_run_has_literal_ingestion_time_bounds(
        emulated: tuple[Path, dict[str, Any], list]) -> None:
    """Snowflake prunes micro-partitions on literals only: in the incremental run, every
    select reading a landing table bounds _streamkap_ts_ms from below by a literal, and
    any upper bound is a literal too."""
    _, _, statements = emulated
    scans = []
    for statement in statements:
        if statement.phase != "run_2" or not (statement.node_id and ".history_magento__" in statement.node_id):
            continue
        for select in parse_snowflake(statement.sql)[0].find_all(exp.Select):
            sources = [t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select) is select]
            if any(t.db.lower() == "streamkap" for t in sources):
                scans.append((statement, select))
    assert {s.node_id for s, _ in scans} == {f"model.{project_name()}.history_magento__{name}" for name in BUILT}
    for statement, select in scans:
        bounds: dict[str, list] = {"lower": [], "upper": []}
        for comparison in (select.args.get("where") or exp.true()).find_all(exp.GTE, exp.GT, exp.LT, exp.LTE):
            if isinstance(comparison.this, exp.Column) and comparison.this.name.lower() == "_streamkap_ts_ms":
                side = "lower" if isinstance(comparison, (exp.GTE, exp.GT)) else "upper"
                bounds[side].append(comparison.expression)
        assert bounds["lower"], f"a read of the change log without a lower bound on _streamkap_ts_ms:\n{statement}"
        assert all(isinstance(b, exp.Literal) for b in bounds["lower"] + bounds["upper"]), (
            f"a bound that is not a literal:\n{select.sql()}")

def test_every_history_statement_resolves_under_snowflake_case_rules(
        emulated: tuple[Path, dict[str, Any], list]) -> None:
    """The emulator resolves names in any case; Snowflake does not (devtools/identifiers.py)."""
    _, summary, statements = emulated
    catalog = identifiers.catalog_from_rows(summary["catalog"])
    problems, kinds = [], set()
    for statement in statements:
        if not (statement.node_id and ".history_magento__" in statement.node_id):
            continue
        found, checked = identifiers.unresolved(statement.sql, catalog)
        if checked:
            kinds.add(statement.sql.lstrip().split()[0].lower())
        if found:
            problems.append(f"{statement}\n-> {found}")
    assert problems == [], "\n\n".join(problems)
    # The rebuilds and the recomputation read the change log: checked, not skipped.
    assert "create" in kinds, kinds
