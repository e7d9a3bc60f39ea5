"""The rows-read measure on small examples: what DuckDB's profiler reports for the scans of a
current-state table (docs/benchmarks/scale.md).

A current-state table of 300,000 keys (three row groups) and a batch of three keys:
a full scan selects every row; a join to the batch, and a MERGE from it, select only
the batch's keys (DuckDB pushes the join's keys into the scan); a literal IN list is
used only to skip row groups, so its scan selects whole row groups. A change log's
scan counts the rows within its bounds on ingestion time.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from magento_warehouse.devtools import snowflake_statements
from magento_warehouse.devtools.statement_replay import (
    Statement,
    breakdown,
    landing_rows,
    read_statements,
    replay,
    rows_read,
    total,
)

KEYS = 300_000
BATCH = (5, 150_000, 299_999)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema main_magento")
        con.execute("create schema streamkap")
        con.execute(f"create table main_magento.orders as select range as order_id, 'new' as status from range({KEYS})")
        con.execute("create table main_magento.batch as select * from (values "
                    + ", ".join(f"({key}, 'paid')" for key in BATCH) + ") as batch(order_id, status)")
        con.execute("create table streamkap.orders as select range as order_id, range as _streamkap_ts_ms "
                    f"from range({KEYS})")
        con.execute("create table main.scratch (n integer)")
    return db


def measure(db: Path, sql: str) -> int:
    return total(replay(db, [Statement(sql, "model.demo.orders")]), rows_read)


def test_a_full_scan_reads_every_row(warehouse: Path) -> None:
    assert measure(warehouse, "select count(distinct status) from main_magento.orders") == KEYS


def test_a_join_to_the_batch_reads_its_keys(warehouse: Path) -> None:
    sql = ("select count(*) from main_magento.orders as current_state "
           "inner join main_magento.batch using (order_id)")
    assert measure(warehouse, sql) == 2 * len(BATCH)  # the batch's rows, and the current state's


def test_a_merge_from_the_batch_reads_its_keys(warehouse: Path) -> None:
    sql = ("merge into main_magento.orders as current_state using main_magento.batch as incoming "
           "on current_state.order_id = incoming.order_id "
           "when matched then update set status = incoming.status "
           "when not matched then insert values (incoming.order_id, incoming.status)")
    assert measure(warehouse, sql) == 2 * len(BATCH)


def test_a_literal_in_list_reads_whole_row_groups(warehouse: Path) -> None:
    keys = ", ".join(str(key) for key in BATCH)
    read = measure(warehouse, f"select count(*) from main_magento.orders where order_id in ({keys})")
    assert read == KEYS  # one key in each of the three row groups


def test_a_bound_on_ingestion_time_reads_the_rows_it_selects(warehouse: Path) -> None:
    """Landing rows scanned skip whole row groups; rows read count the rows within the bound."""
    measured = replay(warehouse, [Statement(
        f"select sum(order_id) from streamkap.orders where _streamkap_ts_ms >= {KEYS - 10}", "")])
    assert total(measured, landing_rows) == KEYS - 2 * 122_880  # the last row group only
    assert total(measured, rows_read) == 10
    unbounded = replay(warehouse, [Statement("select sum(order_id) from streamkap.orders where order_id >= 0", "")])
    assert total(unbounded, rows_read) == KEYS


def test_tables_outside_the_measure_count_nothing(warehouse: Path) -> None:
    assert measure(warehouse, "insert into main.scratch select 1 from range(1000)") == 0


def test_breakdown_names_statements_and_scans(warehouse: Path) -> None:
    statement = Statement("select count(distinct status) from main_magento.orders", "model.demo.orders")
    runs = {"1x": replay(warehouse, [statement]), "10x": replay(warehouse, [statement, statement])}
    report = breakdown(runs, rows_read, "rows read")
    assert "orders: select count(distinct status) from main_magento.orders" in report
    assert f"{KEYS} {2 * KEYS:>9}  total" in report


def test_read_statements_needs_a_json_debug_log(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    event = {"info": {"name": "SQLQuery"}, "data": {"sql": "select 1", "node_info": {"unique_id": "model.a.b"}}}
    log.write_text(json.dumps(event) + "\n" + json.dumps({"info": {"name": "MainReportVersion"}, "data": {}}) + "\n")
    assert read_statements(log) == [Statement("select 1", "model.a.b")]
    log.write_text("")
    with pytest.raises(ValueError, match="no SQLQuery event"):
        read_statements(log)


def test_a_log_that_rolled_over_is_refused(tmp_path: Path) -> None:
    """dbt rolls its log over at 10 MB: the file then lacks the run's first statements."""
    log = tmp_path / "dbt.log"
    event = {"info": {"name": "SQLQuery"}, "data": {"sql": "select 2", "node_info": {"unique_id": "model.a.c"}}}
    log.write_text(json.dumps(event) + "\n")
    (tmp_path / "dbt.log.1").write_text(json.dumps({**event, "data": {**event["data"], "sql": "select 1"}}) + "\n")
    with pytest.raises(ValueError, match="rolled over into dbt.log.1"):
        read_statements(log)
    with pytest.raises(ValueError, match="--log-file-max-bytes 0"):
        snowflake_statements.read_statements(log, "run")
