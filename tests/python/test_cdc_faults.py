"""Faults: dbt killed at random moments of incremental runs, and models of one schema
built in parallel.

A killed run leaves its transaction unfinished: nothing it did is committed, its
watermark included, so the next run applies the same events again. After a clean
run the current state is the oracle's, every time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from conftest import CdcProject, LandingTable, change_event

T0 = 1_767_000_000_000
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar"})
MODEL = "main_magento.widget"
KILLS = 20


def dbt_process(project: CdcProject) -> subprocess.Popen[bytes]:
    """`dbt run` in its own process, so that it can be killed like a crashed job."""
    code = ("import sys; from dbt.cli.main import dbtRunner; "
            "sys.exit(0 if dbtRunner().invoke(sys.argv[1:]).success else 1)")
    return subprocess.Popen(
        [sys.executable, "-c", code, "run", "--project-dir", str(project.root), "--profiles-dir", str(project.root),
         "--quiet"],
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def oracle(events: list[dict[str, Any]]) -> dict[int, str]:
    """Per key, the event with the highest offset; absent when it is a delete."""
    newest: dict[int, dict[str, Any]] = {}
    for event in events:
        key = event["entity_id"]
        if key not in newest or event["_streamkap_offset"] > newest[key]["_streamkap_offset"]:
            newest[key] = event
    return {key: e["name"] for key, e in newest.items() if e["__deleted"] == "false"}


def test_runs_killed_at_random_moments_never_lose_an_event(cdc_project: CdcProject) -> None:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id")
    rng = random.Random(20261201)
    events: list[dict[str, Any]] = []
    offset, now = 0, T0
    killed_while_running = 0
    for kill in range(1, KILLS + 1):
        batch = []
        for _ in range(rng.randint(1, 30)):
            offset += 1
            now += rng.randint(1, 5000)
            batch.append(change_event(now, offset, entity_id=rng.randint(1, 40), name=f"v{offset}",
                                      deleted="true" if rng.random() < 0.2 else "false"))
        cdc_project.append("widget", batch)
        events.extend(batch)

        run = dbt_process(cdc_project)
        time.sleep(rng.uniform(0.3, 3.0))  # before, during or after the model's statements
        if run.poll() is None:
            killed_while_running += 1
            run.send_signal(signal.SIGKILL)  # no cleanup runs, as with a crash or the OOM killer
        run.wait()

        if kill % 4 == 0:
            clean = dbt_process(cdc_project)
            assert clean.wait() == 0, f"the clean run after kill {kill} failed"
            assert dict(cdc_project.query(f"select entity_id, name from {MODEL}")) == oracle(events), f"after kill {kill}"
    assert killed_while_running >= KILLS // 2, "too few runs were killed while running to prove anything"


def test_models_of_one_schema_build_in_parallel(cdc_project: CdcProject) -> None:
    # First builds on four threads create their tables side by side; the tables they
    # share (watermarks, repairs) are created once, before them.
    profile = cdc_project.root / "profiles.yml"
    profile.write_text(profile.read_text().replace("threads: 1", "threads: 4"))
    tables = [f"widget_{n}" for n in range(8)]
    for name in tables:
        cdc_project.add_table(LandingTable(name, WIDGET.columns))
        cdc_project.current_state_model(name, "entity_id")
        cdc_project.append(name, [change_event(T0, 1, entity_id=1, name=name)])
    cdc_project.dbt("run", "--full-refresh")
    for name in tables:
        assert cdc_project.query(f"select name from main_magento.{name}") == [(name,)]
    assert "threads: 4" in textwrap.dedent(profile.read_text())


def test_a_failing_post_hook_leaves_no_applied_delete_visible(cdc_project: CdcProject) -> None:
    # The MERGE removes the rows of delete events itself; the folder's post-hook is the
    # declared safety net. Make a post-hook fail after the MERGE, then read the table
    # and a staging view on it: no row carries an applied delete, whatever was committed.
    cdc_project.add_table(WIDGET)
    name = cdc_project.current_state_model("widget", "entity_id")
    model = cdc_project.root / f"models/staging/magento/base/{name}.sql"
    one_line = model.read_text()
    (cdc_project.root / "models/stg_widget.sql").write_text(
        "{{ config(materialized='view') }} select * from {{ ref('" + name + "') }}")

    def event(key: int, label: str, offset: int, deleted: str = "false") -> dict[str, Any]:
        return change_event(T0 + offset, offset, deleted=deleted, entity_id=key, name=label)

    cdc_project.append("widget", [event(1, "a", 1), event(2, "b", 2)])
    cdc_project.dbt("run")
    model.write_text("{{ config(post_hook=['select * from a_table_that_does_not_exist']) }}\n" + one_line)
    cdc_project.append("widget", [event(1, "a", 3, deleted="true"), event(2, "b2", 4)])
    assert not cdc_project.dbt("run", "--select", name, expect_success=False).success

    for relation in (MODEL, "main.stg_widget"):
        rows = dict(cdc_project.query(f"select entity_id, name from {relation}"))
        assert cdc_project.query(f"select count(*) from {relation} where __deleted") == [(0,)]
        # All of the batch or none of it: never the update without the delete.
        assert rows in ({1: "a", 2: "b"}, {2: "b2"}), relation
    model.write_text(one_line)
    cdc_project.dbt("run")
    assert dict(cdc_project.query(f"select entity_id, name from {MODEL}")) == {2: "b2"}
