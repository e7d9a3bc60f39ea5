"""What operators do to a pipeline, end to end: the simulator's recreated topic,
lagging partition, outage with re-snapshot and redelivery of old events, landed batch by
batch, the current-state models run after each (with the re-snapshot runbook), and
every current-state table equal to the simulated shop at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import REPO

from magento_warehouse.demo.simulator.operations import DEMO_SCHEDULE
from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch
from magento_warehouse.demo.run_demo import differences_from_magento


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(db))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    return db


def dbt(*args: str) -> None:
    result = dbtRunner().invoke([*args, "--project-dir", str(REPO), "--profiles-dir", str(REPO), "--quiet"])
    assert result.success, f"dbt {' '.join(args)}: {result.exception}"


def test_every_operation_lands_and_the_current_state_ends_equal_to_the_shop(warehouse: Path) -> None:
    simulator = MagentoSimulator(seed=7, operations=DEMO_SCHEDULE)
    batches = [simulator.initial_load(), *(simulator.next_batch() for _ in range(max(DEMO_SCHEDULE) + 1)),
               simulator.drain_batch()]
    assert [line.split(": ", 1)[1].split()[0] for line in simulator.operations_played] == [
        "recreate_topic", "lag", "outage", "redeliver_old"]
    base = ["--select", "path:models/staging/magento/base"]
    resnapshots = {}
    for batch in batches:
        with duckdb.connect(str(warehouse)) as con:
            write_batch(con, batch)
        dbt("run", *base)
        for table, started in batch.resnapshots.items():
            dbt("run-operation", "cdc_apply_resnapshot", "--args",
                json.dumps({"table": table, "snapshot_started_at_ms": started}))
            resnapshots[table] = started
    dbt("run", *base)  # what waited a run for its original's lookup
    assert set(resnapshots) == {"customer_entity", "quote"}
    assert differences_from_magento(warehouse, simulator) == []


def test_the_operations_leave_the_stream_as_streamkap_delivers_it() -> None:
    simulator = MagentoSimulator(seed=7, operations=DEMO_SCHEDULE)
    simulator.initial_load()
    batches = [simulator.next_batch() for _ in range(max(DEMO_SCHEDULE) + 2)]
    by_number = {batch.number: batch for batch in batches}
    customers = [row for batch in batches for row in batch.rows["customer_entity"]]
    # The recreated topic starts its offsets again: its re-snapshot's reads are offsets 0, 1, ...
    reads = [row for row in by_number[2].rows["customer_entity"] if row[-4] == by_number[2].resnapshots["customer_entity"]]
    assert reads and [row[-2] for row in reads] == list(range(len(reads)))
    assert min(row[-2] for row in customers) == 0 < max(row[-2] for row in customers)
    # The lagging partition delivers nothing for three batches, then its backlog in offset order.
    orders = {batch.number: batch.rows["sales_order"] for batch in batches}
    assert [len(orders[n]) == 0 for n in (2, 3, 4)] == [True] * 3 and orders[5]
    assert [row[-3] for row in orders[5]] == sorted(row[-3] for row in orders[5])
    assert min(row[-4] for row in orders[5]) < by_number[4].rows["quote"][0][-3] - 10 * 60_000, "no old commit"
    # The redelivery repeats the initial snapshot's events, processed anew.
    addresses = by_number[4].rows["customer_address_entity"]
    assert sum(1 for row in addresses if row[-4] < row[-3] - 10 * 60_000) >= 10
