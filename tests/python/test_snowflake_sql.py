"""The Snowflake implementation compiles, and every statement it sends parses as Snowflake SQL.

No Snowflake account is reachable from the tests, and `dbt compile`/`dbt run` for a
snowflake target need a live connection (is_incremental() and the relation cache query
the warehouse). So snowflake/run_dbt_on_fakesnow.py runs dbt-snowflake against
fakesnow, an in-process emulator backed by DuckDB, in a subprocess (fakesnow patches
the Snowflake connector, which must not leak into this process). It builds a few base
models twice, the first time as `create table as`, the second time incrementally with
the project's `cdc_merge` MERGE and the folder's post-hook, then compiles every base
model.

This module reads the SQLQuery events of dbt's JSON logs, i.e. each statement dbt sent
(or tried to send) to Snowflake, and checks each parses with sqlglot's Snowflake
dialect: the emulator executing a statement proves little about Snowflake, the parser
checks the SQL's Snowflake syntax. The emulator's results are checked too, as a smoke
test of the merge's semantics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from sqlglot import exp

from magento_warehouse.devtools.dbt_log import node_id, sql_queries
from magento_warehouse.runner import change_check
from warehouse_statements import needs_warehouse

REPO = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).resolve().parent / "snowflake" / "run_dbt_on_fakesnow.py"
BASE_MODELS_DIR = REPO / "models" / "staging" / "magento" / "base"

MARKER = change_check.MARKER

# Landing tables whose base models are built; the others are only compiled.
BUILT = ("customer_group", "sales_order", "newsletter_subscriber")

# The helper's events give every built table the same history (key -> label column):
# k1 updated, k2 deleted by the second batch, k3 inserted and deleted in the first,
# k4 new, k5 a delete of a key never loaded, k6 a late event older than the loaded one.
EXPECTED_ROWS = {
    "run_1": {1: "k1 v1", 2: "k2 v1", 6: "k6 v2"},
    "run_2": {1: "k1 v2", 4: "k4 v1", 6: "k6 v2"},
}

# Failures of the emulator, not of the project's SQL. The second run may fail with one
# of these (after the MERGE was sent) without failing the test; see test_dbt_commands.
HELPER_TIMEOUT_SECONDS = 180


@dataclass
class Statement:
    phase: str  # run_1, run_2 or compile
    sql: str
    node_id: str | None  # the model it was sent for; None for dbt's own catalog queries

    def __str__(self) -> str:
        return f"[{self.phase} {self.node_id or 'adapter'}]\n{self.sql}"


@dataclass
class EmulatedRun:
    work: Path
    summary: dict[str, Any]
    statements: list[Statement]

    @property
    def target_path(self) -> Path:
        return self.work / "target"

    def phase(self, name: str) -> dict[str, Any]:
        return self.summary["phases"][name]

    def model_statements(self, phase: str, table: str) -> list[Statement]:
        node_id = f"model.{project_name()}.base_magento__{table}"
        return [s for s in self.statements if s.phase == phase and s.node_id == node_id]

    def relation(self, table: str) -> str:
        return self.summary["tables"]["run_1"][table]["relation"]


def project_name() -> str:
    return yaml.safe_load((REPO / "dbt_project.yml").read_text())["name"]


def base_model_names() -> list[str]:
    return sorted(path.stem for path in BASE_MODELS_DIR.glob("base_magento__*.sql"))


def read_statements(log_file: Path, phase: str) -> list[Statement]:
    """The SQLQuery events of one dbt JSON log, in order."""
    return [Statement(phase, query["sql"], node_id(query)) for query in sql_queries(log_file)]


def helper_env() -> dict[str, str]:
    """This environment minus settings that would redirect dbt or the sources."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DBT_", "MAGENTO_LANDING_", "SNOWFLAKE_"))
    }
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> EmulatedRun:
    work = tmp_path_factory.mktemp("snowflake_emulated")
    process = subprocess.run(
        [
            sys.executable,
            str(HELPER),
            "--project-dir", str(REPO),
            "--work-dir", str(work),
            "--models", ",".join(BUILT),
        ],  # fmt: skip
        cwd=work,
        env=helper_env(),
        capture_output=True,
        text=True,
        timeout=HELPER_TIMEOUT_SECONDS,
    )
    summary_file = work / "summary.json"
    if process.returncode != 0 or not summary_file.exists():
        pytest.fail(
            f"the fakesnow helper failed (exit {process.returncode}):\n"
            f"{process.stdout[-4000:]}\n{process.stderr[-4000:]}"
        )
    summary = json.loads(summary_file.read_text())
    statements = []
    for phase in ("run_1", "run_2", "fleet_status", "compile"):
        log_file = work / "logs" / phase / "dbt.log"
        if not log_file.exists():
            pytest.fail(f"dbt {phase} wrote no log: {summary['phases'].get(phase)}")
        statements += read_statements(log_file, phase)
    return EmulatedRun(work, summary, statements)


