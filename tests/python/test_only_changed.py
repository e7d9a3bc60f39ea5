"""The few-minute CRM job rebuilds only the current-state models with new events.

run_and_sync --only-changed with the crm_realtime selector, on the real project and a
simulated warehouse, against the local Hightouch stand-in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import REPO

from magento_warehouse.runner import run_and_sync
from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch

CRM_CHANGE_LOGS = {"customer_address_entity", "customer_entity", "customer_group", "newsletter_subscriber",
                   "quote", "quote_item", "sales_order", "sales_order_address", "store"}


def warehouse_environment(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(root / "warehouse.duckdb"))
    monkeypatch.setenv("DBT_TARGET_PATH", str(root / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(root / "logs"))
    return root / "warehouse.duckdb"


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated shop, built once: each test gets a copy."""
    root = tmp_path_factory.mktemp("only_changed")
    with pytest.MonkeyPatch.context() as monkeypatch:
        db = warehouse_environment(monkeypatch, root)
        with duckdb.connect(str(db)) as con:
            write_batch(con, MagentoSimulator(seed=3).initial_load())
        assert dbtRunner().invoke(["build", "--project-dir", str(REPO), "--profiles-dir", str(REPO),
                                   "--quiet"]).success
        with duckdb.connect(str(db)) as con:
            con.execute("checkpoint")  # the copies read the file alone
    return root


@pytest.fixture
def warehouse(built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    db = warehouse_environment(monkeypatch, tmp_path)
    shutil.copyfile(built_warehouse / "warehouse.duckdb", db)
    shutil.copytree(built_warehouse / "target", tmp_path / "target")
    with HightouchStub() as stub:
        monkeypatch.setenv("HIGHTOUCH_API_URL", stub.url)
        monkeypatch.setenv("HIGHTOUCH_API_KEY", "stand-in-key")
        yield db, tmp_path, stub


def crm_job(tmp_path: Path, *options: str) -> tuple[int, set[str], set[str]]:
    """Runs the job; returns its exit code, the change logs rebuilt and the CRM marts built."""
    results_file = tmp_path / "target/run_results.json"
    results_file.unlink(missing_ok=True)  # a cycle that builds nothing writes none
    code = run_and_sync.main(["--selector", "crm_realtime", "--only-changed", *options,
                              "--project-dir", str(REPO), "--profiles-dir", str(REPO), "--poll-interval", "0.1"])
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    ran = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    return (code, {m.removeprefix("base_magento__") for m in ran if m.startswith("base_magento__")},
            {m for m in ran if m.startswith("crm_")})


def land_subscriber(db: Path, email: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("""
            insert into streamkap.newsletter_subscriber (
                subscriber_id, store_id, change_status_at, customer_id, subscriber_email, subscriber_status,
                _streamkap_source_ts_ms, _streamkap_ts_ms, _streamkap_offset, __deleted)
            select 999999, 1, now()::timestamp, 0, ?, 1,
                   epoch_ms(now()::timestamp), epoch_ms(now()::timestamp), 999999, 'false'
        """, [email])


def test_only_change_logs_with_new_events_are_rebuilt(warehouse) -> None:
    db, tmp_path, stub = warehouse
    with duckdb.connect(str(db)) as con:
        con.execute("delete from main_magento.cdc_watermarks")  # as if never run
    code, rebuilt, marts = crm_job(tmp_path)
    assert code == 0 and rebuilt == CRM_CHANGE_LOGS
    # One sync per mart, and one per website for contacts and new customers: 7 in the demo workspace.
    assert len(marts) == 5 and sorted(stub.triggered) == sorted(str(s["id"]) for s in stub.workspace["syncs"])

    triggered = len(stub.triggered)
    code, rebuilt, marts = crm_job(tmp_path)  # nothing new
    assert code == 0 and rebuilt == set()
    assert marts == set(), "a mart fed only by unchanged tables, built minutes ago, was rebuilt"
    assert len(stub.triggered) == triggered, "a sync ran though its mart was not rebuilt"

    land_subscriber(db, "only.change@example.com")
    code, rebuilt, marts = crm_job(tmp_path)
    assert code == 0 and rebuilt == {"newsletter_subscriber"}
    assert "crm_newsletter_subscribers" in marts
    assert "crm_abandoned_carts" not in marts, "a mart that reads no newsletter table was rebuilt"
    with duckdb.connect(str(db)) as con:
        assert con.execute("select count(*) from main_magento.newsletter_subscriber "
                           "where subscriber_email = 'only.change@example.com'").fetchone() == (1,)


def test_a_failed_model_is_rebuilt_on_the_next_run(warehouse) -> None:
    db, tmp_path, _ = warehouse
    assert crm_job(tmp_path)[0] == 0
    land_subscriber(db, "retry@example.com")
    with duckdb.connect(str(db)) as con:
        con.execute("alter table streamkap.newsletter_subscriber rename to newsletter_subscriber_away")
    code, _, _ = crm_job(tmp_path)
    assert code != 0
    with duckdb.connect(str(db)) as con:
        con.execute("alter table streamkap.newsletter_subscriber_away rename to newsletter_subscriber")
    code, rebuilt, _ = crm_job(tmp_path)
    assert code == 0 and "newsletter_subscriber" in rebuilt


def test_marts_that_read_the_clock_are_rebuilt_once_their_build_is_old(warehouse) -> None:
    """Nothing new, but windows measured from now move: with --clock-refresh-minutes 0 the
    marts that read the clock rebuild every cycle."""
    _, tmp_path, _ = warehouse
    assert crm_job(tmp_path)[0] == 0
    code, rebuilt, marts = crm_job(tmp_path, "--clock-refresh-minutes", "0")
    assert code == 0 and rebuilt == set()
    # The windowed marts at least; a mart whose macros read as_of (an incremental plan) too.
    assert {"crm_new_customers", "crm_abandoned_carts"} <= marts
    code, rebuilt, marts = crm_job(tmp_path)  # just rebuilt: fresh for the default 30 minutes
    assert code == 0 and (rebuilt, marts) == (set(), set())
