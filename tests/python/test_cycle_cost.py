"""Rows the few-minute CRM job reads from the landing tables follow the new events, not the history.

Two warehouses hold the same simulated shop and receive the same new micro-batch,
but the Streamkap change logs of one hold ten times the history of the other. One
cycle of the CRM job (run_and_sync --selector crm_realtime --only-changed) runs on
each, with dbt's JSON debug log capturing every statement it sends. Each statement
is then replayed, in order, on a copy of the warehouse taken just before the cycle,
with DuckDB's profiler on, and the rows its table scans read from the landing schema
are summed. A cycle over the ten-times-longer history must read at most 1.2 times
the rows, and far fewer rows than the history holds.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import LANDING_SCHEMA, REPO

from magento_warehouse.runner import run_and_sync
from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch

pytestmark = pytest.mark.slow

# Old events landed in each CRM change log of the short-history warehouse (about
# 120,000 in all); the long-history warehouse holds ten times the landing rows of
# each of these change logs.
SHORT_HISTORY = {
    "sales_order": 30_000, "quote": 30_000, "customer_entity": 30_000,
    "quote_item": 5_000, "sales_order_address": 5_000, "customer_address_entity": 5_000,
    "newsletter_subscriber": 5_000, "customer_group": 5_000, "store": 5_000,
}
HISTORY_FACTOR = 10
MAX_RATIO = 1.2
HISTORY_AGE_MS = 30 * 86_400_000  # the history ends 30 days before the snapshot's first event
TRANSACTION_CONTROL = {"begin", "begin transaction", "start transaction", "commit", "end", "rollback"}
QUERY_COMMENT = re.compile(r"^\s*/\*.*?\*/\s*", re.S)  # dbt's query comment, at the start of each statement


@dataclass(frozen=True)
class Statement:
    """One statement dbt sent, as its JSON log recorded it."""

    sql: str
    node: str  # unique id of the node that sent it, or '' (hooks, metadata, run-operation)

    @property
    def label(self) -> str:
        """'base_magento__quote: merge into "warehouse"."main_magento"."quote" as ...'"""
        head = " ".join(QUERY_COMMENT.sub("", self.sql).split())[:90]
        return f"{self.node.split('.')[-1] or '(no node)'}: {head}"


@dataclass(frozen=True)
class Scan:
    """One scan of a table in a profile: the rows of the row groups it did not skip."""

    table: str  # catalog.schema.table
    filters: str  # the filters pushed into the scan, literals replaced by N
    rows: int


@dataclass(frozen=True)
class Measured:
    """A replayed statement and its scans of landing tables."""

    statement: Statement
    scans: tuple[Scan, ...]

    @property
    def landing_rows(self) -> int:
        return sum(scan.rows for scan in self.scans)


@dataclass
class Warehouse:
    """One DuckDB warehouse, in `root`, with the folders of its dbt runs."""

    root: Path
    history: dict[str, int]  # old events landed per change log
    recent_from: dict[str, int] = field(default_factory=dict)  # per change log, the first ms after its history

    @property
    def db(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def history_rows(self) -> int:
        return sum(self.history.values())

    def replica(self, name: str) -> Path:
        """A copy of the warehouse file, under the same file name (DuckDB names the catalog after it)."""
        folder = self.root / name
        folder.mkdir()
        shutil.copy(self.db, folder / self.db.name)
        return folder / self.db.name


@contextmanager
def dbt_env(root: Path, phase: str, **extra: str) -> Iterator[Path]:
    """Points dbt at the warehouse and target folder in `root`, with a JSON debug log in `root`/`phase`;
    yields the log. The target folder is the warehouse's own, so its runs reuse the parsed project."""
    values = {
        "DBT_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "DBT_TARGET_PATH": str(root / "target"),
        "DBT_LOG_PATH": str(root / phase / "logs"),
        "DBT_LOG_FORMAT_FILE": "json",
        "DBT_LOG_LEVEL_FILE": "debug",
        **extra,
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        yield root / phase / "logs" / "dbt.log"


def land_history(con: duckdb.DuckDBPyConnection, table: str, rows: int, end_ms: int) -> None:
    """Appends `rows` old events of the snapshot's rows of `table`, one a second, the last before `end_ms`.

    The events copy the snapshot's rows, so every key exists and the current state
    does not change (each is older than the snapshot's event of its key). Columns
    go by name: landing tables carry Magento's full column set and may gain columns.
    """
    (snapshot_rows,) = con.execute(f"select count(*) from snapshot.{LANDING_SCHEMA}.{table}").fetchone()
    con.execute(f"""
        insert into {LANDING_SCHEMA}.{table} by name
        select
            landed.* exclude (position) replace (
                {end_ms} - ({rows} - history.range) * 1000 - 500 as _streamkap_source_ts_ms,
                {end_ms} - ({rows} - history.range) * 1000 as _streamkap_ts_ms,
                history.range as _streamkap_offset,
                'false' as __deleted
            )
        from range({rows}) as history
        inner join (
            select *, row_number() over () - 1 as position from snapshot.{LANDING_SCHEMA}.{table}
        ) as landed
            on landed.position = history.range % {snapshot_rows}
    """)


def build_warehouse(root: Path, snapshot: Path, initial: Any, history: dict[str, int]) -> Warehouse:
    """Change logs holding `history` old events each, then the shop's snapshot; built once by dbt (not measured).

    Streamkap appends a change log in time order: the history is landed first, one
    write per change log, then the snapshot. Each large write takes row groups of its
    own in DuckDB, so the history's row groups hold no recent event, as in a warehouse
    that received its history over months (checked by `assert_history_is_apart`).
    """
    warehouse = Warehouse(root, history)
    root.mkdir()
    with duckdb.connect(str(warehouse.db)) as con:
        con.execute(f"attach '{snapshot}' as snapshot (read_only)")
        con.execute(f"create schema {LANDING_SCHEMA}")
        for table, rows in history.items():
            first_ms = con.execute(f"select min(_streamkap_ts_ms) from snapshot.{LANDING_SCHEMA}.{table}").fetchone()[0]
            con.execute(f"create table {LANDING_SCHEMA}.{table} as "
                        f"select * from snapshot.{LANDING_SCHEMA}.{table} limit 0")
            land_history(con, table, rows, first_ms - HISTORY_AGE_MS)
            warehouse.recent_from[table] = first_ms - HISTORY_AGE_MS + 1
        con.execute("detach snapshot")
        # Persisted before the snapshot lands: DuckDB appends to a row group only until it is checkpointed.
        con.execute("checkpoint")
        write_batch(con, initial)
    with dbt_env(root, "build"):
        # What the CRM job reads: the seeds and models upstream of the Hightouch syncs.
        result = dbtRunner().invoke(["build", "--select", "+exposure:*", "--resource-type", "seed",
                                     "--resource-type", "model", "--project-dir", str(REPO),
                                     "--profiles-dir", str(REPO), "--quiet"])
    assert result.success, f"initial dbt build failed: {result.exception}"
    return warehouse


def assert_history_is_apart(warehouse: Warehouse, db: Path) -> None:
    """A scan bounded to the events after the history reads no history row.

    DuckDB skips whole row groups (up to 122,880 rows) by their min/max. Were history
    and recent events to share row groups, rows read would measure this test's
    layout rather than the statements of the cycle.
    """
    with duckdb.connect(str(db)) as con:
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{db.parent / 'layout_profile.json'}'")
        for table, recent_from in warehouse.recent_from.items():
            bound = f"from {LANDING_SCHEMA}.{table} where _streamkap_ts_ms >= {recent_from}"
            con.execute(f"select sum(_streamkap_offset) {bound}").fetchall()
            scanned = sum(scan.rows for scan in table_scans(json.loads(con.get_profiling_information())))
            (recent,) = con.execute(f"select count(*) {bound}").fetchone()
            assert scanned == recent, (f"{table}: a scan of its {recent} recent events read {scanned} rows; "
                                       "the history shares row groups with them")


def read_statements(log: Path) -> list[Statement]:
    """Every statement of dbt's JSON log (SQLQuery events), in the order dbt sent them."""
    statements = []
    for line in log.read_text().splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        if event["info"]["name"] == "SQLQuery":
            data = event["data"]
            statements.append(Statement(data["sql"], (data.get("node_info") or {}).get("unique_id") or ""))
    return statements


def crm_cycle(warehouse: Warehouse, stub: HightouchStub) -> list[Statement]:
    """Runs one cycle of the CRM job on the warehouse; returns the statements it sent."""
    with dbt_env(warehouse.root, "cycle", HIGHTOUCH_API_URL=stub.url, HIGHTOUCH_API_KEY="stub") as log:
        code = run_and_sync.main(["--selector", "crm_realtime", "--only-changed", "--project-dir", str(REPO),
                                  "--profiles-dir", str(REPO), "--poll-interval", "0.1"])
    assert code == 0, f"the CRM job exited with {code}"
    statements = read_statements(log)
    assert statements, f"no SQLQuery event in {log}"
    return statements


def table_scans(profile: Any) -> Iterator[Scan]:
    """Every scan of a table in a DuckDB JSON profile.

    Table functions (duckdb_tables(), information_schema) are scans too, but name no
    table. Rows read are the rows of the row groups the scan did not skip.
    """
    if isinstance(profile, list):
        for item in profile:
            yield from table_scans(item)
    elif isinstance(profile, dict):
        kind = profile.get("type", profile.get("operator_type"))
        info = profile.get("extra_info") or {}
        table = info.get("Table") if kind == "TABLE_SCAN" else None
        if table:
            rows = profile.get("rows_scanned", profile.get("operator_rows_scanned"))
            assert rows is not None, f"the profile of a scan of {table} has no rows_scanned: {profile}"
            filters = info.get("Filters") or ""
            filters = " and ".join(filters) if isinstance(filters, list) else str(filters)
            yield Scan(table, re.sub(r"\b\d+\b", "N", " ".join(filters.split())), int(rows))
        for key in ("operator", "children"):
            yield from table_scans(profile.get(key))


def is_landing(table: str) -> bool:
    """'warehouse.streamkap.sales_order' (catalog, schema, table) is a landing table."""
    parts = table.lower().split(".")
    return len(parts) >= 2 and parts[-2] == LANDING_SCHEMA


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


def replay(db: Path, statements: list[Statement]) -> list[Measured]:
    """Runs the statements in order on `db` with the profiler on; the landing rows each one read.

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
                    raise AssertionError(f"replaying {statement.label!r} failed: {error}\n{sql}") from error
                profile = json.loads(con.get_profiling_information(format="json"))
                if profile.get("result") == "error":
                    # No plan was run: DuckDB answered from table statistics (count(*),
                    # min/max), or the statement has no query plan (DDL, settings).
                    assert not reads_landing(con, sql), f"no profile for a statement scanning a landing table: {sql}"
                    measured.append(Measured(statement, ()))
                    continue
                scans = tuple(scan for scan in table_scans(profile) if is_landing(scan.table))
                measured.append(Measured(statement, scans))
    return measured


def reads_landing(con: duckdb.DuckDBPyConnection, sql: str) -> bool:
    """Whether the plan of a statement scans a landing table (False for statements without a plan)."""
    try:
        rows = con.execute(f"explain (format json) {sql}").fetchall()
    except duckdb.Error:
        return False
    return any(is_landing(table) for _, plan in rows for table in planned_tables(json.loads(plan)))


def landing_rows(measured: list[Measured]) -> int:
    return sum(m.landing_rows for m in measured)


def ratio(short: list[Measured], long: list[Measured]) -> float:
    """Landing rows the cycle read over the long history, per landing row read over the short one."""
    return landing_rows(long) / max(1, landing_rows(short))


def breakdown(short: list[Measured], long: list[Measured]) -> str:
    """Landing rows read per statement (node and statement start) and per scan, over the short and the long history."""
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    scans: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for column, measured in enumerate((short, long)):
        for m in measured:
            if m.scans:
                rows[m.statement.label][column] += m.landing_rows
            for scan in m.scans:
                where = f"scan of {scan.table.split('.')[-1]} where {scan.filters or '-'}"
                scans[m.statement.label][where][column] += scan.rows
    lines = [f"{'short':>9} {'long':>9}  statement (rows read from landing tables)"]
    for label, (a, b) in sorted(rows.items(), key=lambda item: (-item[1][1], item[0])):
        lines.append(f"{a:>9} {b:>9}  {label}")
        lines += [f"{sa:>9} {sb:>9}    {scan}" for scan, (sa, sb) in scans[label].items()]
    lines.append(f"{landing_rows(short):>9} {landing_rows(long):>9}  total")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both warehouses, and for each, its replica as the replayed cycle left it and the cycle's measures."""
    work = tmp_path_factory.mktemp("cycle_cost")
    simulator = MagentoSimulator(seed=11)
    initial = simulator.initial_load()
    new_events = simulator.next_batch()
    snapshot = work / "snapshot.duckdb"
    with duckdb.connect(str(snapshot)) as con:
        write_batch(con, initial)
        landed = {t: con.execute(f"select count(*) from {LANDING_SCHEMA}.{t}").fetchone()[0] for t in SHORT_HISTORY}
    # Ten times the landing rows of each change log, snapshot included.
    long_history = {t: HISTORY_FACTOR * (landed[t] + rows) - landed[t] for t, rows in SHORT_HISTORY.items()}
    warehouses = {"short": build_warehouse(work / "short", snapshot, initial, SHORT_HISTORY),
                  "long": build_warehouse(work / "long", snapshot, initial, long_history)}

    result: dict[str, Any] = {"warehouses": warehouses}
    with HightouchStub() as stub:
        for name, warehouse in warehouses.items():
            with duckdb.connect(str(warehouse.db)) as con:
                write_batch(con, new_events)  # the same new events in both
            replica = warehouse.replica("before_cycle")
            assert_history_is_apart(warehouse, replica)
            result[name] = (replica, replay(replica, crm_cycle(warehouse, stub)))
    return result


def test_landing_rows_read_per_cycle_follow_new_events_not_history(cycles) -> None:
    short, long = cycles["warehouses"]["short"], cycles["warehouses"]["long"]
    (_, a), (_, b) = cycles["short"], cycles["long"]
    report = breakdown(a, b)
    print(f"\nlanding rows read by one CRM cycle, history of {short.history_rows} vs {long.history_rows} rows:\n"
          f"{report}\nratio {ratio(a, b):.2f}")
    assert landing_rows(a) > 0, f"the cycle read no landing row: the new events were not applied\n{report}"
    assert ratio(a, b) <= MAX_RATIO, f"ten times the history made the cycle read {ratio(a, b):.2f}x the rows\n{report}"
    # Far below the history: under a twentieth of the rows the long history holds.
    assert landing_rows(b) < 0.05 * long.history_rows, f"the cycle reads whole change logs\n{report}"


def test_the_measure_catches_a_full_scan(cycles) -> None:
    """A statement reading a whole change log counts all its rows, and added to both cycles, breaks the ratio."""
    table = f"{LANDING_SCHEMA}.sales_order"
    full_scan = Statement(f"select count(distinct entity_id) from {table} where _streamkap_ts_ms >= 0", "")
    scans, cycles_with_scan = [], []
    for name in ("short", "long"):
        replica, cycle = cycles[name]
        # The replica holds the state its replayed cycle left: the scan runs as the cycle's last statement.
        scan = replay(replica, [full_scan])
        with duckdb.connect(str(replica)) as con:
            (landed,) = con.execute(f"select count(*) from {table}").fetchone()
        assert landing_rows(scan) == landed, f"a scan of all of {table} read {landing_rows(scan)} of {landed} rows"
        scans.append(scan)
        cycles_with_scan.append([*cycle, *scan])
    assert ratio(*scans) > 0.9 * HISTORY_FACTOR, breakdown(*scans)
    assert ratio(*cycles_with_scan) > MAX_RATIO, breakdown(*cycles_with_scan)
