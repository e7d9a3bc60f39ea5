"""What a dbt run reads, statement by statement: replayed on a copy of the warehouse with DuckDB's profiler.

dbt's JSON debug log records every statement a run sends (SQLQuery events).
`replay` runs them again, in order, on a copy of the warehouse taken just before
the run, with the profiler on, and keeps every table scan of each statement: the
rows of the row groups it did not skip (`rows_scanned`) and the rows it passed on
after the filters pushed into it, those DuckDB pushes from joins included
(`rows_selected`, the scan's output cardinality).

Two measures use them (docs/benchmarks/scale.md):
  * landing rows: rows scanned from the change logs. They are appended in time
    order, so a bound on ingestion time skips whole row groups, as micro-partition
    pruning does on Snowflake (given a layout whose loads keep row groups apart).
  * rows read: the rows of the change logs within each scan's literal bounds on
    ingestion time (as `make bench-lag` counts them: independent of DuckDB's
    layout), plus the rows selected from the current-state and history tables (the
    `*_magento` schemas) and the CRM marts' own tables. These fit in one DuckDB row
    group (122,880 rows) for a simulated shop, so rows scanned cannot tell a key
    lookup from a full read; rows selected count what a pruned scan of a
    key-ordered table reads.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb

from magento_warehouse.devtools.dbt_log import node_id, sql_queries

LANDING_SCHEMA = "streamkap"
STATE_SCHEMA_SUFFIX = "_magento"  # dbt's custom schema 'magento' under the target schema: main_magento
# The CRM marts, their units tables and the intermediate tables they read (the email index).
MART_PREFIXES = ("crm_", "int_")
TRANSACTION_CONTROL = {"begin", "begin transaction", "start transaction", "commit", "end", "rollback"}
BOUND = re.compile(r'_streamkap_ts_ms"?\)?\s*(>=|>|<=|<|=)\s*(\d+)')
QUERY_COMMENT = re.compile(r"^\s*/\*.*?\*/\s*", re.S)  # dbt's query comment, at the start of each statement


@dataclass(frozen=True)
class Statement:
    """One statement dbt sent, as its JSON log recorded it."""

    sql: str
    node: str  # unique id of the node that sent it, or '' (hooks, metadata, run-operation)

    @property
    def label(self) -> str:
        """'base_magento__quote: merge into "warehouse"."main_magento"."quote" as ...'"""
        # Temporary relations carry a timestamp in their name: left out, so runs compare.
        head = re.sub(r"\d{8,}", "N", " ".join(QUERY_COMMENT.sub("", self.sql).split()))[:90]
        return f"{self.node.split('.')[-1] or '(no node)'}: {head}"


@dataclass(frozen=True)
class Scan:
    """One scan of a table in a profile."""

    table: str  # catalog.schema.table
    filters: str  # the filters pushed into the scan (static and from joins), literals replaced by N
    rows_scanned: int  # rows of the row groups it did not skip
    rows_selected: int  # rows it passed on, after the filters pushed into it
    bounds: str = ""  # its literal bounds on ingestion time (_streamkap_ts_ms), as SQL; '' when none
    rows_in_bounds: int | None = None  # rows of the table within `bounds` when the scan ran (landing scans)


Measure = Callable[[Scan], int]


@dataclass(frozen=True)
class Measured:
    """A replayed statement and its scans of the tables `replay` counted."""

    statement: Statement
    scans: tuple[Scan, ...]


def schema_and_name(table: str) -> tuple[str, str]:
    """('streamkap', 'sales_order') of 'warehouse.streamkap.sales_order'."""
    parts = table.lower().split(".")
    return (parts[-2] if len(parts) >= 2 else ""), parts[-1]


def is_landing(table: str) -> bool:
    return schema_and_name(table)[0] == LANDING_SCHEMA


def is_state(table: str) -> bool:
    """A current-state or history table (the `*_magento` schema)."""
    return schema_and_name(table)[0].endswith(STATE_SCHEMA_SUFFIX)


def is_crm_mart(table: str) -> bool:
    schema, name = schema_and_name(table)
    return name.startswith(MART_PREFIXES) and not schema.endswith(STATE_SCHEMA_SUFFIX) and schema != LANDING_SCHEMA


def is_counted(table: str) -> bool:
    """A table the rows-read measure counts."""
    return is_landing(table) or is_state(table) or is_crm_mart(table)


def landing_rows(scan: Scan) -> int:
    """The landing measure: rows scanned from a change log."""
    return scan.rows_scanned if is_landing(scan.table) else 0


def rows_read(scan: Scan) -> int:
    """The rows-read measure: rows of a change log within the scan's bounds on ingestion time,
    rows selected from the other counted tables."""
    if is_landing(scan.table):
        return scan.rows_scanned if scan.rows_in_bounds is None else scan.rows_in_bounds
    return scan.rows_selected if is_state(scan.table) or is_crm_mart(scan.table) else 0


def total(measured: Iterable[Measured], measure: Measure) -> int:
    return sum(measure(scan) for m in measured for scan in m.scans)


def read_statements(log: Path) -> list[Statement]:
    """Every statement of dbt's JSON log (SQLQuery events), in the order dbt sent them."""
    statements = [Statement(query["sql"], node_id(query) or "") for query in sql_queries(log)]
    if not statements:
        raise ValueError(f"no SQLQuery event in {log}: was the run's log written as JSON at debug level?")
    return statements


