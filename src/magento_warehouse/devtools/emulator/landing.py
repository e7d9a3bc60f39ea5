"""The emulated Snowflake's account, profile and landing tables, and the change events
the emulated runs land: the simulator's landing schema (demo.simulator.schema),
typed as Snowflake spells it, and a few hand-made batches with a known outcome."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from magento_warehouse.demo.simulator.schema import STREAMKAP_COLUMNS, TABLES, Table

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


def landing_tables() -> dict[str, Table]:
    return TABLES


def snowflake_type(duckdb_type: str) -> str:
    return SNOWFLAKE_TYPES.get(duckdb_type.lower(), duckdb_type)


def column_name(name: str, quoted: bool) -> str:
    """A landing column as Streamkap writes it: unquoted (stored UPPERCASE) or "quoted lowercase"."""
    return f'"{name}"' if quoted else name


def landing_ddl(table: Table, quoted: bool = False) -> str:
    columns = ",\n    ".join(
        f"{column_name(name, quoted)} {snowflake_type(type_)}" for name, type_ in table.columns + STREAMKAP_COLUMNS
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


def event(table: Table, key: int, label: str, source_ts: int, ts: int, offset: int, deleted: Any) -> dict[str, Any]:
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


def first_batch(table: Table) -> list[dict[str, Any]]:
    return [
        event(table, 1, "k1 v1", T0, T0 + 10, 1, "false"),
        event(table, 2, "k2 v1", T0, T0 + 10, 2, "false"),
        event(table, 3, "k3 v1", T0, T0 + 10, 3, None),
        event(table, 3, "k3 deleted", T0 + 5, T0 + 15, 4, "true"),  # gone after the first build
        event(table, 6, "k6 v1", T0 + 20, T0 + 30, 0, "false"),
        event(table, 6, "k6 v2", T0 + 50, T0 + 60, 5, "false"),
    ]


def second_batch(table: Table) -> list[dict[str, Any]]:
    later = T0 + MINUTE
    return [
        event(table, 1, "k1 v2", later, later + 10, 10, "false"),  # update
        event(table, 2, "k2 deleted", later, later + 10, 11, "TRUE"),  # delete of a loaded key
        event(table, 4, "k4 v1", later, later + 10, 12, "false"),  # new key
        event(table, 5, "k5 deleted", later, later + 10, 13, "true"),  # delete of an unknown key
        event(table, 6, "k6 v1", T0 + 20, later + 20, 0, "false"),  # a redelivery of k6 v1, after k6 v2
    ]


def late_event(table: Table) -> dict[str, Any]:
    """Key 1's newest event, landed late: the repair run applies it."""
    later = T0 + MINUTE
    return event(table, 1, "k1 v3 repaired", later + 100, later + 110, 20, "false")


# A re-snapshot (started ten minutes after T0) sends keys 4 and 6 again, not key 1.
RESNAPSHOT_MS = T0 + 10 * MINUTE


def resnapshot_batch(table: Table) -> list[dict[str, Any]]:
    return [
        event(table, 4, "k4 v1", RESNAPSHOT_MS, RESNAPSHOT_MS + 10, 30, "false"),
        event(table, 6, "k6 v2", RESNAPSHOT_MS, RESNAPSHOT_MS + 10, 31, "false"),
    ]


def insert_sql(table: Table, events: list[dict[str, Any]], quoted: bool = False) -> str:
    names = list(events[0])
    values = ",\n".join("(" + ", ".join(literal(e[n]) for n in names) + ")" for e in events)
    columns = ", ".join(column_name(n, quoted) for n in names)
    return f"insert into {LANDING_DATABASE}.{LANDING_SCHEMA}.{table.name} ({columns}) values\n{values}"


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
