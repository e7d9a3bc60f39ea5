"""The cdc_history contract, one scenario per rule.

Each test writes Streamkap-shaped events into a landing table, runs a real history
model in-process, and asserts on the versions it leaves.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import CdcProject, LandingTable, SecondEvents, dbt_errors

T0 = 1_767_000_000_000  # an epoch-ms origin; tests add seconds to it
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar", "qty": "integer"})
MODEL = "main_magento.history_magento__widget"



# One change event. `src` and `ts` are seconds after T0; offset defaults to a counter.
ev = SecondEvents(T0)


def at(seconds: int | None) -> datetime | None:
    """The timestamp (UTC, no zone) `seconds` after T0, as the history stores it."""
    if seconds is None:
        return None
    return datetime.fromtimestamp((T0 + seconds * 1000) / 1000, tz=timezone.utc).replace(tzinfo=None)


def history_model(project: CdcProject, table: str = "widget", unique_key: Any = "entity_id",
                  track_columns: Any = None, name: str | None = None) -> None:
    folder = project.root / "models/staging/magento/history"
    folder.mkdir(parents=True, exist_ok=True)
    track = "" if track_columns is None else f", track_columns={track_columns!r}"
    (folder / f"{name or 'history_magento__' + table}.sql").write_text(
        f"{{{{ streamkap_cdc.cdc_history('magento', '{table}', unique_key={unique_key!r}{track}) }}}}\n")


@pytest.fixture
def widget(cdc_project: CdcProject) -> CdcProject:
    cdc_project.add_table(WIDGET)
    history_model(cdc_project, track_columns=["name"])
    return cdc_project


def apply(project: CdcProject, *events: dict[str, Any], full_refresh: bool = False) -> None:
    project.append("widget", events)
    project.dbt("run", *(["--full-refresh"] if full_refresh else []))


def versions(project: CdcProject, key: int = 1) -> list[tuple]:
    return project.query(
        f"select name, qty, valid_from, valid_to, is_current from {MODEL} where entity_id = {key} order by version_number")


def test_tracked_changes_open_versions_and_untracked_ones_update_in_place(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", qty=5, src=10), ev(1, "a", qty=4, src=20), ev(1, "b", qty=4, src=30))
    assert versions(widget) == [("a", 4, at(10), at(30), False), ("b", 4, at(30), None, True)]


def test_a_delete_closes_the_version_and_a_reinsert_opens_one(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", qty=1, src=10), ev(1, "a", qty=1, src=20, deleted="true"))
    assert versions(widget) == [("a", 1, at(10), at(20), False)]
    apply(widget, ev(1, "a", qty=1, src=40))
    assert versions(widget) == [("a", 1, at(10), at(20), False), ("a", 1, at(40), None, True)]


def test_redelivered_duplicates_open_no_version(widget: CdcProject) -> None:
    first = ev(1, "a", qty=1, src=10)
    second = ev(1, "b", qty=1, src=20)
    apply(widget, first, second)
    # Redelivered later: same offsets, later ingestion.
    apply(widget, {**first, "_streamkap_ts_ms": first["_streamkap_ts_ms"] + 60_000},
          {**second, "_streamkap_ts_ms": second["_streamkap_ts_ms"] + 60_000}, dict(second))
    assert versions(widget) == [("a", 1, at(10), at(20), False), ("b", 1, at(20), None, True)]


def test_a_late_event_splits_the_version_it_falls_into(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", qty=1, src=10, off=10), ev(1, "c", qty=1, src=30, off=30))
    # Delivered between them, visible only after the run that applied them.
    apply(widget, ev(1, "b", qty=1, src=20, off=20))
    assert versions(widget) == [("a", 1, at(10), at(20), False), ("b", 1, at(20), at(30), False),
                                ("c", 1, at(30), None, True)]
    incremental = widget.query(f"select * from {MODEL} order by all")
    widget.dbt("run", "--full-refresh")
    assert widget.query(f"select * from {MODEL} order by all") == incremental


def test_a_late_delete_closes_the_version_early(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", qty=1, src=10, off=10), ev(1, "a", qty=2, src=30, off=30))
    assert versions(widget) == [("a", 2, at(10), None, True)]
    apply(widget, ev(1, "a", qty=1, src=20, off=20, deleted="true"))
    assert versions(widget) == [("a", 1, at(10), at(20), False), ("a", 2, at(30), None, True)]


def test_unplaceable_events_are_left_out(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(None, "x", src=11), {**ev(2, "y", src=12), "_streamkap_offset": None},
          {**ev(3, "z", src=13), "_streamkap_source_ts_ms": None})
    assert widget.query(f"select entity_id, name from {MODEL}") == [(1, "a")]


def test_valid_from_never_runs_backwards(widget: CdcProject) -> None:
    # A snapshot's read carries the export's start time; a change ordered after it was
    # committed earlier. The later version starts when the earlier one did, not before.
    apply(widget, ev(1, "a", src=50, off=1), ev(1, "b", src=40, off=2, ts=51), ev(1, "c", src=60, off=3))
    assert versions(widget) == [("a", None, at(50), at(50), False), ("b", None, at(50), at(60), False),
                                ("c", None, at(60), None, True)]


def test_a_run_without_new_events_sends_no_statement_but_the_plan(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10))
    result = widget.dbt("run")
    (node,) = [r for r in result.result if r.node.name == "history_magento__widget"]
    assert node.adapter_response.get("code") == "NOOP"


def test_only_touched_keys_are_recomputed(widget: CdcProject) -> None:
    # Key 1's event is older than the lookback when the next run starts.
    apply(widget, ev(1, "a", src=10), ev(2, "a", src=2000))
    # An edit outside the engine shows which keys a run rewrites.
    with widget.connect() as con:
        con.execute(f"update {MODEL} set qty = 99")
    apply(widget, ev(2, "b", src=3000))
    assert widget.query(f"select entity_id, qty from {MODEL} order by all") == [(1, 99), (2, None), (2, None)]


def test_every_magento_column_is_tracked_by_default(cdc_project: CdcProject) -> None:
    cdc_project.add_table(WIDGET)
    history_model(cdc_project)
    apply(cdc_project, ev(1, "a", qty=1, src=10), ev(1, "a", qty=2, src=20))
    assert [v[:2] for v in versions(cdc_project)] == [("a", 1), ("a", 2)]


def test_an_unknown_track_column_stops_the_run(cdc_project: CdcProject) -> None:
    cdc_project.add_table(WIDGET)
    history_model(cdc_project, track_columns=["colour"])
    cdc_project.append("widget", [ev(1, "a", src=10)])
    result = cdc_project.dbt("run", expect_success=False)
    assert "track column 'colour'" in dbt_errors(result)


def test_the_nightly_repair_applies_events_visible_after_the_lookback(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10, off=10), ev(1, "c", src=30, off=30), ev(2, "x", src=2000))
    # Ingested at 20 s but visible only now: older than the window of the next run.
    widget.append("widget", [ev(1, "b", src=20, off=20)])
    widget.append("widget", [ev(3, "y", src=2100)])
    widget.dbt("run")
    assert [v[0] for v in versions(widget)] == ["a", "c"]
    widget.dbt("run", "--vars", "{cdc_repair: true}")
    assert [v[0] for v in versions(widget)] == ["a", "b", "c"]
    repaired = widget.query(f"select * from {MODEL} order by all")
    widget.dbt("run", "--full-refresh")
    assert widget.query(f"select * from {MODEL} order by all") == repaired


def test_a_resnapshot_closes_the_open_version_of_a_key_it_did_not_find(
        widget: CdcProject, capsys: pytest.CaptureFixture[str]) -> None:
    widget.add_model("base_magento__widget", "{{ streamkap_cdc.cdc_current_state('magento', 'widget', unique_key='entity_id') }}\n")
    apply(widget, ev(1, "a", src=10, off=1), ev(2, "b", src=11, off=2))
    # Key 2 is deleted during an outage, unseen; the re-snapshot at 100 s reads key 1 only.
    started = 100
    apply(widget, ev(1, "a", src=started, off=3, ts=started + 1))
    capsys.readouterr()
    widget.dbt("run-operation", "cdc_apply_resnapshot", "--args",
               f"{{table: widget, snapshot_started_at_ms: {T0 + started * 1000}}}")
    assert "removed 1 row(s)" in capsys.readouterr().out
    closed = [("b", None, at(11), at(started), False)]
    widget.dbt("run")  # nothing new landed: the re-snapshot alone makes the run
    assert versions(widget, key=2) == closed
    widget.dbt("run", "--full-refresh")
    assert versions(widget, key=2) == closed
    assert versions(widget, key=1) == [("a", None, at(10), None, True)]
    as_of = f"{{{{ streamkap_cdc.cdc_state_as_of(ref('history_magento__widget'), '{at(started + 1)}') }}}}"
    (widget.root / "analyses").mkdir(exist_ok=True)
    (widget.root / "analyses" / "state_then.sql").write_text(f"select entity_id from {as_of} as state_then\n")
    widget.dbt("compile", "--select", "state_then")
    compiled = next((widget.root / "target/compiled").rglob("state_then.sql")).read_text()
    assert widget.query(compiled) == [(1,)]


def test_a_version_continued_from_before_the_window_keeps_its_start(widget: CdcProject) -> None:
    # Key 1's version changes in place at 20 s; key 2's event at 2000 s puts the next
    # window's start after both, so key 1's next event continues it from its checkpoint.
    apply(widget, ev(1, "a", qty=1, src=10), ev(1, "a", qty=2, src=20), ev(2, "x", src=2000))
    apply(widget, ev(1, "a", qty=3, src=2100))
    assert versions(widget) == [("a", 3, at(10), None, True)]


def test_a_backdated_change_continued_from_before_the_window_starts_no_earlier_than_the_read(
        widget: CdcProject) -> None:
    # A snapshot's read at 50 s, then changes committed at 40 s and 45 s (ordered after
    # it); the window of the last run starts between them.
    apply(widget, ev(1, "a", src=50, off=1), ev(1, "a", qty=2, src=40, off=2, ts=51), ev(2, "x", src=2000, off=3))
    apply(widget, ev(1, "b", src=45, off=4, ts=2100))
    assert versions(widget) == [("a", 2, at(50), at(50), False), ("b", None, at(50), None, True)]