def table_scans(profile: Any) -> Iterator[Scan]:
    """Every scan of a table in a DuckDB JSON profile.

    Table functions (duckdb_tables(), information_schema) are scans too, but name no
    table.
    """
    if isinstance(profile, list):
        for item in profile:
            yield from table_scans(item)
    elif isinstance(profile, dict):
        kind = profile.get("type", profile.get("operator_type"))
        info = profile.get("extra_info") or {}
        table = info.get("Table") if kind == "TABLE_SCAN" else None
        if table:
            scanned = profile.get("rows_scanned", profile.get("operator_rows_scanned"))
            selected = profile.get("intermediate_rows", profile.get("operator_cardinality"))
            if scanned is None or selected is None:
                raise ValueError(f"the profile of a scan of {table} lacks rows_scanned or its cardinality: {profile}")
            filters = " and ".join(_text(info.get(key)) for key in ("Filters", "Dynamic Filters") if info.get(key))
            # Only the scan's own filters: a join's are optional, and Snowflake prunes on literals.
            bounds = " and ".join(f"_streamkap_ts_ms {op} {value}"
                                  for op, value in BOUND.findall(_text(info.get("Filters") or "")))
            yield Scan(table, re.sub(r"\b\d+\b", "N", " ".join(filters.split())), int(scanned), int(selected), bounds)
        for key in ("operator", "children"):
            yield from table_scans(profile.get(key))


def _text(value: Any) -> str:
    return " and ".join(value) if isinstance(value, list) else str(value)


def planned_tables(plan: Any) -> Iterator[str]:
    """The tables the scans of an EXPLAIN (FORMAT JSON) plan read."""
    if isinstance(plan, list):
        for item in plan:
            yield from planned_tables(item)
    elif isinstance(plan, dict):
        table = (plan.get("extra_info") or {}).get("Table")
        if table:
            yield table
        yield from planned_tables(plan.get("children"))


def replay(db: Path, statements: list[Statement], counted: Callable[[str], bool] = is_counted) -> list[Measured]:
    """Runs the statements in order on `db` with the profiler on; each one's scans of the `counted` tables.

    Transaction control is left out: dbt's threads each open and commit their own
    transactions, interleaved in the log, and every statement of a successful run
    took effect, so running each one on its own reproduces the run.

    One thread: a scan whose consumer stops early (a join with an empty side) reads a
    vector of 2,048 rows per thread that started on it, so with more threads rows read
    would count the machine's cores. With one, such a scan reads one vector.
    """
    measured = []
    with duckdb.connect(str(db)) as con:
        con.execute("set threads = 1")
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{db.parent / 'profile.json'}'")
        for statement in statements:
            for part in duckdb.extract_statements(statement.sql):
                sql = part.query.strip().rstrip(";").strip()
                if not sql or " ".join(QUERY_COMMENT.sub("", sql).lower().split()) in TRANSACTION_CONTROL:
                    continue
                try:
                    con.execute(sql)
                except duckdb.Error as error:
                    raise RuntimeError(f"replaying {statement.label!r} failed: {error}\n{sql}") from error
                profile = json.loads(con.get_profiling_information(format="json"))
                if profile.get("result") == "error":
                    # No plan was run: DuckDB answered from table statistics (count(*),
                    # min/max), or the statement has no query plan (DDL, settings).
                    if reads(con, sql, is_landing):
                        raise RuntimeError(f"no profile for a statement scanning a landing table: {sql}")
                    measured.append(Measured(statement, ()))
                    continue
                scans = [scan for scan in table_scans(profile) if counted(scan.table)]
                measured.append(Measured(statement, tuple(in_bounds(con, scan) for scan in scans)))
    return measured


def in_bounds(con: duckdb.DuckDBPyConnection, scan: Scan) -> Scan:
    """A landing scan with the rows its bounds on ingestion time select, counted right after it ran:
    what a change log stored in ingestion order (Snowflake's micro-partitions of an append-only
    table) reads for it. DuckDB's row groups are too coarse to show it: it merges appends into the
    last row group, checkpointed or not, so a snapshot and the batches after it share row groups.
    A scan without such a bound reads the whole log."""
    if not is_landing(scan.table):
        return scan
    con.execute("pragma disable_profiling")
    try:
        (rows,) = con.execute(f"select count(*) from {scan.table} where {scan.bounds or 'true'}").fetchone()
    finally:
        con.execute("pragma enable_profiling = 'json'")
    return replace(scan, rows_in_bounds=int(rows))


def reads(con: duckdb.DuckDBPyConnection, sql: str, tables: Callable[[str], bool]) -> bool:
    """Whether the plan of a statement scans one of `tables` (False for statements without a plan)."""
    try:
        rows = con.execute(f"explain (format json) {sql}").fetchall()
    except duckdb.Error:
        return False
    return any(tables(table) for _, plan in rows for table in planned_tables(json.loads(plan)))


def breakdown(runs: dict[str, list[Measured]], measure: Measure, what: str) -> str:
    """Rows per statement (node and statement start) and per scan, one column per run, largest last run first."""
    names = list(runs)
    rows: dict[str, list[int]] = defaultdict(lambda: [0] * len(names))
    scans: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * len(names)))
    for column, name in enumerate(names):
        for m in runs[name]:
            for scan in m.scans:
                if measure(scan):
                    rows[m.statement.label][column] += measure(scan)
                    where = f"scan of {'.'.join(schema_and_name(scan.table))} where {scan.filters or '-'}"
                    scans[m.statement.label][where][column] += measure(scan)
    width = max(9, *(len(name) for name in names))
    cells = lambda values: " ".join(f"{value:>{width}}" for value in values)  # noqa: E731
    lines = [f"{cells(names)}  statement ({what})"]
    for label, values in sorted(rows.items(), key=lambda item: (-item[1][-1], item[0])):
        lines.append(f"{cells(values)}  {label}")
        lines += [f"{cells(scan_values)}    {scan[:160]}" for scan, scan_values in scans[label].items()]
    lines.append(f"{cells(total(runs[name], measure) for name in names)}  total")
    return "\n".join(lines)