def parse_snowflake(sql: str) -> list[exp.Expr]:
    """The statements of `sql`, parsed strictly as Snowflake SQL (raises on error)."""
    parsed = sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    # A comment after the last `;` comes back as an exp.Semicolon: not a statement.
    return [e for e in parsed if e is not None and not isinstance(e, exp.Semicolon)]


def parse_one_statement(statement: Statement | str) -> exp.Expr:
    sql = statement.sql if isinstance(statement, Statement) else statement
    try:
        parsed = parse_snowflake(sql)
    except sqlglot.errors.ParseError as error:
        pytest.fail(f"not valid Snowflake SQL ({error}):\n{statement}")
    assert len(parsed) == 1, f"expected one statement, got {len(parsed)}:\n{statement}"
    return parsed[0]


def table_name(table: exp.Table | exp.Schema) -> str:
    if isinstance(table, exp.Schema):  # `create table t (columns)`
        table = table.this
    return ".".join(part.name for part in table.parts).lower()


def is_post_hook_delete(tree: exp.Expr, relation: str) -> bool:
    """`delete from <relation> where __deleted`, the base folder's post-hook."""
    if not isinstance(tree, exp.Delete):
        return False
    where = tree.args.get("where")
    return (
        table_name(tree.this) == relation.lower()
        and where is not None
        and isinstance(where.this, exp.Column)
        and where.this.name.lower() == "__deleted"
    )


def test_dbt_commands(emulated: EmulatedRun) -> None:
    """The first build, the merge run and the compile succeed in the emulator."""
    for phase in ("run_1", "compile"):
        outcome = emulated.phase(phase)
        assert outcome["success"], f"dbt {phase} failed: {outcome['exception']}\n{outcome['results']}"
    compiled = {r["unique_id"] for r in emulated.phase("compile")["results"] if r["unique_id"].startswith("model.")}
    assert compiled == {f"model.{project_name()}.{name}" for name in base_model_names()}

    run_2 = emulated.phase("run_2")
    assert run_2["exception"] is None, run_2["exception"]
    assert {r["unique_id"] for r in run_2["results"] if r["unique_id"].startswith("model.")} == {
        f"model.{project_name()}.base_magento__{table}" for table in BUILT
    }
    # The merge run executes in the emulator: no failure is tolerated.
    failed = [(r["unique_id"], r["message"]) for r in run_2["results"] if r["status"] != "success"]
    assert failed == [], failed


def test_the_fleet_check_finds_nothing_new_after_the_merge_run(emulated: EmulatedRun) -> None:
    """cdc_fleet_status (the runner's one question for the fleet) runs in the emulator:
    after the merge run, every built table's watermark holds its change log's row count."""
    outcome = emulated.phase("fleet_status")
    assert outcome["success"], outcome["exception"]
    answer = json.loads(next(m for m in outcome["logged"] if m.startswith(MARKER))[len(MARKER):])
    rows, applied = change_check._counts(answer["tables"]), change_check._counts(answer["applied"])
    landing = {table: count for (schema, table), count in rows.items() if schema.endswith(".streamkap")}
    done = {table: count for (schema, table), count in applied.items()}
    for table in BUILT:
        assert landing[table] is not None and landing[table] > 0, table
        assert done[table] == landing[table], (table, done.get(table), landing[table])


