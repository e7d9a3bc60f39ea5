"""make snowflake-check: every resource of the project, for a snowflake target, in an emulator.

No Snowflake account is reachable, so the project runs against fakesnow (an in-process
Snowflake emulator on DuckDB) in a subprocess (fakesnow patches the Snowflake connector),
once per landing shape, the two in parallel: landing columns UPPERCASE unquoted
(Streamkap's default, `upper`) and "quoted lowercase" (`quoted-lower`, with var
magento_landing_quoted_columns: true). In each:

  1. the landing schema of scripts/magento_cdc/schema.py, a first batch of change events
     in a few change logs (the others empty);
  2. `dbt seed`, `dbt build` (every model, data test and unit test), `dbt source freshness`;
  3. a second batch, then `dbt run` of the current-state and history models: the
     incremental path (the MERGE), which must execute;
  4. `scripts/scaffold_cdc.py --check` against the same target.

Every statement dbt sends (the SQLQuery events of its JSON debug logs) is then parsed
with sqlglot's Snowflake dialect (errors raise) and scanned for functions Snowflake
lacks (DENIED, by function name in the parsed tree, and by regex as a fallback). The
emulator (DuckDB) resolves names in any letter case, so each statement's column
references are also resolved against the emulator's catalog by Snowflake's rules
(tests/python/snowflake/identifiers.py): unquoted upper-case, quoted as written.

Where the emulator cannot run a statement as Snowflake would, the statement is run as
tests/python/snowflake/emulator_gaps.yml says and its resource listed as "parsed only"
with the reason. A statement the emulator fails on that matches no entry fails the
check; an entry that matched nothing is reported as stale.

Prints a table: resource, landing shapes -> executed / parsed only (why); a resource
whose outcome differs between the shapes has a line per shape. Exit 0 when both shapes
are clean, 1 otherwise.

Usage: .venv/bin/python scripts/snowflake_check.py [--work-dir DIR] [--project-dir DIR] [--shapes SHAPE...]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its notes on `show ...` commands

REPO = Path(__file__).resolve().parents[1]
SNOWFLAKE_HELPERS = REPO / "tests" / "python" / "snowflake"
GAPS_FILE = SNOWFLAKE_HELPERS / "emulator_gaps.yml"
PHASES = ("seed", "build", "freshness", "merge_run", "scaffold")
# Landing shape -> whether Streamkap quotes the columns (var magento_landing_quoted_columns).
SHAPES = {"upper": False, "quoted-lower": True}
# DuckDB functions Snowflake does not have (list_* is a prefix).
DENIED = {"epoch_ms", "strftime", "range", "regexp_matches", "today", "epoch", "strptime", "struct_pack",
          "current_localtimestamp"}
DENIED_PREFIXES = ("list_",)
DENIED_RE = re.compile(r"\b(" + "|".join(sorted(DENIED)) + r"|list_\w+)\s*\(", re.IGNORECASE)
TIMEOUT_SECONDS = 900
LANDING_SCHEMA = "STREAMKAP"  # run_dbt_on_fakesnow's landing schema


# --- inside the emulator (subprocess) ------------------------------------------------


def load_gaps(path: Path = GAPS_FILE) -> list[dict[str, Any]]:
    gaps = yaml.safe_load(path.read_text())["gaps"]
    for gap in gaps:
        gap["regex"] = re.compile(gap["match"], re.IGNORECASE | re.DOTALL)
    return gaps


def without_column_list(sql: str) -> str | None:
    """`create table t (columns) as (select ...)` as `create table t as (select ...)`."""
    head = re.match(r"^\s*create\s+or\s+replace\s+(transient\s+)?table\s+\S+\s*", sql, re.IGNORECASE)
    if not head or sql[head.end():head.end() + 1] != "(":
        return None
    depth = 0
    for position in range(head.end(), len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[position], 0)
        if depth == 0:
            rest = sql[position + 1:]
            return sql[:head.end()] + rest if re.match(r"\s*as\s*\(", rest, re.IGNORECASE) else None
    return None


def emulated(command: str, gaps: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(what the emulator runs, the gap's id or None) for a statement dbt sent."""
    for gap in gaps:
        if not gap["regex"].match(command):
            continue
        action = gap["emulate"]
        if action == "noop":
            return "select 1", gap["id"]
        if action == "answer":
            return gap["sql"], gap["id"]
        if action == "rewrite":
            return re.sub(gap["pattern"], gap["replacement"], command, count=1, flags=re.IGNORECASE), gap["id"]
        if action == "drop_column_list":
            rewritten = without_column_list(command)
            if rewritten is not None:
                return rewritten, gap["id"]
            continue
        raise ValueError(f"unknown emulate action {action!r} in {GAPS_FILE}")
    return command, None


