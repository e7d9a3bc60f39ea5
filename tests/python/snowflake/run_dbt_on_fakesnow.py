"""Runs dbt for a Snowflake target against fakesnow, an in-process Snowflake emulator.

Used by tests/python/test_snowflake_sql.py, which starts this script in a subprocess
so that fakesnow's patching of the Snowflake connector never reaches the pytest
process. No Snowflake account is needed or contacted.

Steps, in one emulated Snowflake:
  1. create the landing schema and every landing table of
     scripts/magento_cdc/schema.py; write a first batch of change events to a few;
  2. `dbt run` of those tables' base models (first build: create table as);
  3. write a second batch (updates, deletes, a late stale event, a new key);
  4. `dbt run` again (incremental: temp table, MERGE, post-hook delete);
  5. `dbt compile` of every base model (incremental for the built ones).

Each dbt command writes its own JSON log (--log-format-file json) under
<work>/logs/<phase>/dbt.log: the statements dbt sent are its SQLQuery events. The
script writes <work>/summary.json: each command's outcome, the current state of the
built tables and the statements the emulator shim below rewrote.

Emulator shim (the harness adapts, the project's SQL does not): DuckDB, under
fakesnow, only allows temporary tables in its "temp" catalog, so Snowflake's
`create or replace temporary table <db>.<schema>.<name>__dbt_tmp as ...` fails with
'TEMPORARY table names can *only* use the "temp" catalog'. The shim runs that
statement in the emulator as a permanent table (dbt drops it after the merge; the
nightly repair's `__cdc_missed` table likewise). dbt
logs the statement before the connector sees it, so the logged SQL is dbt's own.

Usage: run_dbt_on_fakesnow.py --project-dir DIR --work-dir DIR --models a,b,c
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

PROFILE = "magento_warehouse"
TARGET = "snowflake_emulated"
DATABASE = "ANALYTICS"
SCHEMA = "DBT"
# The landing schema sits in the target database, the project's default. (fakesnow's
# DESCRIBE TABLE only sees tables of the connection's current database, so a separate
# landing database would look empty to dbt's column lookup in the emulator.)
LANDING_DATABASE = DATABASE
LANDING_SCHEMA = "STREAMKAP"

# Landing column types as Snowflake spells them. schema.py uses DuckDB names; all are
# valid Snowflake types, but TIMESTAMP's meaning depends on TIMESTAMP_TYPE_MAPPING, so
# the DDL states TIMESTAMP_NTZ (Magento's DATETIME columns carry no time zone).
SNOWFLAKE_TYPES = {"timestamp": "timestamp_ntz", "varchar": "varchar", "date": "date"}

# One column per table that carries a label of the event, to check which event won.
LABEL_COLUMNS = {
    "customer_group": "customer_group_code",
    "sales_order": "status",
    "newsletter_subscriber": "subscriber_email",
}

TEMP_TABLE = re.compile(r"^(\s*create\s+or\s+replace\s+)temporary(\s+table\s+\S+__(dbt_tmp|cdc_missed)\b)", re.IGNORECASE)


def load_tables(project_dir: Path) -> dict[str, Any]:
    path = project_dir / "scripts" / "magento_cdc" / "schema.py"
    spec = importlib.util.spec_from_file_location("magento_cdc_schema", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return {"tables": module.TABLES, "streamkap_columns": module.STREAMKAP_COLUMNS}


def snowflake_type(duckdb_type: str) -> str:
    return SNOWFLAKE_TYPES.get(duckdb_type.lower(), duckdb_type)


def column_name(name: str, quoted: bool) -> str:
    """A landing column as Streamkap writes it: unquoted (stored UPPERCASE) or "quoted lowercase"."""
    return f'"{name}"' if quoted else name


def landing_ddl(table: Any, streamkap_columns: tuple[tuple[str, str], ...], quoted: bool = False) -> str:
    columns = ",\n    ".join(
        f"{column_name(name, quoted)} {snowflake_type(type_)}" for name, type_ in table.columns + streamkap_columns
    )
    return f"create table if not exists {LANDING_DATABASE}.{LANDING_SCHEMA}.{table.name} (\n    {columns}\n)"


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def default_value(name: str, type_: str, key: int) -> Any:
    """A plausible value of a Magento column, varying with the key."""
    type_ = type_.lower()
    if type_ in ("integer", "smallint", "bigint"):
        return key
    if type_.startswith("decimal"):
        return round(key * 10.25, 2)
    if type_ == "timestamp":
        return f"2024-01-{key:02d} 10:00:00"
    if type_ == "date":
        return f"1990-01-{key:02d}"
    return f"{name}-{key}"


def event(table: Any, key: int, label: str, source_ts: int, ts: int, offset: int, deleted: Any) -> dict[str, Any]:
    row = {name: default_value(name, type_, key) for name, type_ in table.columns}
    row[table.primary_key] = key
    row[LABEL_COLUMNS[table.name]] = label
    row.update(
        _streamkap_source_ts_ms=source_ts,
        _streamkap_ts_ms=ts,
        _streamkap_offset=offset,
        __deleted=deleted,
    )
    return row


# Streamkap time of the first batch; the second batch arrives a minute later.
T0 = 1_700_000_000_000
MINUTE = 60_000


def first_batch(table: Any) -> list[dict[str, Any]]:
    return [
        event(table, 1, "k1 v1", T0, T0 + 10, 1, "false"),
        event(table, 2, "k2 v1", T0, T0 + 10, 2, "false"),
        event(table, 3, "k3 v1", T0, T0 + 10, 3, None),
        event(table, 3, "k3 deleted", T0 + 5, T0 + 15, 4, "true"),  # gone after the first build
        event(table, 6, "k6 v1", T0 + 20, T0 + 30, 0, "false"),
        event(table, 6, "k6 v2", T0 + 50, T0 + 60, 5, "false"),
    ]


def second_batch(table: Any) -> list[dict[str, Any]]:
    later = T0 + MINUTE
    return [
        event(table, 1, "k1 v2", later, later + 10, 10, "false"),  # update
        event(table, 2, "k2 deleted", later, later + 10, 11, "TRUE"),  # delete of a loaded key
        event(table, 4, "k4 v1", later, later + 10, 12, "false"),  # new key
        event(table, 5, "k5 deleted", later, later + 10, 13, "true"),  # delete of an unknown key
        event(table, 6, "k6 v1", T0 + 20, later + 20, 0, "false"),  # a redelivery of k6 v1, after k6 v2
    ]


def late_event(table: Any) -> dict[str, Any]:
    """Key 1's newest event, landed late: the repair run applies it."""
    later = T0 + MINUTE
    return event(table, 1, "k1 v3 repaired", later + 100, later + 110, 20, "false")