@pytest.mark.parametrize("table", BUILT)
def test_first_build_creates_the_table_and_runs_the_post_hook(emulated: EmulatedRun, table: str) -> None:
    relation = emulated.relation(table)
    trees = [parse_one_statement(s) for s in emulated.model_statements("run_1", table)]
    creates = [t for t in trees if isinstance(t, exp.Create) and table_name(t.this) == relation.lower()]
    assert len(creates) == 1, f"no `create table {relation} as` in the first build"
    assert creates[0].args.get("kind") == "TABLE" and creates[0].expression is not None
    assert sum(is_post_hook_delete(t, relation) for t in trees) == 1, "post-hook delete not sent"
    assert not any(isinstance(t, exp.Merge) and table_name(t.this) == relation.lower() for t in trees)


@pytest.mark.parametrize("table", BUILT)
def test_incremental_run_sends_the_merge_and_the_post_hook(emulated: EmulatedRun, table: str) -> None:
    relation = emulated.relation(table)
    sent = emulated.model_statements("run_2", table)
    trees = [parse_one_statement(s) for s in sent]
    merges = [(s, t) for s, t in zip(sent, trees) if isinstance(t, exp.Merge) and table_name(t.this) == relation.lower()]
    assert len(merges) == 1, f"expected one MERGE for {relation}, got {len(merges)}"
    statement, merge = merges[0]
    assert statement.sql.lstrip().lower().startswith("merge into"), statement
    assert table_name(merge.this) == relation.lower()
    # The batch is a subquery of the MERGE: no temporary table to create, describe and drop.
    assert isinstance(merge.args["using"], exp.Subquery), statement
    # Upsert shape: matched rows are updated, new keys inserted.
    whens = merge.args["whens"].expressions
    assert any(w.args.get("matched") and isinstance(w.args.get("then"), exp.Update) for w in whens)
    assert any(not w.args.get("matched") and isinstance(w.args.get("then"), exp.Insert) for w in whens)
    # Every clause is conditional: the sequence guard on updates, no insert of a delete event.
    guards = [w.args.get("condition") for w in whens]
    assert all(g is not None for g in guards), statement
    assert any("_streamkap_source_ts_ms" in g.sql().lower() for g in guards), statement

    # The post-hook runs after the merge (it removes the rows the merge marked deleted).
    post_hooks = [i for i, t in enumerate(trees) if is_post_hook_delete(t, relation)]
    assert len(post_hooks) == 1, f"post-hook `delete from {relation} where __deleted` not sent"
    assert post_hooks[0] > trees.index(merge)

    # The run artifact of the model is the same MERGE.
    run_files = list((emulated.target_path / "run").rglob(f"base_magento__{table}.sql"))
    assert len(run_files) == 1, run_files
    run_file = run_files[0]
    assert isinstance(parse_one_statement(run_file.read_text()), exp.Merge)


@pytest.mark.parametrize("table", BUILT)
def test_a_changed_model_sends_at_most_five_warehouse_statements(emulated: EmulatedRun, table: str) -> None:
    """Steady state: the watermark's read, the MERGE, the post-hook, the new watermark and
    its read back for the landed-rows mark. The rest (the plan's SHOW TABLES and SHOW
    COLUMNS, the mark) cloud services answer; each is a round trip all the same. A table
    the CRM marts read also reads the time its feed rows carry, then prunes and records
    its change feed: three more."""
    sent = emulated.model_statements("run_2", table)
    feed = [s for s in sent if f"{table}__changes" in s.sql.lower()]
    assert [type(parse_one_statement(s)) for s in feed] == [exp.Delete, exp.Insert], "\n---\n".join(s.sql for s in sent)
    clock = [s for s in sent if "as now_text" in s.sql.lower()]
    assert len(clock) == (1 if feed else 0), "\n---\n".join(s.sql for s in sent)
    rest = [s for s in sent if s not in feed and s not in clock]
    warehouse = [s for s in rest if needs_warehouse(s.sql)]
    assert 1 < len(warehouse) <= 5 and len(rest) <= 10, "\n---\n".join(s.sql for s in sent)