def install_gap_handler(gaps: list[dict[str, Any]], hits: list[dict[str, str]], failures: list[dict[str, str]]) -> None:
    import fakesnow.cursor

    original = fakesnow.cursor.FakeSnowflakeCursor.execute

    def execute(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        gap = None
        if isinstance(command, str):
            runs, gap = emulated(command, gaps)
            if gap:
                hits.append({"gap": gap, "sql": command})
            command_to_run = runs
        else:
            command_to_run = command
        try:
            return original(self, command_to_run, *args, **kwargs)
        except Exception as error:
            failures.append({"sql": command, "error": f"{type(error).__name__}: {error}", "gap": gap or ""})
            raise

    fakesnow.cursor.FakeSnowflakeCursor.execute = execute


def emulate(work: Path, project_dir: Path, select: list[str], shape: str) -> int:
    sys.path.insert(0, str(SNOWFLAKE_HELPERS))
    import run_dbt_on_fakesnow as fake

    quoted = SHAPES[shape]
    profiles_dir = work / "profiles"
    fake.write_profiles(profiles_dir)
    landing = fake.load_tables(project_dir)
    summary: dict[str, Any] = {"phases": {}, "gap_hits": [], "emulator_failures": [], "select": select,
                               "shape": shape}
    dbt_vars = json.dumps({"magento_landing_database": fake.LANDING_DATABASE,
                           "magento_landing_schema": fake.LANDING_SCHEMA,
                           "magento_landing_quoted_columns": quoted})
    import fakesnow

    with fakesnow.patch():
        install_gap_handler(load_gaps(), summary["gap_hits"], summary["emulator_failures"])
        import snowflake.connector
        from dbt.cli.main import dbtRunner

        conn = snowflake.connector.connect(account="emulated_account", user="emulated_user", password="dummy",
                                           database=fake.DATABASE, schema=fake.SCHEMA)
        cursor = conn.cursor()
        cursor.execute(f"create schema if not exists {fake.LANDING_DATABASE}.{fake.LANDING_SCHEMA}")
        for table in landing["tables"].values():
            cursor.execute(fake.landing_ddl(table, landing["streamkap_columns"], quoted))
        for name in fake.LABEL_COLUMNS:  # a few change logs with events; the others empty
            fake.insert(cursor, landing["tables"][name], fake.first_batch(landing["tables"][name]), quoted)

        def catalog() -> None:
            """Column names as stored, to resolve the statements by Snowflake's case rules."""
            cursor.execute("select table_catalog, table_schema, table_name, column_name "
                           "from information_schema.columns")
            summary["catalog"] = [list(row) for row in cursor.fetchall()]

        def common(phase: str) -> list[str]:
            return ["--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir), "--target", fake.TARGET,
                    "--target-path", str(work / "target"), "--log-path", str(work / "logs" / phase),
                    "--log-format-file", "json", "--log-level-file", "debug", "--no-use-colors", "--vars", dbt_vars,
                    "--no-write-json"]  # no manifest or run results: nothing reads them

        def dbt(phase: str, *command: str) -> None:
            started = time.monotonic()
            outcome: dict[str, Any] = {"success": False, "exception": None, "results": []}
            try:
                result = dbtRunner().invoke([*command, *common(phase)])
                outcome["success"] = bool(result.success)
                outcome["exception"] = None if result.exception is None else repr(result.exception)
                for r in getattr(result.result, "results", None) or []:
                    if hasattr(r, "node"):
                        outcome["results"].append({"unique_id": r.node.unique_id, "status": str(r.status),
                                                   "message": r.message})
            except Exception:
                outcome["exception"] = traceback.format_exc()
            outcome["seconds"] = round(time.monotonic() - started, 1)
            summary["phases"][phase] = outcome

        if select:  # a quick check of a few resources
            dbt("build", "build", "--select", *select)
            catalog()
            conn.close()
            (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
            return 0
        dbt("seed", "seed")
        dbt("build", "build", "--exclude", "resource_type:seed")
        dbt("freshness", "source", "freshness", "--output", str(work / "target" / "sources.json"))
        for name in fake.LABEL_COLUMNS:
            fake.insert(cursor, landing["tables"][name], fake.second_batch(landing["tables"][name]), quoted)
        dbt("merge_run", "run", "--select", "path:models/staging/magento/base", "path:models/staging/magento/history")

        # The scaffold runs dbt in this process, through the same emulated connection.
        sys.path.insert(0, str(project_dir / "scripts"))
        import scaffold_cdc

        started = time.monotonic()
        # Its own target path: the other shape's scaffold may run at the same time.
        os.environ.update(DBT_LOG_PATH=str(work / "logs" / "scaffold"), DBT_LOG_FORMAT_FILE="json",
                          DBT_TARGET_PATH=str(work / "target_scaffold"))
        try:
            code = scaffold_cdc.main(["--check", "--project-dir", str(project_dir), "--profiles-dir",
                                      str(profiles_dir), "--target", fake.TARGET, "--vars", dbt_vars])
            summary["phases"]["scaffold"] = {"success": code == 0, "exception": None if code == 0 else f"exit {code}",
                                             "results": [], "seconds": round(time.monotonic() - started, 1)}
        except SystemExit as exit_:
            summary["phases"]["scaffold"] = {"success": exit_.code == 0, "exception": f"exit {exit_.code}",
                                             "results": []}
        except Exception:
            summary["phases"]["scaffold"] = {"success": False, "exception": traceback.format_exc(), "results": []}
        catalog()
        conn.close()
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0


# --- the check (this process) --------------------------------------------------------


def read_statements(log_file: Path, phase: str) -> list[dict[str, str]]:
    statements = []
    if not log_file.exists():
        return statements
    for line in log_file.read_text().splitlines():
        event = json.loads(line) if line.strip() else None
        if event and event["info"]["name"] == "SQLQuery":
            node = (event["data"].get("node_info") or {}).get("unique_id") or f"({phase}: dbt)"
            statements.append({"phase": phase, "node": node, "sql": event["data"]["sql"]})
    return statements


def strip_literals(sql: str) -> str:
    """The SQL without string literals and comments, for the regex fallback."""
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    sql = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return sql


@functools.lru_cache(maxsize=None)  # most statements are the same in both shapes
def denied_functions(sql: str) -> list[str]:
    """Functions Snowflake lacks, by name in the parsed tree and by regex."""
    import sqlglot
    from sqlglot import exp

    found = set()
    sql = bound(sql)
    try:
        trees = sqlglot.parse(sql, read="snowflake")
    except sqlglot.errors.SqlglotError:
        trees = []
    for tree in trees:
        if tree is None:
            continue
        # Names sqlglot does not know come back as Anonymous; a known function loses the
        # spelling it was called by (DATEDIFF and DATE_DIFF are one class): the regex has it.
        for func in tree.find_all(exp.Anonymous):
            name = func.name.lower()
            if name in DENIED or name.startswith(DENIED_PREFIXES):
                found.add(name)
    found |= {m.lower() for m in DENIED_RE.findall(strip_literals(sql))}
    return sorted(found)


def bound(sql: str) -> str:
    """A seed's insert as Snowflake gets it: dbt logs it with the connector's %s
    placeholders (bound to `?`) and cut short after its comment (`*/...`)."""
    return re.sub(r"\*/\.\.\.\s*$", "*/", sql.replace("%s", "?"))


@functools.lru_cache(maxsize=None)
def parse_error(sql: str) -> str | None:
    import sqlglot
    from sqlglot import exp

    sql = bound(sql)
    try:
        parsed = [e for e in sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
                  if e is not None and not isinstance(e, exp.Semicolon)]
    except sqlglot.errors.SqlglotError as error:
        return str(error).splitlines()[0]
    if len(parsed) > 1 and not all(isinstance(p, (exp.Create, exp.Command)) for p in parsed):
        return f"{len(parsed)} statements"
    return None


_RESOLVED: dict[tuple[str, str], list[str]] = {}


def helper(name: str) -> Any:
    """A module of tests/python/snowflake/."""
    if str(SNOWFLAKE_HELPERS) not in sys.path:
        sys.path.insert(0, str(SNOWFLAKE_HELPERS))
    return importlib.import_module(name)


def unresolved_columns(sql: str, catalog: Any, fingerprints: tuple[str, str]) -> list[str]:
    """Column references Snowflake could not resolve (unquoted names resolve upper-case).

    `fingerprints`: of the whole catalog and of the catalog without the landing schema. A
    statement that names no landing table resolves alike wherever the rest is alike, so
    the shapes share its answer."""
    import sqlglot

    identifiers = helper("identifiers")
    key = (sql, fingerprints[0] if LANDING_SCHEMA.lower() in sql.lower() else fingerprints[1])
    if key not in _RESOLVED:
        try:
            _RESOLVED[key] = identifiers.unresolved(bound(sql), catalog)[0]
        except sqlglot.errors.ParseError:  # parse_error reports it
            _RESOLVED[key] = []
    return _RESOLVED[key]


def fingerprint(rows: list[list[str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest()


def check_shape(work: Path, gaps: list[dict[str, Any]]) -> dict[str, Any]:
    """One landing shape's run: its problems, each resource's outcome, what it covered."""
    identifiers = helper("identifiers")
    summary = json.loads((work / "summary.json").read_text())
    statements = [s for phase in PHASES for s in read_statements(work / "logs" / phase / "dbt.log", phase)]
    rows = summary.get("catalog") or []
    catalog = identifiers.catalog_from_rows(rows)
    fingerprints = (fingerprint(rows), fingerprint([r for r in rows if r[1].upper() != LANDING_SCHEMA.upper()]))
    problems: list[str] = []
    resources: dict[str, dict[str, Any]] = {}

    def resource(node: str) -> dict[str, Any]:
        return resources.setdefault(node, {"statements": 0, "gaps": set(), "status": set()})

    for phase, outcome in summary["phases"].items():
        for r in outcome["results"]:
            resource(r["unique_id"])["status"].add(r["status"])
            # A data test that ran and found rows executed its SQL: the emulated events are
            # synthetic (no store rows, for one), so its verdict says nothing about Snowflake.
            # Sources are stale by design (events from 2023).
            if r["status"] == "error" and phase != "freshness":
                problems.append(f"{phase}: {r['unique_id']} error: {(r['message'] or '')[:800]}")
        if outcome["exception"] is not None:
            problems.append(f"{phase} failed: {outcome['exception']}")

    hit_sql = {}
    for hit in summary["gap_hits"]:
        hit_sql.setdefault(hit["sql"], hit["gap"])
    for statement in statements:
        entry = resource(statement["node"])
        entry["statements"] += 1
        if statement["sql"] in hit_sql:
            entry["gaps"].add(hit_sql[statement["sql"]])
        error = parse_error(statement["sql"])
        if error:
            problems.append(f"not Snowflake SQL ({error}) [{statement['node']}]:\n{statement['sql'][:1500]}")
        denied = denied_functions(statement["sql"])
        if denied:
            problems.append(f"functions Snowflake lacks {denied} [{statement['node']}]:\n{statement['sql'][:1500]}")
        unresolved = unresolved_columns(statement["sql"], catalog, fingerprints)
        if unresolved:
            problems.append(f"columns Snowflake would not resolve in this landing shape {unresolved} "
                            f"[{statement['node']}]:\n{statement['sql'][:1500]}")
    for failure in summary["emulator_failures"]:
        if not failure["gap"]:
            problems.append(f"the emulator failed on a statement no gap entry lists ({failure['error'][:300]}):\n"
                            f"{failure['sql'][:1500]}")
    # The merge run: each current-state model with new events sent its MERGE and succeeded.
    merge_run = summary["phases"].get("merge_run", {"results": []})
    base = [r for r in merge_run["results"] if ".base_magento__" in r["unique_id"]]
    merged = {s["node"] for s in statements if s["phase"] == "merge_run"
              and re.match(r"\s*merge\s+into\s", s["sql"], re.IGNORECASE)}
    for name in () if summary.get("select") else ("customer_group", "sales_order", "newsletter_subscriber"):
        node = next((r["unique_id"] for r in base if r["unique_id"].endswith(f".base_magento__{name}")), None)
        if node is None or node not in merged:
            problems.append(f"the merge run sent no MERGE for base_magento__{name}")
    # Every kind of resource was checked: a check that silently covers less proves less.
    kinds = {node.split(".")[0] for node in resources}
    for kind in () if summary.get("select") else ("seed", "model", "test", "source", "unit_test"):
        if kind not in kinds:
            problems.append(f"no {kind} was checked")

    reasons = {gap["id"]: gap["reason"] for gap in gaps}
    actions = {gap["id"]: gap["emulate"] for gap in gaps}
    outcomes: dict[str, str] = {}
    for node, entry in resources.items():
        if not entry["statements"]:
            outcome = "no SQL (" + ", ".join(sorted(entry["status"])) + ")"
        else:
            # noop/answer: the statement was parsed, not run; rewrite: run in an emulated form.
            skipped = sorted(reasons[g] for g in entry["gaps"] if actions[g] in ("noop", "answer"))
            adapted = sorted(reasons[g] for g in entry["gaps"] if actions[g] not in ("noop", "answer"))
            outcome = "executed"
            if adapted:
                outcome += " as emulated (" + "; ".join(adapted) + ")"
            if skipped:
                outcome += ", some statements parsed only (" + "; ".join(skipped) + ")"
            if "fail" in entry["status"]:
                outcome += " [test found rows in the synthetic data]"
        outcomes[node] = outcome
    counts: dict[str, int] = {}
    for entry in resources.values():
        kind = "no SQL" if not entry["statements"] else "executed, with gaps" if entry["gaps"] else "executed"
        counts[kind] = counts.get(kind, 0) + 1
    return {"problems": problems, "outcomes": outcomes, "counts": counts, "statements": len(statements),
            "seconds": {phase: outcome.get("seconds", "?") for phase, outcome in summary["phases"].items()},
            "gaps_used": {hit["gap"] for hit in summary["gap_hits"]}, "select": bool(summary.get("select"))}


def check(works: dict[str, Path]) -> int:
    """Checks each landing shape's run; prints one table of resources with the shapes."""
    gaps = load_gaps()
    results = {shape: check_shape(work, gaps) for shape, work in works.items()}
    nodes = sorted({node for result in results.values() for node in result["outcomes"]})
    width = max(len(", ".join(results)), len("shapes"))
    print(f"{'resource':<100} {'shapes':<{width}} outcome")
    for node in nodes:
        by_outcome: dict[str, list[str]] = {}
        for shape, result in results.items():  # a test named after a quoted column exists in one shape
            if node in result["outcomes"]:
                by_outcome.setdefault(result["outcomes"][node], []).append(shape)
        for outcome, shapes in by_outcome.items():
            print(f"{node:<100} {', '.join(shapes):<{width}} {outcome}")
    print()
    for shape, result in results.items():
        seconds = ", ".join(f"{phase} {s} s" for phase, s in result["seconds"].items())
        print(f"{shape}: {result['statements']} statements parsed as Snowflake SQL; resources: {result['counts']}; "
              f"{seconds}")
    select = any(result["select"] for result in results.values())
    stale = [] if select else sorted({gap["id"] for gap in gaps} - set().union(*(r["gaps_used"] for r in results.values())))
    if stale:
        print(f"\nemulator gap entries that matched nothing (stale, remove them): {', '.join(stale)}")
    problems = [f"[{shape}] {problem}" for shape, result in results.items() for problem in result["problems"]]
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)\n")
        print("\n\n".join(problems))
        return 1
    print(f"\nsnowflake-check: OK ({', '.join(results)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=REPO / "target" / "snowflake_check")
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--select", nargs="+", default=[],
                        help="only `dbt build --select` these (no seeds, freshness, merge run or scaffold)")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES),
                        help="landing column shapes to run (default: all)")
    parser.add_argument("--shape", choices=list(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--emulate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work, project_dir = args.work_dir.resolve(), args.project_dir.resolve()
    if args.emulate:
        return emulate(work, project_dir, args.select, args.shape)
    if work.exists():
        import shutil

        shutil.rmtree(work)
    works = {shape: work / shape for shape in dict.fromkeys(args.shapes)}
    if not args.select:
        # The scaffold's operation project is shared by the shapes: set it up before they run.
        sys.path.insert(0, str(project_dir / "scripts"))
        import scaffold_cdc

        scaffold_cdc.operation_project(project_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "MAGENTO_LANDING_", "SNOWFLAKE_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    processes = {}
    for shape, shape_work in works.items():
        shape_work.mkdir(parents=True)
        command = [sys.executable, __file__, "--emulate", "--shape", shape, "--work-dir", str(shape_work),
                   "--project-dir", str(project_dir), *(["--select", *args.select] if args.select else [])]
        processes[shape] = subprocess.Popen(command, cwd=shape_work, env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
    failed = False
    for shape, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        if process.returncode != 0 or not (works[shape] / "summary.json").exists():
            print(f"the emulated run of landing shape {shape} failed (exit {process.returncode}):\n"
                  f"{stdout[-4000:]}\n{stderr[-4000:]}")
            failed = True
    return 1 if failed else check(works)


if __name__ == "__main__":
    sys.exit(main())
