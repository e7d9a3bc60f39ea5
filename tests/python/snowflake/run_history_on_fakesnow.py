"""Runs the history models for a Snowflake target against fakesnow (see run_dbt_on_fakesnow.py,
whose landing tables, events and emulator shim it reuses).

Steps, in one emulated Snowflake: the first batch of events; `dbt run` of the history
models (create table as); the second batch (updates, deletes, a late event older than
its key's newest); `dbt run` (incremental: temporary table, MERGE); `dbt run` with
cdc_repair (every key through the MERGE); `cdc_write_states_as_of`; `dbt compile` of
the history models and the reports that read them. Each command writes its JSON log
under <work>/logs/<phase>/dbt.log; <work>/summary.json has each command's outcome and
the history rows after each run.

Usage: run_history_on_fakesnow.py --project-dir DIR --work-dir DIR --models a,b
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import traceback
from pathlib import Path
from typing import Any

REPORTS = ["rpt_stockouts", "fct_order_state_durations", "rpt_customer_status_changes"]
# dbt-snowflake's query-tag statements, which the emulator does not answer: run as no-ops,
# the session's tag read as the profile's.
QUERY_TAG_NO_OP = re.compile(r"^\s*alter\s+session\s+(un)?set\s+query_tag\b", re.IGNORECASE)
SHOW_QUERY_TAG = re.compile(r"^\s*show\s+parameters\s+like\s+'query_tag'\s+in\s+session", re.IGNORECASE)


def install_query_tag_shim(rewritten: list[str]) -> None:
    import fakesnow.cursor

    original = fakesnow.cursor.FakeSnowflakeCursor.execute

    def execute(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        if isinstance(command, str) and (QUERY_TAG_NO_OP.match(command) or SHOW_QUERY_TAG.match(command)):
            rewritten.append(command)
            command = ("select 1" if QUERY_TAG_NO_OP.match(command)
                       else "select 'QUERY_TAG' as key, 'magento_warehouse' as value")
        return original(self, command, *args, **kwargs)

    fakesnow.cursor.FakeSnowflakeCursor.execute = execute


def load_helper() -> Any:
    path = Path(__file__).resolve().with_name("run_dbt_on_fakesnow.py")
    spec = importlib.util.spec_from_file_location("run_dbt_on_fakesnow", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project-dir", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--models", required=True, help="comma-separated landing tables whose history to build")
    parser.add_argument("--column-case", choices=("upper", "quoted-lower"), default="upper",
                        help="landing columns UPPERCASE unquoted (Streamkap's default) or \"quoted lowercase\"")
    args = parser.parse_args()
    quoted = args.column_case == "quoted-lower"
    helper = load_helper()
    project_dir: Path = args.project_dir.resolve()
    work: Path = args.work_dir.resolve()
    chosen = [name.strip() for name in args.models.split(",") if name.strip()]
    profiles_dir, target_path = work / "profiles", work / "target"
    helper.write_profiles(profiles_dir)
    schema = helper.load_tables(project_dir)
    tables = schema["tables"]
    summary: dict[str, Any] = {"phases": {}, "rewritten_by_shim": [], "tables": {}}
    import fakesnow

    with fakesnow.patch():
        helper.install_temp_table_shim(summary["rewritten_by_shim"])
        install_query_tag_shim(summary["rewritten_by_shim"])
        import snowflake.connector
        from dbt.cli.main import dbtRunner

        conn = snowflake.connector.connect(account="emulated_account", user="emulated_user", password="dummy",
                                           database=helper.DATABASE, schema=helper.SCHEMA)
        cursor = conn.cursor()
        cursor.execute(f"create schema if not exists {helper.LANDING_DATABASE}.{helper.LANDING_SCHEMA}")
        for table in tables.values():
            cursor.execute(helper.landing_ddl(table, schema["streamkap_columns"], quoted))

        def dbt(phase: str, *command: str, extra_vars: dict[str, Any] | None = None) -> None:
            argv = [*command, "--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir),
                    "--target", helper.TARGET, "--target-path", str(target_path),
                    "--log-path", str(work / "logs" / phase), "--log-format-file", "json",
                    "--log-level-file", "debug", "--no-use-colors",
                    "--vars", json.dumps({"magento_landing_database": helper.LANDING_DATABASE,
                                          "magento_landing_schema": helper.LANDING_SCHEMA,
                                          "magento_landing_quoted_columns": quoted, **(extra_vars or {})})]
            outcome: dict[str, Any] = {"success": False, "exception": None}
            try:
                result = dbtRunner().invoke(argv)
                outcome["success"] = bool(result.success)
                outcome["exception"] = None if result.exception is None else repr(result.exception)
            except Exception:  # recorded for the test to report
                outcome["exception"] = traceback.format_exc()
            summary["phases"][phase] = outcome

        def snapshot(phase: str) -> None:
            for name in chosen:
                try:
                    relation = helper.relation_name(target_path, f"history_magento__{name}")
                    rows = helper.rows_as_dicts(cursor, f"select * from {relation}")
                    summary["tables"].setdefault(phase, {})[name] = {
                        "key": tables[name].primary_key, "label": helper.LABEL_COLUMNS[name], "rows": rows}
                except Exception as error:  # missing when a run failed
                    summary["tables"].setdefault(phase, {})[name] = {"error": repr(error)}

        selection = ["--select", "path:models/staging/magento/history"]
        for name in chosen:
            helper.insert(cursor, tables[name], helper.first_batch(tables[name]), quoted)
        dbt("run_1", "run", *selection)
        snapshot("run_1")
        for name in chosen:
            helper.insert(cursor, tables[name], helper.second_batch(tables[name]), quoted)
        dbt("run_2", "run", *selection)
        snapshot("run_2")
        dbt("repair", "run", *selection, extra_vars={"cdc_repair": True})
        snapshot("repair")
        dbt("as_of", "run-operation", "cdc_write_states_as_of",
            "--args", json.dumps({"at": "2023-11-14 22:13:40", "schema": "PIT_MAGENTO"}))
        # Column names as stored, for checking references against Snowflake's case rules.
        cursor.execute("select table_catalog, table_schema, table_name, column_name from information_schema.columns")
        summary["catalog"] = [list(row) for row in cursor.fetchall()]
        dbt("compile", "compile", "--select", "path:models/staging/magento/history", *REPORTS,
            "--exclude", "resource_type:test")
        conn.close()

    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
