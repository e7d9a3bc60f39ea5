"""Simulated warehouses for measuring what the few-minute jobs read (test_cycle_cost, make bench-scale).

A warehouse lands a simulated shop's snapshot, optionally after old events of some
change logs (history), and a few batches, is built once by dbt (not measured), then
receives a new micro-batch; a job run on it is captured by dbt's JSON debug log and replayed on a
copy taken just before the run (`statement_replay`).
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import duckdb
from dbt.cli.main import dbtRunner

from magento_warehouse.demo.simulator.simulator import Batch, write_batch
from magento_warehouse.devtools.statement_replay import LANDING_SCHEMA, Statement, read_statements, table_scans
from magento_warehouse.environment import temporary_environment
from magento_warehouse.paths import project_dir
from magento_warehouse.runner import run_and_sync

REPO = project_dir()
HISTORY_AGE_MS = 30 * 86_400_000  # the history ends 30 days before the snapshot's first event
HISTORY_MODELS = "path:models/staging/magento/history"
# What the CRM job reads: the seeds and models upstream of the Hightouch syncs.
CRM_UPSTREAM = "+exposure:*"


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
        with duckdb.connect(str(self.db)) as con:
            # dbt's in-process runs may leave their writes in the write-ahead log, which a copy of the file misses.
            con.execute("force checkpoint")
        shutil.copy(self.db, folder / self.db.name)
        return folder / self.db.name

    def land(self, batch: Batch) -> None:
        with duckdb.connect(str(self.db)) as con:
            write_batch(con, batch)
            con.execute("checkpoint")


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """The runner's report and dbt's console log go to `path`: a benchmark prints its own progress."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle, redirect_stdout(handle):
        yield


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
        "DBT_LOG_FILE_MAX_BYTES": "0",  # one file: a rotated part would go unread
        **extra,
    }
    with temporary_environment(values):
        yield root / phase / "logs" / "dbt.log"


def land_history(con: duckdb.DuckDBPyConnection, snapshot: str, table: str, rows: int, end_ms: int) -> None:
    """Appends `rows` old events of the snapshot's rows of `table`, one a second, the last before `end_ms`.

    The events copy the snapshot's rows, so every key exists and the current state
    does not change (each is older than the snapshot's event of its key). Columns
    go by name: landing tables carry Magento's full column set and may gain columns.
    """
    (snapshot_rows,) = con.execute(f"select count(*) from {snapshot}.{LANDING_SCHEMA}.{table}").fetchone()
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
            select *, row_number() over () - 1 as position from {snapshot}.{LANDING_SCHEMA}.{table}
        ) as landed
            on landed.position = history.range % {snapshot_rows}
    """)


def write_snapshot(path: Path, initial: Batch) -> Path:
    """The shop's initial snapshot alone, in its own file, to copy history from."""
    with duckdb.connect(str(path)) as con:
        write_batch(con, initial)
    return path


def build_warehouse(root: Path, snapshot: Path, initial: Batch, history: dict[str, int],
                    select: str = CRM_UPSTREAM, streamed: Sequence[Batch] = ()) -> Warehouse:
    """Change logs holding `history` old events each, then the shop's snapshot and the `streamed` batches;
    built once by dbt (not measured).

    Streamkap appends a change log in time order: the history is landed first, one
    write per change log, then the snapshot, then each batch. The history is
    checkpointed before the snapshot lands, so it takes row groups of its own, as in
    a warehouse that received it over months (checked by `layout_faults`; DuckDB merges
    an append at least as large as the row group before it into that row group, so
    keep what lands after the history smaller than it). Batches streamed for longer
    than the lookback put a run in the steady state, where its window no longer
    reaches the snapshot.
    """
    warehouse = Warehouse(root, history)
    root.mkdir(parents=True)
    with duckdb.connect(str(warehouse.db)) as con:
        con.execute(f"attach '{snapshot}' as snapshot (read_only)")
        con.execute(f"create schema {LANDING_SCHEMA}")
        for table, rows in history.items():
            first_ms = con.execute(f"select min(_streamkap_ts_ms) from snapshot.{LANDING_SCHEMA}.{table}").fetchone()[0]
            con.execute(f"create table {LANDING_SCHEMA}.{table} as "
                        f"select * from snapshot.{LANDING_SCHEMA}.{table} limit 0")
            land_history(con, "snapshot", table, rows, first_ms - HISTORY_AGE_MS)
            warehouse.recent_from[table] = first_ms - HISTORY_AGE_MS + 1
        con.execute("detach snapshot")
        # Persisted before the snapshot lands: DuckDB appends to a row group only until it is checkpointed.
        con.execute("checkpoint")
        for batch in (initial, *streamed):
            write_batch(con, batch)
    with dbt_env(root, "build"):
        result = dbtRunner().invoke(["build", "--select", *select.split(), "--resource-type", "seed",
                                     "--resource-type", "model", "--project-dir", str(REPO),
                                     "--profiles-dir", str(REPO), "--quiet"])
    if not result.success:
        raise RuntimeError(f"the initial dbt build of {root} failed: {result.exception}")
    return warehouse


def layout_faults(warehouse: Warehouse, db: Path) -> list[str]:
    """Change logs where a scan bounded to the events after the history reads history rows (none expected).

    DuckDB skips whole row groups (up to 122,880 rows) by their min/max. Were history
    and recent events to share row groups, landing rows scanned would measure the
    layout rather than the statements of a run.
    """
    faults = []
    with duckdb.connect(str(db)) as con:
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{db.parent / 'layout_profile.json'}'")
        for table, recent_from in warehouse.recent_from.items():
            bound = f"from {LANDING_SCHEMA}.{table} where _streamkap_ts_ms >= {recent_from}"
            con.execute(f"select sum(_streamkap_offset) {bound}").fetchall()
            scanned = sum(scan.rows_scanned for scan in table_scans(json.loads(con.get_profiling_information())))
            (recent,) = con.execute(f"select count(*) {bound}").fetchone()
            if scanned != recent:
                faults.append(f"{table}: a scan of its {recent} recent events read {scanned} rows")
    return faults


def crm_cycle(warehouse: Warehouse, hightouch_url: str, phase: str = "cycle") -> tuple[list[Statement], float]:
    """Runs one cycle of the CRM job on the warehouse; the statements it sent and its seconds."""
    with dbt_env(warehouse.root, phase, HIGHTOUCH_API_URL=hightouch_url, HIGHTOUCH_API_KEY="stub") as log, \
            _output_to(log.parent.parent / "output.txt"):
        began = time.perf_counter()
        code = run_and_sync.main(["--selector", "crm_realtime", "--only-changed", "--project-dir", str(REPO),
                                  "--profiles-dir", str(REPO), "--poll-interval", "0.1"])
        seconds = time.perf_counter() - began
    if code != 0:
        raise RuntimeError(f"the CRM job exited with {code} on {warehouse.root}; its output: "
                           f"{warehouse.root / phase / 'output.txt'}")
    return read_statements(log), seconds


def history_run(warehouse: Warehouse, phase: str = "history") -> tuple[list[Statement], float]:
    """Runs the history models (the trading job's history part); the statements it sent and its seconds."""
    with dbt_env(warehouse.root, phase) as log:
        began = time.perf_counter()
        result = dbtRunner().invoke(["run", "--select", HISTORY_MODELS, "--project-dir", str(REPO),
                                     "--profiles-dir", str(REPO), "--quiet"])
        seconds = time.perf_counter() - began
    if not result.success:
        raise RuntimeError(f"the history run on {warehouse.root} failed: {result.exception}")
    return read_statements(log), seconds