# A re-snapshot (started ten minutes after T0) sends keys 4 and 6 again, not key 1.
RESNAPSHOT_MS = T0 + 10 * MINUTE


def resnapshot_batch(table: Any) -> list[dict[str, Any]]:
    return [
        event(table, 4, "k4 v1", RESNAPSHOT_MS, RESNAPSHOT_MS + 10, 30, "false"),
        event(table, 6, "k6 v2", RESNAPSHOT_MS, RESNAPSHOT_MS + 10, 31, "false"),
    ]


def insert(cursor: Any, table: Any, events: list[dict[str, Any]], quoted: bool = False) -> None:
    names = list(events[0])
    values = ",\n".join("(" + ", ".join(literal(e[n]) for n in names) + ")" for e in events)
    columns = ", ".join(column_name(n, quoted) for n in names)
    cursor.execute(f"insert into {LANDING_DATABASE}.{LANDING_SCHEMA}.{table.name} ({columns}) values\n{values}")


def write_profiles(profiles_dir: Path) -> None:
    profiles_dir.mkdir(parents=True, exist_ok=True)
    (profiles_dir / "profiles.yml").write_text(
        textwrap.dedent(
            f"""\
            {PROFILE}:
              target: {TARGET}
              outputs:
                {TARGET}:
                  type: snowflake
                  account: emulated_account
                  user: emulated_user
                  password: dummy
                  role: TRANSFORMER
                  warehouse: TRANSFORMING
                  database: {DATABASE}
                  schema: {SCHEMA}
                  threads: 1
                  query_tag: {PROFILE}
            """
        )
    )