@pytest.mark.parametrize("table", BUILT)
def test_every_read_of_the_change_log_in_a_steady_run_is_bounded_by_literals(
        emulated: EmulatedRun, table: str) -> None:
    """Snowflake prunes micro-partitions on literal bounds, never on a subquery's value:
    each scan of the change log in the MERGE and the watermark (the window, the replay
    lookup) bounds _streamkap_ts_ms from below by a literal, and the lookup from above."""
    scans = []
    for statement in emulated.model_statements("run_2", table):
        tree = parse_one_statement(statement)
        for select in tree.find_all(exp.Select):
            sources = [t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select) is select]
            if any(t.name.lower() == table and t.db.lower() == "streamkap" for t in sources):
                scans.append((statement, select))
    assert len(scans) >= 3, "expected the window, the replay lookup and the watermark to read the change log"
    for statement, select in scans:
        where = select.args.get("where")
        assert where is not None, f"an unbounded scan of the change log:\n{statement}"
        bounds = {}
        for comparison in where.find_all(exp.GTE, exp.GT, exp.LT, exp.LTE):
            if isinstance(comparison.this, exp.Column) and comparison.this.name.lower() == "_streamkap_ts_ms":
                bounds.setdefault(type(comparison).__name__, []).append(comparison.expression)
        lower = bounds.get("GTE", []) + bounds.get("GT", [])
        assert lower and all(isinstance(b, exp.Literal) for b in lower), f"lower bound not a literal:\n{select.sql()}"
        upper = bounds.get("LT", []) + bounds.get("LTE", [])
        assert all(isinstance(b, exp.Literal) for b in upper), f"upper bound not a literal:\n{select.sql()}"
    # The replay lookup reads the log before the window: bounded from above too.
    assert any(select.args["where"].find(exp.LT) for _, select in scans)


def test_every_captured_statement_parses_as_snowflake(emulated: EmulatedRun) -> None:
    assert emulated.statements, "no SQLQuery event in dbt's logs"
    failures = []
    for statement in emulated.statements:
        try:
            parsed = parse_snowflake(statement.sql)
        except sqlglot.errors.ParseError as error:
            failures.append(f"{statement}\n-> {error}")
            continue
        if len(parsed) != 1:
            failures.append(f"{statement}\n-> {len(parsed)} statements")
        # sqlglot falls back to an opaque Command for syntax it does not model. That is
        # tolerated for dbt-snowflake's own catalog queries (`show user functions`), not
        # for anything sent for a model.
        elif isinstance(parsed[0], exp.Command) and (
            statement.node_id is not None or not statement.sql.lstrip().lower().startswith("show ")
        ):
            failures.append(f"{statement}\n-> not understood, parsed as an opaque command")
    assert not failures, "\n\n".join(failures)

    # The statements the harness ran differently in the emulator are dbt's own.
    sent = {s.sql for s in emulated.statements}
    for hit in emulated.summary["gap_hits"]:
        assert hit["sql"] in sent


def test_compiled_base_models_parse_as_snowflake(emulated: EmulatedRun) -> None:
    compiled_dir = emulated.target_path / "compiled" / project_name() / BASE_MODELS_DIR.relative_to(REPO)
    names = base_model_names()
    assert len(names) >= len(BUILT)
    for name in names:
        path = compiled_dir / f"{name}.sql"
        assert path.exists(), f"dbt compile wrote no {path.name}"
        tree = parse_one_statement(path.read_text())
        assert isinstance(tree, exp.Query), f"{name} does not compile to a query"
        # `dbt compile` shows the rebuild from the whole change log; runs bound the
        # scan in the MERGE (test_incremental_run_sends_the_merge_and_the_post_hook).
        bounded = any(
            isinstance(c.this, exp.Column) and c.this.name.lower() == "_streamkap_ts_ms"
            for c in tree.find_all(exp.GTE)
        )
        assert not bounded, name


@pytest.mark.parametrize("phase", EXPECTED_ROWS)
def test_emulated_current_state(emulated: EmulatedRun, phase: str) -> None:
    for table in BUILT:
        state = emulated.summary["tables"][phase][table]
        assert "error" not in state, state
        got = {row[state["key"]]: row[state["label"]] for row in state["rows"]}
        assert got == EXPECTED_ROWS[phase], f"{state['relation']} after {phase}"
        assert not any(row["__deleted"] for row in state["rows"])
