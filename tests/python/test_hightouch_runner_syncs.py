"""The runner triggers one sync per exposure of the generated file, the per-website
syncs included, against the Hightouch stand-in serving the demo's workspace.

A simulated shop lands in a fresh DuckDB warehouse; seeds and models upstream of
the exposures are built once; then run_and_sync runs the CRM job (crm_realtime) as
a scheduler would, and with --sync one per-website sync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from hightouch_workspace_helpers import REPO, demo_workspace

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch
from magento_warehouse.runner import run_and_sync

JOB = ["--selector", "crm_realtime", "--project-dir", str(REPO), "--profiles-dir", str(REPO), "--poll-interval", "0.1"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("runner_syncs")
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        write_batch(con, MagentoSimulator(seed=7, scale=0.2).initial_load())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_DUCKDB_PATH", str(root / "warehouse.duckdb"))
        patch.setenv("DBT_TARGET_PATH", str(root / "target"))
        patch.setenv("DBT_LOG_PATH", str(root / "logs"))
        result = dbtRunner().invoke(["build", "--select", "+exposure:*", "--resource-type", "seed",
                                     "--resource-type", "model", "--project-dir", str(REPO),
                                     "--profiles-dir", str(REPO), "--quiet"])
        assert result.success, f"initial dbt build failed: {result.exception}"
        yield root


def cycle(args: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One runner run against a fresh stand-in; the sync ids it triggered."""
    with HightouchStub(known_syncs_only=True) as stub:
        monkeypatch.setenv("HIGHTOUCH_API_URL", stub.url)
        monkeypatch.setenv("HIGHTOUCH_API_KEY", "stand-in")
        assert run_and_sync.main([*JOB, *args]) == 0
    return stub.triggered


def test_a_cycle_triggers_every_sync_once(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    triggered = cycle([], monkeypatch)
    assert sorted(triggered) == sorted(str(sync["id"]) for sync in demo_workspace()["syncs"])
    assert len(triggered) == 7


@pytest.mark.parametrize("name", ["emarsys-contacts-website-2", "hightouch_emarsys_contacts_website_2"])
def test_sync_names_one_per_website_sync(warehouse: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    assert cycle(["--sync", name], monkeypatch) == ["102"]
