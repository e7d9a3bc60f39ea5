"""The bad-input matrix: what a change log can throw at the current state.

Each case ends in a clear error naming the table, column or setting, or in a
quarantine that a source test reports. None ends in silent loss: after an error the
current state is left as it was.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from conftest import CdcProject, LandingTable, SecondEvents, data_test_results, dbt_errors

T0 = 1_767_000_000_000
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar", "qty": "integer",
                                 "price": "decimal(10,2)"})
MODEL = "main_magento.widget"


_events = SecondEvents(T0)


def ev(key: Any, name: str, *, src: int, off: int | None = None, deleted: Any = "false", **columns: Any) -> dict[str, Any]:
    return _events(key, name, src=src, off=off, deleted=deleted, **{"qty": 1, "price": 9.99, **columns})


@pytest.fixture
def widget(cdc_project: CdcProject) -> CdcProject:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id")
    cdc_project.append("widget", [ev(1, "a", src=10), ev(2, "b", src=10)])
    cdc_project.dbt("run")
    return cdc_project


def state(project: CdcProject) -> dict[int, str]:
    return dict(project.query(f"select entity_id, name from {MODEL}"))


def fails_leaving_the_state(project: CdcProject, *messages: str) -> None:
    before = project.query(f"select * from {MODEL} order by all")
    errors = dbt_errors(project.dbt("run", expect_success=False))
    for message in messages:
        assert message in errors
    assert project.query(f"select * from {MODEL} order by all") == before


@pytest.mark.parametrize("column, new_type, value", [
    ("qty", "varchar", "12 boxes"),           # int to text
    ("price", "decimal(12,4)", Decimal("1234567.1234")),  # a widened decimal
])
def test_a_landing_column_that_changes_type_stops_the_run_naming_it(widget: CdcProject, column: str,
                                                                     new_type: str, value: Any) -> None:
    widget.query(f"alter table streamkap.widget alter {column} type {new_type}")
    widget.append("widget", [ev(1, "a2", src=20, **{column: value})])
    fails_leaving_the_state(widget, f"column {column} of change log", "--full-refresh")
    # The rebuild it asks for takes the new type and the new event.
    widget.dbt("run", "--full-refresh")
    assert widget.query(f"select {column} from {MODEL} where entity_id = 1") == [(value,)]


def test_a_column_dropped_upstream_stops_the_run_naming_it(widget: CdcProject) -> None:
    widget.query("alter table streamkap.widget drop column qty")
    del widget.tables["widget"].columns["qty"]
    widget.append("widget", [ev(1, "a2", src=20)])
    fails_leaving_the_state(widget, "qty", "no longer in its change log")


def test_a_renamed_key_column_stops_the_run_naming_it(widget: CdcProject) -> None:
    widget.query("alter table streamkap.widget rename column entity_id to id")
    fails_leaving_the_state(widget, "unique_key column 'entity_id' is not a column of", "widget")


def test_a_missing_landing_table_stops_the_run_naming_it(widget: CdcProject) -> None:
    widget.query("drop table streamkap.widget")
    fails_leaving_the_state(widget, '"streamkap"."widget" does not exist')


def test_one_run_applies_a_batch_of_a_million_events(widget: CdcProject) -> None:
    # 100,000 keys, ten events each; the newest of each key (offset) decides.
    with widget.connect() as con:
        con.execute(f"""
            insert into streamkap.widget
            select i % 100000, 'v' || (i // 100000), i // 100000, 1.5, {T0} + 60000 + i, {T0} + 60000 + i,
                   1000 + i, case when i % 100000 = 7 and i // 100000 = 9 then 'true' else 'false' end
            from range(1000000) r(i)
        """)
    widget.dbt("run")
    assert widget.query(f"select count(*), count(distinct entity_id), min(name), max(name) from {MODEL}") == [
        (99_999, 99_999, "v9", "v9")]
    assert widget.query(f"select count(*) from {MODEL} where entity_id = 7") == [(0,)]


def test_garbage_deleted_flags_and_negative_offsets_are_quarantined_and_reported(widget: CdcProject) -> None:
    widget.append("widget", [
        ev(1, "garbage flag", src=20, deleted="yes"),
        ev(2, "negative offset", src=20, off=-5),
        ev(3, "offset zero", src=20, off=0),  # Kafka's first offset: a real event
    ])
    result = widget.dbt("build")
    assert state(widget) == {1: "a", 2: "b", 3: "offset zero"}
    placeable = [r for r in data_test_results(result) if "streamkap_events_are_placeable" in r.node.name]
    assert [(r.status, r.failures) for r in placeable] == [("warn", 2)]