def install_temp_table_shim(rewritten: list[str]) -> None:
    import fakesnow.cursor

    original = fakesnow.cursor.FakeSnowflakeCursor.execute

    def execute(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        if isinstance(command, str) and TEMP_TABLE.match(command):
            rewritten.append(command)
            command = TEMP_TABLE.sub(r"\1\2", command, count=1)
        return original(self, command, *args, **kwargs)

    fakesnow.cursor.FakeSnowflakeCursor.execute = execute


def rows_as_dicts(cursor: Any, sql: str) -> list[dict[str, Any]]:
    cursor.execute(sql)
    names = [d[0].lower() for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def relation_name(target_path: Path, model: str) -> str:
    manifest = json.loads((target_path / "manifest.json").read_text())
    (node,) = (n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == model)
    return node["relation_name"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project-dir", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--models", required=True, help="comma-separated landing tables to build")
    parser.add_argument("--column-case", choices=("upper", "quoted-lower"), default="upper",
                        help="landing columns UPPERCASE unquoted (Streamkap's default) or \"quoted lowercase\"")
    parser.add_argument("--repairs", action="store_true",
                        help="then a nightly repair, a re-snapshot, the audit and source freshness")
    args = parser.parse_args()
    quoted = args.column_case == "quoted-lower"

    project_dir: Path = args.project_dir.resolve()
    work: Path = args.work_dir.resolve()
    chosen = [name.strip() for name in args.models.split(",") if name.strip()]
    profiles_dir = work / "profiles"
    target_path = work / "target"
    write_profiles(profiles_dir)
    schema = load_tables(project_dir)
    tables = schema["tables"]

    summary: dict[str, Any] = {"phases": {}, "rewritten_by_shim": [], "tables": {}}
    relations: dict[str, str] = {}
    import fakesnow

    with fakesnow.patch():
        install_temp_table_shim(summary["rewritten_by_shim"])
        import snowflake.connector
        from dbt.cli.main import dbtRunner

        conn = snowflake.connector.connect(
            account="emulated_account", user="emulated_user", password="dummy", database=DATABASE, schema=SCHEMA
        )
        cursor = conn.cursor()
        cursor.execute(f"create schema if not exists {LANDING_DATABASE}.{LANDING_SCHEMA}")
        for table in tables.values():
            cursor.execute(landing_ddl(table, schema["streamkap_columns"], quoted))

        def dbt(phase: str, *command: str, extra_vars: dict[str, Any] | None = None) -> None:
            argv = [
                *command,
                "--project-dir", str(project_dir),
                "--profiles-dir", str(profiles_dir),
                "--target", TARGET,
                "--target-path", str(target_path),
                "--log-path", str(work / "logs" / phase),
                "--log-format-file", "json",
                "--log-level-file", "debug",
                "--no-use-colors",
                "--vars", json.dumps(
                    {"magento_landing_database": LANDING_DATABASE, "magento_landing_schema": LANDING_SCHEMA,
                     "magento_landing_quoted_columns": quoted, **(extra_vars or {})}
                ),
            ]  # fmt: skip
            outcome: dict[str, Any] = {"argv": argv, "success": False, "exception": None, "results": [],
                                       "logged": []}

            def logged(event: Any) -> None:
                if event.info.name == "JinjaLogInfo":
                    outcome["logged"].append(event.info.msg)

            try:
                result = dbtRunner(callbacks=[logged]).invoke(argv)
                outcome["success"] = bool(result.success)
                outcome["exception"] = None if result.exception is None else repr(result.exception)
                for node in getattr(result.result, "results", None) or []:
                    if not hasattr(node, "node"):  # run-operation
                        continue
                    outcome["results"].append(
                        {"unique_id": node.node.unique_id, "status": str(node.status), "message": node.message}
                    )
            except Exception:  # recorded for the test to report
                outcome["exception"] = traceback.format_exc()
            summary["phases"][phase] = outcome

        def snapshot(phase: str) -> None:
            """The built tables' rows after `phase`, keyed by table."""
            state = summary["tables"].setdefault(phase, {})
            for name in chosen:
                key = tables[name].primary_key
                try:
                    if name not in relations:
                        relations[name] = relation_name(target_path, f"base_magento__{name}")
                    rows = rows_as_dicts(cursor, f"select * from {relations[name]} order by {key}")
                    state[name] = {"relation": relations[name], "key": key, "label": LABEL_COLUMNS[name], "rows": rows}
                except Exception as error:  # missing when a run failed
                    state[name] = {"relation": relations.get(name), "error": repr(error)}

        selection = ["--select", *(f"base_magento__{name}" for name in chosen)]
        for name in chosen:
            insert(cursor, tables[name], first_batch(tables[name]), quoted)
        dbt("run_1", "run", *selection)
        snapshot("run_1")
        for name in chosen:
            insert(cursor, tables[name], second_batch(tables[name]), quoted)
        dbt("run_2", "run", *selection)
        snapshot("run_2")
        # The runner's question for the whole fleet (scripts/change_check.py): nothing new now.
        target_database, target_schema = relations[chosen[0]].replace('"', "").split(".")[:2]
        target = {"database": target_database, "schema": target_schema}
        dbt("fleet_status", "run-operation", "cdc_fleet_status", "--args", json.dumps(
            {"schemas": [{"database": LANDING_DATABASE, "schema": LANDING_SCHEMA}, target],
             "target_schemas": [target]}))
        if args.repairs:
            for name in chosen:
                insert(cursor, tables[name], [late_event(tables[name])], quoted)
            dbt("repair", "run", *selection, extra_vars={"cdc_repair": True})
            snapshot("repair")
            for name in chosen:
                insert(cursor, tables[name], resnapshot_batch(tables[name]), quoted)
            dbt("resnapshot_run", "run", *selection)
            for name in chosen:
                dbt(f"resnapshot_{name}", "run-operation", "cdc_apply_resnapshot", "--args",
                    json.dumps({"table": name, "snapshot_started_at_ms": RESNAPSHOT_MS}))
            snapshot("resnapshot")
            dbt("audit", "test", "--select", *(f"base_magento__{n}" for n in chosen),
                *(f"source:magento.{n}" for n in chosen))
            dbt("freshness", "source", "freshness", "--select", *(f"source:magento.{n}" for n in chosen),
                "--output", str(target_path / "sources.json"))
        # Column names as stored, for checking references against Snowflake's case rules.
        cursor.execute("select table_catalog, table_schema, table_name, column_name from information_schema.columns")
        summary["catalog"] = [list(row) for row in cursor.fetchall()]
        dbt("compile", "compile", "--select", "path:models/staging/magento/base", "--exclude", "resource_type:test")
        conn.close()

    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
