"""A past CRM mart, rebuilt from history, is the mart that was built then.

On simulated Magento data: the newsletter mart (crm_newsletter_subscribers) is built
and its rows recorded, with the newest commit time it saw; more events land and the
history models take them in; then cdc_write_states_as_of writes the tables as they
were at that moment into another target's current-state schema, and that target
rebuilds the mart with its own SQL. The rebuild must equal the recorded mart.
"""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import REPO, dbt_errors

from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch

MART = "crm_newsletter_subscribers"
HISTORY = "path:models/staging/magento/history"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("state_as_of")
    # Two targets on one file: the warehouse as it runs, and a point-in-time rebuild.
    (work / "profiles.yml").write_text(textwrap.dedent(f"""\
        magento_warehouse:
          target: local
          outputs:
            local: {{type: duckdb, path: "{work / 'w.duckdb'}", schema: main, threads: 1}}
            pit: {{type: duckdb, path: "{work / 'w.duckdb'}", schema: pit, threads: 1}}
        """))
    return work


def dbt(work: Path, *args: str, expect_success: bool = True):
    result = dbtRunner().invoke([*args, "--project-dir", str(REPO), "--profiles-dir", str(work),
                                 "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--quiet"])
    if expect_success:
        assert result.success, dbt_errors(result)
    return result


def mart_rows(work: Path, schema_prefix: str) -> list[tuple]:
    with duckdb.connect(str(work / "w.duckdb")) as con:
        (schema,) = con.execute("select table_schema from information_schema.tables where table_name = ? "
                                "and table_schema like ?", [MART, f"{schema_prefix}%"]).fetchone()
        return con.execute(f'select * from "{schema}"."{MART}" order by all').fetchall()


def newest_commit_ms(work: Path) -> int:
    with duckdb.connect(str(work / "w.duckdb")) as con:
        return con.execute("select max(ms) from (select max(_streamkap_source_ts_ms) as ms from streamkap.newsletter_subscriber "
                           "union all select max(_streamkap_source_ts_ms) from streamkap.store)").fetchone()[0]


def land(work: Path, batch) -> None:
    with duckdb.connect(str(work / "w.duckdb")) as con:
        write_batch(con, batch)


def test_a_past_crm_mart_is_rebuilt_from_history(warehouse: Path) -> None:
    simulator = MagentoSimulator(seed=11)
    land(warehouse, simulator.initial_load())
    land(warehouse, simulator.next_batch())
    dbt(warehouse, "seed")
    dbt(warehouse, "run", "-s", f"+{MART}", HISTORY)
    then_rows = mart_rows(warehouse, "main")
    then_ms = newest_commit_ms(warehouse)

    for _ in range(3):
        land(warehouse, simulator.next_batch())
        dbt(warehouse, "run", "-s", f"+{MART}", HISTORY)
    assert newest_commit_ms(warehouse) > then_ms
    assert mart_rows(warehouse, "main") != then_rows, "nothing changed since: the rebuild would prove little"

    at = datetime.fromtimestamp(then_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    dbt(warehouse, "run-operation", "cdc_write_states_as_of",
        "--args", json.dumps({"at": at, "schema": "pit_magento", "model": MART}))
    dbt(warehouse, "seed", "--target", "pit")
    # The marts' email index is a lookup of incremental runs: a rebuild does not read it.
    dbt(warehouse, "run", "--target", "pit", "-s", f"+{MART}", "--exclude", "path:models/staging/magento/base",
        "config.cdc_lookup:true")
    assert mart_rows(warehouse, "pit") == then_rows


def test_a_mart_reading_tables_without_history_is_refused(warehouse: Path, capsys: pytest.CaptureFixture) -> None:
    result = dbt(warehouse, "run-operation", "cdc_write_states_as_of",
                 "--args", json.dumps({"at": "2026-01-01 00:00:00", "schema": "pit_magento", "model": "crm_contacts"}),
                 expect_success=False)
    assert not result.success
    message = capsys.readouterr().out  # a run-operation's error is logged, not raised
    assert "base_magento__customer_address_entity" in message and "base_magento__newsletter_subscriber" not in message
