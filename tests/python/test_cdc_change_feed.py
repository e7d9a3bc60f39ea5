"""The change feed of a current-state model (cdc_change_feed: true): before images of
every applied batch, pruned after the retention, reset by a rebuild.

Each test lands Streamkap-shaped events, runs the real current-state model in-process on
a DuckDB file, and reads `<table>__changes`.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import CdcProject, LandingTable, SecondEvents, dbt_errors

T0 = 1_767_000_000_000
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar", "qty": "integer"})
FEED = "main_magento.widget__changes"
ev = SecondEvents(T0)


@pytest.fixture
def widget(cdc_project: CdcProject) -> CdcProject:
    cdc_project.add_table(WIDGET)
    cdc_project.add_model("base_magento__widget", "{{ config(cdc_change_feed=true) }}\n"
                          "{{ streamkap_cdc.cdc_current_state('magento', 'widget', unique_key='entity_id') }}\n")
    return cdc_project


def apply(project: CdcProject, *events: dict[str, Any], full_refresh: bool = False) -> None:
    project.append("widget", events)
    project.dbt("run", *(["--full-refresh"] if full_refresh else []))


def feed(project: CdcProject) -> list[tuple]:
    """The feed's key rows, oldest run first: (entity_id, name, qty, row existed)."""
    return project.query(f"select entity_id, name, qty, __cdc_row_existed from {FEED} "
                         "where not __cdc_reset order by __cdc_changed_at, entity_id")


def resets(project: CdcProject) -> int:
    return project.query(f"select count(*) from {FEED} where __cdc_reset")[0][0]


def test_first_build_starts_the_feed_with_a_reset_and_no_key(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=1, qty=1))
    assert feed(widget) == [] and resets(widget) == 1


def test_before_images_of_insert_update_and_delete(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=1, qty=1), ev(2, "b", src=1, qty=2))
    apply(widget, ev(1, "a2", src=10, qty=5), ev(2, "b", src=10, qty=2, deleted="true"), ev(3, "c", src=10, qty=3))
    # The values before the merge; a key without a row has only its key.
    assert feed(widget) == [(1, "a", 1, True), (2, "b", 2, True), (3, None, None, False)]
    apply(widget, ev(3, "c2", src=20, qty=4))
    assert feed(widget)[-1] == (3, "c", 3, True)
    # The after images are the current state.
    assert widget.query("select entity_id, name from main_magento.widget order by 1") == [(1, "a2"), (3, "c2")]


def test_nothing_landed_records_nothing(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=1))
    apply(widget, ev(1, "b", src=5))
    before = widget.query(f"select count(*) from {FEED}")
    widget.dbt("run")
    assert widget.query(f"select count(*) from {FEED}") == before


def test_rows_older_than_the_retention_are_pruned(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=1))
    apply(widget, ev(1, "b", src=5))
    widget.query(f"update {FEED} set __cdc_changed_at = __cdc_changed_at - interval 73 hour")
    apply(widget, ev(2, "c", src=9))
    # The default retention is 72 hours: only this run's key is left.
    assert feed(widget) == [(2, None, None, False)]


def test_a_full_refresh_restarts_the_feed(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=1))
    apply(widget, ev(1, "b", src=5))
    apply(widget, ev(2, "c", src=9), full_refresh=True)
    # No before images survive a rebuild; the reset tells consumers to rebuild too.
    assert feed(widget) == [] and resets(widget) == 1
    apply(widget, ev(2, "d", src=12))
    assert feed(widget) == [(2, "c", None, True)]


def test_a_column_added_to_the_change_log_reaches_the_feed(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=1))
    with widget.connect() as con:
        con.execute("alter table streamkap.widget add column colour varchar")
    widget.tables["widget"].columns["colour"] = "varchar"
    apply(widget, ev(1, "b", src=5, colour="red"))
    apply(widget, ev(1, "c", src=9, colour="blue"))
    assert widget.query(f"select name, colour from {FEED} where not __cdc_reset order by __cdc_changed_at") == [
        ("a", None), ("b", "red")]


def test_a_bad_setting_is_named(cdc_project: CdcProject) -> None:
    cdc_project.add_table(WIDGET)
    cdc_project.add_model("base_magento__widget", "{{ config(cdc_change_feed='yes') }}\n"
                          "{{ streamkap_cdc.cdc_current_state('magento', 'widget', unique_key='entity_id') }}\n")
    cdc_project.append("widget", [ev(1, "a", src=1)])
    result = cdc_project.dbt("run", expect_success=False)
    assert "cdc_change_feed of model base_magento__widget must be true or false" in dbt_errors(result)
