"""Column references checked against Snowflake's identifier rules.

fakesnow runs on DuckDB, which resolves every identifier in any letter case, quoted or
not: a statement reading `_streamkap_ts_ms` from a table whose column is the quoted
lowercase "_streamkap_ts_ms" runs in the emulator but fails on Snowflake, which
resolves an unquoted name upper-case and a quoted one as written. This module resolves
each column reference of a statement against the emulator's catalog (column names as
stored) the way Snowflake would, with sqlglot's optimizer (`qualify`), and reports the
references that resolve to no column.

Checked: queries, the query of `create table ... as`, `insert ... select`, `delete`
(its condition, as a query on the table) and `merge` (its source query, then each
ON / WHEN reference against the target's columns or the source's output names).
Statements on a table the catalog does not hold (dropped temporary tables) are
skipped and returned as such.
"""

from __future__ import annotations

from typing import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

Catalog = dict[str, dict[str, dict[str, dict[str, str]]]]  # database -> schema -> table -> column -> type


def catalog_from_rows(rows: Iterable[tuple[str, str, str, str]]) -> Catalog:
    """(database, schema, table, column) rows of information_schema, names as stored."""
    catalog: Catalog = {}
    for database, schema, table, column in rows:
        catalog.setdefault(database, {}).setdefault(schema, {}).setdefault(table, {})[column] = "varchar"
    return catalog


def resolved(identifier: exp.Identifier) -> str:
    """The name Snowflake resolves an identifier to."""
    return identifier.name if identifier.quoted else identifier.name.upper()


def _tables(tree: exp.Expr) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if t.name]


def _known(table: exp.Table, catalog: Catalog, ctes: set[str]) -> bool:
    if not table.args.get("db"):
        return resolved(table.this) in ctes
    database = resolved(table.args["catalog"]) if table.args.get("catalog") else None
    schema, name = resolved(table.args["db"]), resolved(table.this)
    databases = [database] if database else list(catalog)
    return any(name in catalog.get(d, {}).get(schema, {}) for d in databases)


def _columns_of(table: exp.Table, catalog: Catalog) -> set[str]:
    database = resolved(table.args["catalog"]) if table.args.get("catalog") else next(iter(catalog))
    return set(catalog[database][resolved(table.args["db"])][resolved(table.this)])


def _qualify(query: exp.Expr, catalog: Catalog) -> exp.Expr:
    schema = MappingSchema(catalog, dialect="snowflake", normalize=False)
    return qualify(query, schema=schema, dialect="snowflake", validate_qualify_columns=True,
                   expand_stars=True)


def unresolved(sql: str, catalog: Catalog) -> tuple[list[str], bool]:
    """(problems, checked): the column references Snowflake could not resolve.

    `checked` is False when the statement was not checked (no column reference, or a
    table missing from the catalog)."""
    parsed = [e for e in sqlglot.parse(sql, read="snowflake") if e is not None and not isinstance(e, exp.Semicolon)]
    if len(parsed) != 1:
        return [], False
    tree = parsed[0]
    ctes = {resolved(cte.args["alias"].this) for cte in tree.find_all(exp.CTE)}
    # A create table as is checked by what it reads: the table it creates (a temporary
    # one, gone by the time the catalog is read) need not be known.
    read = tree.expression if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query) else tree
    if not _tables(read) or not all(_known(t, catalog, ctes) for t in _tables(read)):
        return [], False
    problems: list[str] = []

    def check_query(query: exp.Expr) -> exp.Expr | None:
        try:
            return _qualify(query.copy(), catalog)
        except OptimizeError as error:
            problems.append(str(error))
            return None

    if isinstance(tree, exp.Query):
        check_query(tree)
    elif isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
        check_query(tree.expression)
    elif isinstance(tree, exp.Insert) and isinstance(tree.expression, exp.Query):
        check_query(tree.expression)
    elif isinstance(tree, exp.Delete) and tree.args.get("where") is not None:
        check_query(exp.select("*").from_(tree.this.copy()).where(tree.args["where"].this.copy()))
    elif isinstance(tree, exp.Merge):
        target = tree.this
        target_alias = resolved(target.args["alias"].this) if target.args.get("alias") else resolved(target.this)
        target_columns = _columns_of(target, catalog)
        using = tree.args["using"]
        source_alias = resolved(using.args["alias"].this) if using.args.get("alias") else None
        source_columns: set[str] = set()
        if isinstance(using, exp.Subquery):
            qualified = check_query(using.this)
            source_columns = set(qualified.named_selects) if qualified is not None else set()
        elif isinstance(using, exp.Table):
            source_columns = _columns_of(using, catalog)
        scopes = {target_alias: target_columns, source_alias: source_columns}
        clauses = [tree.args.get("on"), *tree.args["whens"].expressions]
        for clause in clauses:
            for column in clause.find_all(exp.Column):
                qualifier = resolved(column.args["table"]) if column.args.get("table") else target_alias
                name = resolved(column.this)
                if qualifier in scopes and name not in scopes[qualifier]:
                    problems.append(f"Column '{name}' of {qualifier} could not be resolved")
    else:
        return [], False
    return problems, True
