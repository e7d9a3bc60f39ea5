"""The whole project builds and tests green on simulated Magento data, twice over.

A fresh DuckDB warehouse gets the simulator's snapshot and two micro-batches; `dbt
build` runs after each (seeds, every model, unit tests, data tests, the
reconciliation of each current-state table with its change log).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import REPO

from magento_warehouse.demo.simulator.schema import TABLES
from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch

OK = {"success", "pass", "no-op", "warn"}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> tuple[Path, list]:
    work = tmp_path_factory.mktemp("project_build")
    db = work / "warehouse.duckdb"
    monkeypatch_module.setenv("DBT_DUCKDB_PATH", str(db))
    simulator = MagentoSimulator(seed=7)
    common = ["--project-dir", str(REPO), "--profiles-dir", str(REPO), "--target-path", str(work / "target"),
              "--log-path", str(work / "logs"), "--quiet"]
    results = []
    for batch in [simulator.initial_load(), simulator.next_batch(), simulator.next_batch()]:
        with duckdb.connect(str(db)) as con:
            write_batch(con, batch)
        result = dbtRunner().invoke(["build", *common])
        assert result.result is not None, result.exception
        results.append(result.result.results)
    return db, results


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_every_build_is_green(builds: tuple[Path, list]) -> None:
    _, results = builds
    for number, run in enumerate(results):
        bad = [f"{r.node.name}: {r.status} {r.message}" for r in run if str(r.status) not in OK]
        assert not bad, f"build {number}: {bad}"


def test_builds_ran_models_unit_tests_and_reconciliation(builds: tuple[Path, list]) -> None:
    _, results = builds
    for run in results:
        names = {r.node.name for r in run}
        assert {f"base_magento__{t}" for t in TABLES} <= names
        assert any(r.node.resource_type == "unit_test" for r in run)
        reconciled = [r for r in run if r.node.name.startswith("streamkap_cdc_cdc_matches_change_log")]
        assert len(reconciled) == len(TABLES) and all(str(r.status) == "pass" for r in reconciled)


def test_crm_marts_have_rows(builds: tuple[Path, list]) -> None:
    db, _ = builds
    with duckdb.connect(str(db)) as con:
        for mart in ("crm_contacts", "crm_customer_order_summary", "crm_newsletter_subscribers", "crm_abandoned_carts"):
            schema = con.execute(
                "select table_schema from information_schema.tables where table_name = ?", [mart]
            ).fetchone()[0]
            assert con.execute(f'select count(*) from "{schema}"."{mart}"').fetchone()[0] > 0, mart
