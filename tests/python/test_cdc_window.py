"""The window of cdc_current_state: events committed long before it (a backlog, a
lagging partition), and the cost of a run, which reads only the new events."""

from __future__ import annotations

import json

import test_cdc_current_state as base
from conftest import CdcProject
from test_cdc_current_state import T0, apply, ev, state

# The fixture of test_cdc_current_state.py: a widget table and its current-state model.
widget = base.widget


# Events committed long before the window.

def watermark(project: CdcProject) -> tuple[int | None, int | None]:
    return project.query("select applied_through_ms, landed_rows from main_magento.cdc_watermarks "
                         "where table_name = 'widget'")[0]


def test_an_event_committed_long_before_the_window_updates_a_row_at_once(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(2, "b", src=7200))
    # First delivered two hours after its commit (a backlog longer than the lookback).
    apply(widget, ev(1, "a2", src=20, ts=7300))
    assert state(widget) == {1: "a2", 2: "b"}


def test_a_new_key_committed_long_before_the_window_waits_one_run_then_lands(widget: CdcProject) -> None:
    apply(widget, ev(2, "b", src=7200))
    apply(widget, ev(1, "late", src=20, ts=7300))
    # Whether it repeats an event of a deleted key would need the log from its commit
    # time: it waits, the next run is due and looks up its commit time only.
    assert state(widget) == {2: "b"}
    applied_through, landed = watermark(widget)
    assert landed is None and applied_through == T0 + 7300_500, "the window moved back"
    assert widget.query("select held_from_ms, held_to_ms from main_magento.cdc_watermarks") == [(T0 + 20_000,) * 2]
    widget.dbt("run")  # nothing new landed
    assert state(widget) == {1: "late", 2: "b"}
    assert watermark(widget)[1] is not None
    widget.dbt("run")
    assert state(widget) == {1: "late", 2: "b"}


def test_updates_of_existing_rows_never_move_the_window(widget: CdcProject) -> None:
    # A lagging partition: its events come hours after their commit.
    apply(widget, ev(1, "a", src=10), ev(2, "b", src=7200))
    apply(widget, ev(1, "lagging update", src=30, ts=7300), ev(1, "lagging update 2", src=40, ts=7301))
    assert state(widget) == {1: "lagging update 2", 2: "b"}
    assert watermark(widget) == (T0 + 7301_500, widget.query("select count(*) from streamkap.widget")[0][0])


def test_a_replay_of_a_deleted_key_committed_long_before_the_window_never_lands(widget: CdcProject) -> None:
    insert = ev(1, "a", src=10)
    apply(widget, insert)
    apply(widget, ev(1, "a", src=20, deleted="true"), ev(2, "b", src=7200))
    apply(widget, {**insert, "_streamkap_ts_ms": T0 + 7300 * 1000})
    assert state(widget) == {2: "b"}
    widget.dbt("run")
    assert state(widget) == {2: "b"}


# 11. Cost follows the delta: an incremental run reads only the new events.

def merge_rows_scanned(project: CdcProject) -> int:
    """Rows the last run's MERGE reads, sent again (a no-op by then) under DuckDB's profiler."""
    merge = next((project.root / "target/run").rglob("base_magento__widget.sql")).read_text()
    profile = project.root / "profile.json"
    with project.connect() as con:
        con.execute(f"pragma enable_profiling='json'; pragma profiling_output='{profile}'")
        con.execute(merge).fetchall()
        con.execute("pragma disable_profiling")
    return json.loads(profile.read_text())["query"]["total_rows_scanned"]


def test_incremental_run_reads_only_the_window(widget: CdcProject) -> None:
    history = 1_500_000  # 17 days of old events, one a second: a dozen DuckDB row groups
    with widget.connect() as con:
        con.execute(f"""
            insert into streamkap.widget
            select i % 5000, 'old', 1, {T0} + i * 1000, {T0} + i * 1000, i, 'false' from range({history}) r(i)
        """)
    widget.dbt("run")
    apply(widget, *(ev(k, "new", src=history + 60 + k, off=history + k) for k in range(10)))

    assert merge_rows_scanned(widget) < history / 5  # one or two row groups, not all
    assert state(widget)[3] == "new"


def test_a_queue_like_table_whose_rows_are_all_deleted_reads_only_the_new_events(widget: CdcProject) -> None:
    # cron_schedule, queues, sessions: every key is inserted, then deleted. The current
    # state is empty, but the window comes from the watermark, not from its rows.
    history = 1_500_000
    with widget.connect() as con:
        con.execute(f"""
            insert into streamkap.widget
            select i // 2, 'job', 1, {T0} + i * 1000, {T0} + i * 1000, i,
                   case when i % 2 = 1 then 'true' else 'false' end
            from range({history}) r(i)
        """)
    widget.dbt("run")
    assert state(widget) == {}
    apply(widget, *(ev(history + k, "new job", src=history + 60 + k) for k in range(10)))
    assert len(state(widget)) == 10
    assert merge_rows_scanned(widget) < history / 5  # one or two row groups, not the log


def test_a_run_with_nothing_new_sends_only_the_plan(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10))
    with widget.connect() as con:
        before = con.execute("select applied_at from main_magento.cdc_watermarks").fetchall()
    result = widget.dbt("run")
    [model] = [r for r in result.result.results if r.node.resource_type == "model"]
    assert model.adapter_response.get("code") == "NOOP"
    with widget.connect() as con:
        assert con.execute("select applied_at from main_magento.cdc_watermarks").fetchall() == before
