"""A steady history run reads the window's events, never a key's older events.

One key of a landing table has a long history (whole row groups of events, each
changing a tracked column, so as many versions); the history model is built, two
micro-batches land, and the run after the second is captured from dbt's JSON debug
log. Its statements are replayed in order on a copy of the warehouse taken just
before it, with DuckDB's profiler on: every scan of the landing table must carry a
literal lower bound on `_streamkap_ts_ms`, and the rows it reads must be the same
whether the key's history fills one row group or four.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest

from conftest import LANDING_SCHEMA, CdcProject, LandingTable, make_cdc_project, run_dbt

from magento_warehouse.devtools.dbt_log import sql_queries

pytestmark = pytest.mark.slow

ROW_GROUP = 122_880  # DuckDB's rows per row group: the unit a scan skips
T0 = 1_767_000_000_000
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar"})
MODEL = "main_magento.history_magento__widget"
TRANSACTION_CONTROL = {"begin", "begin transaction", "start transaction", "commit", "end", "rollback"}
QUERY_COMMENT = re.compile(r"^\s*/\*.*?\*/\s*", re.S)


@dataclass(frozen=True)
class Scan:
    table: str
    filters: str
    rows: int


def history_project(root: Path, history_events: int) -> CdcProject:
    """A history model whose key 1 has `history_events` old events, landed in one insert
    (so in whole row groups of their own), its name alternating: one version per event."""
    project = make_cdc_project(root)
    project.add_table(WIDGET)
    folder = project.root / "models/staging/magento/history"
    folder.mkdir(parents=True)
    (folder / "history_magento__widget.sql").write_text(
        "{{ streamkap_cdc.cdc_history('magento', 'widget', unique_key='entity_id', track_columns=['name']) }}\n")
    with project.connect() as con:
        con.execute(
            f"insert into {LANDING_SCHEMA}.widget (entity_id, name, _streamkap_source_ts_ms, _streamkap_ts_ms, "
            f"_streamkap_offset, __deleted) "
            f"select 1, case when i % 2 = 0 then 'a' else 'b' end, {T0} + i * 1000, {T0} + i * 1000 + 500, i, 'false' "
            f"from range({history_events}) as t(i)")
    return project


def batch(project: CdcProject, start_ms: int, offset: int, names: dict[int, str]) -> None:
    """One event per key, one second apart from `start_ms`."""
    project.append("widget", [
        {"entity_id": key, "name": name, "_streamkap_source_ts_ms": start_ms + i * 1000,
         "_streamkap_ts_ms": start_ms + i * 1000 + 500, "_streamkap_offset": offset + i, "__deleted": "false"}
        for i, (key, name) in enumerate(names.items())])


def steady_run(project: CdcProject, history_events: int) -> tuple[Path, list[str]]:
    """Builds the model, runs it after a first batch, lands a second; returns a copy of
    the warehouse then and the statements of the run that applies the second batch."""
    project.dbt("run")
    after = T0 + history_events * 1000 + 3_600_000  # an hour after the history
    batch(project, after, history_events, {1: "c", 2: "x"})
    project.dbt("run")
    batch(project, after + 10_000, history_events + 10, {1: "d", 2: "y", 3: "z"})
    replica = project.root / "replica" / project.db_path.name
    replica.parent.mkdir()
    # dbt-duckdb keeps the file open in-process: its write-ahead log holds the latest writes.
    for path in project.db_path.parent.glob(project.db_path.name + "*"):
        shutil.copy(path, replica.parent / path.name)
    logs = project.root / "steady_logs"
    run_dbt(["run", "--log-path", str(logs), "--log-format-file", "json", "--log-level-file", "debug",
             "--log-file-max-bytes", "0"], project.root)
    statements = [query["sql"] for query in sql_queries(logs / "dbt.log")]
    assert statements, "the run logged no statement"
    return replica, statements


def table_scans(profile: Any) -> Iterator[Scan]:
    """Every scan of a table in a DuckDB JSON profile (rows: those of the row groups it did not skip)."""
    if isinstance(profile, list):
        for item in profile:
            yield from table_scans(item)
    elif isinstance(profile, dict):
        info = profile.get("extra_info") or {}
        if profile.get("operator_type", profile.get("type")) == "TABLE_SCAN" and info.get("Table"):
            filters = info.get("Filters") or ""
            filters = " and ".join(filters) if isinstance(filters, list) else str(filters)
            yield Scan(info["Table"], " ".join(filters.split()), int(profile.get("rows_scanned", profile.get("operator_rows_scanned"))))
        for key in ("operator", "children"):
            yield from table_scans(profile.get(key))


def replay(db: Path, statements: list[str]) -> list[tuple[str, Scan]]:
    """Runs the statements in order on `db` (one thread, profiler on); each scan with its statement."""
    scans = []
    with duckdb.connect(str(db)) as con:
        con.execute("set threads = 1")
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{db.parent / 'profile.json'}'")
        for statement in statements:
            for part in duckdb.extract_statements(statement):
                sql = part.query.strip().rstrip(";").strip()
                if not sql or " ".join(QUERY_COMMENT.sub("", sql).lower().split()) in TRANSACTION_CONTROL:
                    continue
                con.execute(sql)
                profile = json.loads(con.get_profiling_information(format="json"))
                if profile.get("result") != "error":
                    scans.extend((sql, scan) for scan in table_scans(profile))
    return scans


def landing_scans(scans: list[tuple[str, Scan]]) -> list[tuple[str, Scan]]:
    return [(sql, scan) for sql, scan in scans if scan.table.lower().split(".")[-2:] == [LANDING_SCHEMA, "widget"]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[CdcProject, list[tuple[str, Scan]]]]:
    measured = {}
    for groups in (1, 4):
        events = groups * ROW_GROUP
        project = history_project(tmp_path_factory.mktemp(f"history_{groups}") / "project", events)
        replica, statements = steady_run(project, events)
        measured[groups] = (project, replay(replica, statements))
    return measured


def test_every_read_of_the_change_log_has_a_literal_ingestion_time_bound(runs) -> None:
    _, scans = runs[4]
    reads = landing_scans(scans)
    assert reads, "the steady run read nothing from the change log"
    for sql, scan in reads:
        assert re.search(r"_streamkap_ts_ms\s*>=\s*\d+", scan.filters), (
            f"a scan of the change log without a literal lower bound on _streamkap_ts_ms "
            f"(filters: {scan.filters!r}):\n{sql}")


def test_rows_read_from_the_change_log_do_not_grow_with_a_keys_history(runs) -> None:
    short = sum(scan.rows for _, scan in landing_scans(runs[1][1]))
    long = sum(scan.rows for _, scan in landing_scans(runs[4][1]))
    assert long == short, f"the steady run read {short} landing rows over one row group of history, {long} over four"
    assert long < ROW_GROUP, f"the steady run read {long} landing rows: old events of key 1 among them"


def test_the_run_reads_no_version_of_the_history_to_recompute(runs) -> None:
    # The versions are continued from per-key checkpoints: only the MERGE that writes the
    # history touches it, and the checkpoints read are one per key.
    _, scans = runs[4]
    for sql, scan in scans:
        name = scan.table.lower().split(".")[-1]
        if name == "history_magento__widget":
            assert QUERY_COMMENT.sub("", sql).lower().startswith("merge into"), f"the history table read by:\n{sql}"
        if name == "history_magento__widget__cdc_checkpoints":
            assert scan.rows <= 3 or QUERY_COMMENT.sub("", sql).lower().startswith("merge into"), sql


def test_the_steady_run_equals_a_rebuild(runs) -> None:
    project, _ = runs[4]
    versions = project.query(f"select name from {MODEL} where entity_id = 1 order by version_number desc limit 3")
    assert versions == [("d",), ("c",), ("b",)]
    incremental = project.query(f"select * from {MODEL} order by all")
    project.dbt("run", "--full-refresh")
    assert project.query(f"select * from {MODEL} order by all") == incremental
