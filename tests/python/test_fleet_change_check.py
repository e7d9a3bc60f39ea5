"""Finding the change logs with new events costs the same few queries for any fleet.

magento_warehouse.runner.change_check asks once for the whole fleet (`dbt run-operation
cdc_fleet_status`); here it runs on real dbt projects of 3 and 30 current-state
models, counting the statements dbt sends, and its answer is checked against which
change logs really received events.
"""

from __future__ import annotations

from typing import Any

from dbt.cli.main import dbtRunner

from conftest import CdcProject, LandingTable, change_event, make_cdc_project

from magento_warehouse.runner import change_check

T0 = 1_767_000_000_000


def fleet(tmp_path, size: int) -> CdcProject:
    project = make_cdc_project(tmp_path / f"fleet_{size}")
    for n in range(size):
        project.add_table(LandingTable(f"t{n:03}", {"entity_id": "integer", "name": "varchar"}))
        project.current_state_model(f"t{n:03}", "entity_id")
        land(project, n, 2)
    project.dbt("run")
    return project


def land(project: CdcProject, table_number: int, events: int) -> None:
    project.append(f"t{table_number:03}", [change_event(T0 + i, i, entity_id=i, name=f"v{i}") for i in range(events)])


def check(project: CdcProject) -> tuple[set[str], int]:
    """The unchanged models' names, and the statements the check sent."""
    flags = ["--project-dir", str(project.root), "--profiles-dir", str(project.root)]
    manifest = dbtRunner().invoke(["parse", "--quiet", *flags]).result
    statements: list[Any] = []
    unchanged = change_check.unchanged_models(
        manifest, flags, callbacks=[lambda e: statements.append(e) if e.info.name == "SQLQuery" else None])
    return {u.rsplit(".", 1)[1].removeprefix("base_magento__") for u in unchanged}, len(statements)


def test_the_check_sends_the_same_statements_for_3_and_30_models(tmp_path) -> None:
    small, large = fleet(tmp_path, 3), fleet(tmp_path, 30)
    (unchanged_small, sent_small), (unchanged_large, sent_large) = check(small), check(large)
    assert unchanged_small == {"t000", "t001", "t002"} and len(unchanged_large) == 30
    assert sent_small == sent_large <= 4  # the row counts, the watermarks (and the transaction)


def test_only_logs_that_grew_are_changed_and_a_missing_table_is_changed(tmp_path) -> None:
    project = fleet(tmp_path, 4)
    land(project, 1, 1)
    project.query("drop table main_magento.t002")
    unchanged, _ = check(project)
    assert unchanged == {"t000", "t003"}
