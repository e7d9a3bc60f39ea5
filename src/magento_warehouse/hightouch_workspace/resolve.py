"""Which dbt models a Hightouch model reads.

A model built with the dbt model selector names its dbt node (`dbt.dbtUniqueId`);
a table model names a relation (`table.name`, `[database.]schema.table`); a SQL
model reads whatever relations its query names, which sqlglot finds (CTE names
are not relations). Relations match the manifest's models on database, schema
and identifier, case-insensitively, as far as the name spells them out: a
warehouse folds unquoted names, and a name written without its database means
the source's default one. Visual and custom models read no dbt model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlglot
from dbt.contracts.graph.manifest import Manifest
from sqlglot import exp

QUERY_TYPES = {"dbt": "dbt model", "dbt_model": "dbt model", "table": "table", "raw_sql": "SQL"}


@dataclass(frozen=True)
class Resolution:
    """The dbt models (unique ids) a Hightouch model reads, or why none."""

    nodes: tuple[str, ...] = ()
    kind: str = ""  # dbt model, table or SQL; empty for query types that read no dbt model
    note: str = ""  # why nothing resolved
    relations: tuple[str, ...] = field(default=())  # what the model names, for messages


def relation_index(manifest: Manifest) -> dict[tuple[str, str, str], str]:
    """(database, schema, identifier), lower-cased -> the model built there."""
    index = {}
    for node in manifest.nodes.values():
        if node.resource_type.value == "model" and node.config.materialized != "ephemeral":
            key = (str(node.database or "").lower(), str(node.schema or "").lower(),
                   str(node.alias or node.name).lower())
            index[key] = node.unique_id
    return index


def resolve(model: dict[str, Any], manifest: Manifest, index: dict[tuple[str, str, str], str],
            dialect: str | None = None) -> Resolution:
    query_type = str(model.get("queryType") or "")
    kind = QUERY_TYPES.get(query_type, "")
    if kind == "dbt model":
        unique_id = str((model.get("dbt") or {}).get("dbtUniqueId") or "")
        if unique_id in manifest.nodes:
            return Resolution((unique_id,), kind, relations=(unique_id,))
        return Resolution((), kind, f"its dbt model {unique_id or '(none)'} is not in the project", (unique_id,))
    if kind == "table":
        name = str((model.get("table") or {}).get("name") or "")
        try:
            tables = [exp.to_table(name, dialect=dialect)]
        except (sqlglot.errors.SqlglotError, ValueError) as error:
            return Resolution((), kind, f"its table name {name!r} cannot be read ({error})")
    elif kind == "SQL":
        sql = str((model.get("raw") or {}).get("sql") or "")
        try:
            tables = read_tables(sql, dialect)
        except sqlglot.errors.SqlglotError as error:
            return Resolution((), kind, f"its SQL cannot be parsed ({str(error).splitlines()[0]})")
    else:
        return Resolution((), "", f"a {query_type or 'untyped'} model reads no dbt model")
    names = tuple(".".join(part for part in (t.catalog, t.db, t.name) if part) for t in tables)
    nodes = []
    for table in tables:
        matches = _matches(table, index)
        if len(matches) > 1:
            return Resolution((), kind, f"{table.sql(dialect=dialect)} matches several dbt models: "
                              f"{', '.join(sorted(matches))}; name its schema", names)
        nodes += [match for match in matches if match not in nodes]
    if not nodes:
        return Resolution((), kind, f"it reads {', '.join(names) or 'no relation'}, which no dbt model builds", names)
    return Resolution(tuple(nodes), kind, relations=names)


def sql_dialect(adapter_type: str | None) -> str | None:
    """sqlglot's dialect of the adapter (duckdb, snowflake, ...); None (generic SQL) when it has none."""
    return adapter_type if adapter_type in sqlglot.Dialect.classes else None


def read_tables(sql: str, dialect: str | None) -> list[exp.Table]:
    """The relations a query reads, in order, without its CTEs."""
    tables: list[exp.Table] = []
    for statement in sqlglot.parse(sql, read=dialect):
        if statement is None:
            continue
        ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in ctes):
                continue
            if all(table.sql() != seen.sql() for seen in tables):
                tables.append(table)
    return tables


def _matches(table: exp.Table, index: dict[tuple[str, str, str], str]) -> list[str]:
    database, schema, name = table.catalog.lower(), table.db.lower(), table.name.lower()
    return sorted({unique_id for (db, sch, ident), unique_id in index.items()
                   if ident == name and (not schema or sch == schema) and (not database or db == database)})
