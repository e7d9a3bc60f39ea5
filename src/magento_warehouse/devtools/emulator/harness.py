"""One emulated Snowflake (fakesnow, on DuckDB) with the landing schema, and dbt run in it.

fakesnow patches the Snowflake connector process-wide: run the harness in a process of
its own (a subprocess of the tests, of `make snowflake-check`). No Snowflake account is
needed or contacted.

    with emulated_snowflake(work, project_dir, quoted=False) as snowflake:
        snowflake.land("sales_order", first_batch(snowflake.tables["sales_order"]))
        snowflake.dbt("run_1", "run", "--select", "base_magento__sales_order")

Each dbt command writes its JSON debug log under <work>/logs/<phase>/dbt.log (the
statements dbt sent are its SQLQuery events); on leaving, <work>/summary.json holds each
command's outcome ("phases"), the statements an emulator gap entry adapted
("gap_hits"), those the emulator failed on ("emulator_failures") and whatever the steps
added (rows, the catalog).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from magento_warehouse.demo.simulator.schema import Table
from magento_warehouse.devtools.emulator import gaps as emulator_gaps
from magento_warehouse.devtools.emulator.landing import (
    DATABASE,
    LANDING_DATABASE,
    LANDING_SCHEMA,
    SCHEMA,
    TARGET,
    insert_sql,
    landing_ddl,
    landing_tables,
    write_profiles,
)


# A folder of partial-parse states shared by emulated runs (the tests set it), else each
# work folder keeps its own.
PARSE_STATES_VARIABLE = "MAGENTO_EMULATOR_PARSE_STATES"


class EmulatedSnowflake:
    """The landing tables, a cursor on the emulated account, and dbt for a snowflake target."""

    def __init__(self, work: Path, project_dir: Path, quoted: bool, write_json: bool) -> None:
        self.work, self.project_dir, self.quoted, self.write_json = work, project_dir, quoted, write_json
        self.profiles_dir, self.target_path = work / "profiles", work / "target"
        self.tables = landing_tables()
        self.summary: dict[str, Any] = {"phases": {}, "gap_hits": [], "emulator_failures": []}
        self.cursor: Any = None

    def dbt_vars(self, extra_vars: dict[str, Any] | None = None) -> str:
        return json.dumps({"magento_landing_database": LANDING_DATABASE, "magento_landing_schema": LANDING_SCHEMA,
                           "magento_landing_quoted_columns": self.quoted, **(extra_vars or {})})

    def dbt_options(self, phase: str, extra_vars: dict[str, Any] | None = None,
                    results_file: bool = False) -> list[str]:
        """The options of a dbt command of `phase`, after the command (`results_file`: one
        whose results file a step reads, e.g. source freshness's sources.json)."""
        options = ["--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir),
                   "--target", TARGET, "--target-path", str(self.target_path),
                   "--log-path", str(self.work / "logs" / phase), "--log-format-file", "json",
                   "--log-level-file", "debug", "--log-file-max-bytes", "0", "--no-use-colors",
                   "--vars", self.dbt_vars(extra_vars)]
        # No manifest or run results when no step reads them; the first command's manifest
        # serves the later ones (the relations and configs it names do not change).
        written = (self.target_path / "manifest.json").exists()
        return options if self.write_json and (results_file or not written) else [*options, "--no-write-json"]

    def dbt(self, phase: str, *command: str, extra_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        """Runs dbt in this process; its outcome is summary["phases"][phase]."""
        from dbt.cli.main import dbtRunner

        freshness = command[:2] == ("source", "freshness")  # its sources.json is read
        argv = [*command, *self.dbt_options(phase, extra_vars, results_file=freshness)]
        outcome: dict[str, Any] = {"argv": argv, "success": False, "exception": None, "results": [], "logged": []}

        def logged(event: Any) -> None:
            if event.info.name == "JinjaLogInfo":
                outcome["logged"].append(event.info.msg)

        started = time.monotonic()
        # dbt keeps one partial-parse state per target path and parses everything again
        # when the vars (or the environment variables the project reads) differ from the
        # last command's: keep a state per project, vars and environment, shared by the
        # runs of other work folders when PARSE_STATES_VARIABLE names a folder (dbt checks
        # a state against the files itself). pytest's own variables change per test.
        state = self.target_path / "partial_parse.msgpack"
        states = Path(os.environ.get(PARSE_STATES_VARIABLE) or self.work / "parse_states")
        environment = sorted((k, v) for k, v in os.environ.items() if not k.startswith("PYTEST_"))
        key = f"{self.project_dir}\0{self.dbt_vars(extra_vars)}\0{environment}"
        kept = states / hashlib.sha256(key.encode()).hexdigest()[:16]
        if kept.exists():
            state.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kept, state)
        try:
            result = dbtRunner(callbacks=[logged]).invoke(argv)
            if state.exists():
                states.mkdir(parents=True, exist_ok=True)
                partial = kept.with_name(f"{kept.name}.{os.getpid()}")
                shutil.copyfile(state, partial)
                os.replace(partial, kept)  # whole, for runs in other processes
            outcome["success"] = bool(result.success)
            outcome["exception"] = None if result.exception is None else repr(result.exception)
            for node in getattr(result.result, "results", None) or []:
                if hasattr(node, "node"):  # not a run-operation's
                    outcome["results"].append(
                        {"unique_id": node.node.unique_id, "status": str(node.status), "message": node.message})
        except Exception:  # recorded for the caller to report
            outcome["exception"] = traceback.format_exc()
        outcome["seconds"] = round(time.monotonic() - started, 1)
        self.summary["phases"][phase] = outcome
        return outcome

    def land(self, table: str, events: list[dict[str, Any]]) -> None:
        """Appends change events to a landing table."""
        self.cursor.execute(insert_sql(self.tables[table], events, self.quoted))

    def land_batch(self, tables: list[str], batch: Callable[[Table], list[dict[str, Any]]]) -> None:
        """Appends `batch`'s events of each table of `tables`."""
        for name in tables:
            self.land(name, batch(self.tables[name]))

    def rows(self, sql: str) -> list[dict[str, Any]]:
        self.cursor.execute(sql)
        names = [d[0].lower() for d in self.cursor.description]
        return [dict(zip(names, row)) for row in self.cursor.fetchall()]

    def relation(self, model: str) -> str:
        """A model's relation name, from the manifest of the last dbt command."""
        manifest = json.loads((self.target_path / "manifest.json").read_text())
        (node,) = (n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == model)
        return node["relation_name"]

    def catalog(self) -> None:
        """Column names as stored, for checking references against Snowflake's case rules."""
        self.cursor.execute("select table_catalog, table_schema, table_name, column_name "
                            "from information_schema.columns")
        self.summary["catalog"] = [list(row) for row in self.cursor.fetchall()]


def runner_arguments(models_help: str) -> argparse.ArgumentParser:
    """The options of a script that runs steps over the harness for a few landing tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--project-dir", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--models", required=True, help=models_help)
    parser.add_argument("--column-case", choices=("upper", "quoted-lower"), default="upper",
                        help="landing columns UPPERCASE unquoted (Streamkap's default) or \"quoted lowercase\"")
    return parser


def chosen_tables(models: str) -> list[str]:
    return [name.strip() for name in models.split(",") if name.strip()]


@contextmanager
def emulated_snowflake(work: Path, project_dir: Path, *, quoted: bool = False, write_json: bool = True,
                       landing: bool = True) -> Iterator[EmulatedSnowflake]:
    """An emulated Snowflake with every emulator gap entry installed and, with `landing`,
    every landing table created (empty); writes <work>/summary.json on leaving."""
    emulator = EmulatedSnowflake(work.resolve(), project_dir.resolve(), quoted, write_json)
    write_profiles(emulator.profiles_dir)
    import fakesnow

    with fakesnow.patch():
        emulator_gaps.install(emulator_gaps.load_gaps(), emulator.summary["gap_hits"],
                              emulator.summary["emulator_failures"])
        import snowflake.connector

        conn = snowflake.connector.connect(account="emulated_account", user="emulated_user", password="dummy",
                                           database=DATABASE, schema=SCHEMA)
        try:
            emulator.cursor = conn.cursor()
            emulator.cursor.execute(f"create schema if not exists {LANDING_DATABASE}.{LANDING_SCHEMA}")
            for table in emulator.tables.values() if landing else ():
                emulator.cursor.execute(landing_ddl(table, emulator.quoted))
            yield emulator
        finally:
            conn.close()
    (emulator.work / "summary.json").write_text(json.dumps(emulator.summary, indent=2, default=str))
