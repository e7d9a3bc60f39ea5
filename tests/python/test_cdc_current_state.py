"""The cdc_current_state contract, one test (or a few) per rule of the engine.

Each test writes Streamkap-shaped events into a landing table, runs the real
current-state model in-process, and asserts on the table it leaves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, CdcProject, LandingTable, SecondEvents, data_test_results, dbt_errors

MINUTE = 60_000
T0 = 1_767_000_000_000  # an epoch-ms origin; tests add offsets to it
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar", "qty": "integer"})
MODEL = "main_magento.widget"


# One change event. `src` and `ts` are seconds after T0; offset defaults to a counter.
ev = SecondEvents(T0)


@pytest.fixture
def widget(cdc_project: CdcProject) -> CdcProject:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id")
    return cdc_project


def apply(project: CdcProject, *events: dict[str, Any], full_refresh: bool = False) -> None:
    """Lands a batch of events, then runs the few-minute job on it."""
    project.append("widget", events)
    project.dbt("run", *(["--full-refresh"] if full_refresh else []))


def state(project: CdcProject, relation: str = MODEL) -> dict[Any, str | None]:
    return dict(project.query(f"select entity_id, name from {relation}"))


def full_table(project: CdcProject, relation: str = MODEL) -> list[tuple]:
    return project.query(f"select * from {relation} order by all")


# 1. Per key, the latest first delivery wins (streamkap_cdc README, Event order); ties resolve deterministically.

def test_latest_delivery_then_offset_then_commit_time_wins(widget: CdcProject) -> None:
    apply(widget,
          # A recreated topic, undeclared: its offsets restart, its events come later.
          ev(1, "old topic, offset 900", src=10, off=900),
          ev(1, "new topic, offset 3", src=20, off=3),
          ev(1, "new topic, offset 5", src=20, off=5, ts=21),
          # One millisecond of ingestion: the offset, then the commit time, decide.
          ev(2, "offset 7, early commit", src=5, off=7, ts=6),
          ev(2, "offset 7, late commit", src=6, off=7, ts=6),
          ev(3, "only", src=5))
    assert state(widget) == {1: "new topic, offset 5", 2: "offset 7, late commit", 3: "only"}


def test_an_undeclared_topic_recreation_is_recognised_from_the_data(widget: CdcProject) -> None:
    # Keys 1-5 at offsets 1000-5000; the topic is recreated (offsets restart) and keys 1
    # and 2 change and key 3 is deleted, committed later, at offsets 5-8.
    apply(widget, *[ev(k, "old topic", src=10 + k, off=1000 * k) for k in range(1, 6)])
    apply(widget, ev(1, "new topic", src=100, off=5), ev(2, "new topic", src=101, off=6))
    apply(widget, ev(3, "old topic", src=102, off=7, deleted="true"))
    expected = {1: "new topic", 2: "new topic", 4: "old topic", 5: "old topic"}
    assert state(widget) == expected
    widget.dbt("run", "--vars", "{cdc_repair: true}")
    assert state(widget) == expected
    widget.dbt("run", "--full-refresh")
    assert state(widget) == expected


def test_a_declared_reset_still_orders_the_new_topic_last(widget: CdcProject) -> None:
    # The declaration stays as an override: events ingested from it on are new events.
    apply(widget, ev(1, "old topic", src=10, off=500), ev(2, "old topic", src=10, off=501))
    reset_ms = T0 + 60 * 1000
    resets = ["--vars", f"{{cdc_offset_resets: {{widget: [{reset_ms}]}}}}"]
    widget.append("widget", [ev(1, "new topic", src=60, off=0),
                             ev(2, "new topic", src=60, off=1, deleted="true")])
    widget.dbt("run", *resets)
    assert state(widget) == {1: "new topic"}
    widget.dbt("run", "--full-refresh", *resets)
    assert state(widget) == {1: "new topic"}
    widget.dbt("run", "--full-refresh")
    assert state(widget) == {1: "new topic"}


def test_a_malformed_offset_reset_is_an_error_naming_the_table(widget: CdcProject) -> None:
    widget.append("widget", [ev(1, "a", src=10)])
    result = widget.dbt("run", "--vars", "{cdc_offset_resets: {widget: [yesterday]}}", expect_success=False)
    assert "cdc_offset_resets['widget']" in dbt_errors(result)


def test_remaining_ties_resolve_the_same_whatever_the_arrival_order(tmp_path_factory: pytest.TempPathFactory,
                                                                    cdc_project: CdcProject) -> None:
    # Same commit time, offset and ingestion time, different content: not a real
    # Streamkap case, but the result must not depend on the order rows are read.
    tied = [ev(1, name, src=10, off=7, ts=11) for name in ("x", "y", "z")]
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id")
    apply(cdc_project, *tied)
    forward = state(cdc_project)
    apply(cdc_project, *reversed(tied), full_refresh=True)
    assert state(cdc_project) == forward

    # Split over batches in both orders: still the same winner.
    for order in (tied, list(reversed(tied))):
        cdc_project.query("delete from streamkap.widget")
        cdc_project.dbt("run", "--full-refresh")
        for event in order:
            apply(cdc_project, event)
        assert state(cdc_project) == forward


# 2. At-least-once delivery: duplicates give exactly one row per key.

def test_duplicates_within_a_batch_give_one_row(widget: CdcProject) -> None:
    event = ev(1, "a", src=10)
    apply(widget, event, event, event, ev(2, "b", src=10), ev(2, "b", src=10, off=77))
    assert widget.query(f"select entity_id, count(*) from {MODEL} group by 1 order by 1") == [(1, 1), (2, 1)]


def test_duplicates_across_batches_give_one_row(widget: CdcProject) -> None:
    first = ev(1, "a", src=10)
    apply(widget, first)
    redelivered = {**first, "_streamkap_ts_ms": first["_streamkap_ts_ms"] + 2 * MINUTE}
    apply(widget, redelivered, redelivered)
    apply(widget, redelivered)
    assert widget.query(f"select entity_id, name, count(*) from {MODEL} group by all") == [(1, "a", 1)]
    widget.dbt("test")  # unique and not_null on the key


# 3. The window is on ingestion time with a lookback; empty targets work.

def test_default_lookback_is_at_least_ten_minutes() -> None:
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    assert project["vars"]["cdc_lookback_minutes"] >= 10


def test_late_visible_event_inside_the_lookback_is_applied(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=600, off=50))
    # Ingested 8 minutes before the newest applied event, visible only now.
    apply(widget, ev(2, "late", src=100, ts=120), ev(1, "older update", src=590, ts=595, off=40))
    assert state(widget) == {1: "a", 2: "late"}


def test_lookback_is_configurable_per_model(cdc_project: CdcProject) -> None:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id", lookback_minutes=30)
    apply(cdc_project, ev(1, "a", src=3600))
    apply(cdc_project, ev(2, "25 minutes late", src=2000, ts=2100))
    assert state(cdc_project) == {1: "a", 2: "25 minutes late"}
    merge = next((cdc_project.root / "target/run").rglob("base_magento__widget.sql")).read_text()
    bound = int(re.search(r"\b_streamkap_ts_ms\"? >= (\d+)", merge).group(1))
    assert bound == T0 + 3600 * 1000 + 500 - 30 * MINUTE


def test_incremental_run_on_an_empty_target(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(1, None, src=20, deleted="true"))
    assert state(widget) == {}
    apply(widget, ev(2, "b", src=5, ts=5))  # older than anything seen: still applied
    assert state(widget) == {2: "b"}


def test_incremental_run_after_the_post_hook_deleted_every_row(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(2, "b", src=10))
    apply(widget, ev(1, "a", src=20, deleted="true"), ev(2, "b", src=20, deleted="true"))
    assert state(widget) == {}
    apply(widget, ev(3, "c", src=30))
    assert state(widget) == {3: "c"}


# 4. Sequence guard: an older event never overwrites a newer row.

def test_older_event_in_a_later_batch_never_overwrites(widget: CdcProject) -> None:
    read = ev(1, "snapshot read", src=20, off=1, ts=20)  # stamped with the export's start
    apply(widget, read, ev(1, "current", src=10, off=2, ts=21))
    # Visible only now, delivered before the current row's event.
    apply(widget, ev(1, "late, delivered earlier", src=9, off=0, ts=19))
    apply(widget, ev(1, "late delete, delivered earlier", src=9, off=0, ts=19, deleted="true"))
    # Redeliveries: the read (a later commit) and the current event again.
    apply(widget, {**read, "_streamkap_ts_ms": T0 + 30_500})
    apply(widget, {**read, "_streamkap_ts_ms": T0 + 40_500}, ev(2, "other", src=40))
    assert state(widget) == {1: "current", 2: "other"}
    widget.dbt("run", "--full-refresh")
    assert state(widget) == {1: "current", 2: "other"}


def test_old_event_of_a_deleted_key_arriving_long_after_the_delete_stays_deleted(widget: CdcProject) -> None:
    insert, delete, other = ev(1, "a", src=10), ev(1, "a", src=20, deleted="true"), ev(2, "b", src=10)
    apply(widget, insert, other)
    apply(widget, delete)
    apply(widget, ev(2, "b2", src=7200))  # two hours later: the delete is far outside the lookback
    # A replay of the insert (Streamkap processes it again), without its delete.
    apply(widget, {**insert, "_streamkap_ts_ms": T0 + 7300 * 1000})
    assert state(widget) == {2: "b2"}
    # The same event for a key whose row exists is held off by the sequence guard.
    apply(widget, {**other, "_streamkap_ts_ms": T0 + 7400 * 1000})
    assert state(widget) == {2: "b2"}


# 5. Deletes, and every spelling of __deleted.

def test_insert_and_delete_in_one_batch_leave_no_row(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(1, "a", src=11, deleted="true"), ev(2, "b", src=10))
    assert state(widget) == {2: "b"}


def test_delete_in_a_later_batch_removes_the_row(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(2, "b", src=10))
    apply(widget, ev(1, "a", src=20, deleted="true"))
    assert state(widget) == {2: "b"}


def test_deleted_then_reinserted_key_is_present_with_new_values(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(1, "a", src=20, deleted="true"), ev(1, "again", src=30),
          ev(2, "b", src=10))
    apply(widget, ev(2, "b", src=20, deleted="true"))
    apply(widget, ev(2, "back", src=30))
    assert state(widget) == {1: "again", 2: "back"}


@pytest.mark.parametrize("deleted_type, values", [
    ("varchar", {"true": False, "TRUE": False, "True": False, "false": True, "FALSE": True, None: True}),
    ("boolean", {True: False, False: True, None: True}),
])
def test_deleted_flag_spellings(cdc_project: CdcProject, deleted_type: str, values: dict[Any, bool]) -> None:
    cdc_project.add_table(LandingTable("widget", WIDGET.columns, deleted_type=deleted_type))
    cdc_project.current_state_model("widget", "entity_id")
    keys = dict(enumerate(values))
    apply(cdc_project, *(ev(k, "x", src=10) for k in keys))
    apply(cdc_project, *(ev(k, "y", src=20, deleted=flag) for k, flag in keys.items()))
    present = {k for k, flag in keys.items() if values[flag]}
    assert state(cdc_project) == {k: "y" for k in present}
    assert cdc_project.query(f"select count(*) from {MODEL} where __deleted") == [(0,)]


# 6. Primary-key change: a delete of the old key and a create of the new one.

@pytest.mark.parametrize("same_batch", [True, False])
def test_primary_key_change_leaves_only_the_new_key(widget: CdcProject, same_batch: bool) -> None:
    created = ev(1, "a", src=10)
    change = [ev(1, "a", src=20, off=500, deleted="true"), ev(7, "a", src=20, off=501)]
    if same_batch:
        apply(widget, created, *change)
    else:
        apply(widget, created)
        apply(widget, *change)
    assert state(widget) == {7: "a"}


# 7. Schema evolution without a full refresh.

def test_added_landing_column_appears_on_the_next_incremental_run(widget: CdcProject) -> None:
    apply(widget, ev(1, "a", src=10), ev(2, "b", src=10))
    widget.query("alter table streamkap.widget add column email varchar")
    widget.tables["widget"].columns["email"] = "varchar"
    apply(widget, ev(1, "a", src=20, email="a@example.com"))
    assert widget.rows(MODEL, ["entity_id", "name", "email"]) == {(1, "a", "a@example.com"), (2, "b", None)}


# 8. Full refresh equals the incremental result; a rerun with nothing new changes nothing.

def test_full_refresh_equals_incremental_and_rerun_is_a_no_op(widget: CdcProject) -> None:
    batches = [
        [ev(1, "a", src=10), ev(2, "b", src=10), ev(3, "c", src=11)],
        [ev(1, "a2", src=20), ev(2, None, src=20, deleted="true"), ev(4, "d", src=5, ts=21)],
        [ev(2, "b again", src=30), ev(3, "c", src=30, off=1, deleted="true"), ev(5, "e", src=31)],
    ]
    for batch in batches:
        apply(widget, *batch)
    incremental = full_table(widget)

    widget.dbt("run")
    assert full_table(widget) == incremental

    widget.dbt("run", "--full-refresh")
    assert full_table(widget) == incremental


# 9. Events with a NULL key never reach the current state, and a test reports them.

def test_null_keys_are_left_out_and_reported(widget: CdcProject) -> None:
    widget.append("widget", [ev(None, "orphan", src=10), ev(1, "a", src=10)])
    result = widget.dbt("build")
    assert state(widget) == {1: "a"}
    not_null = [r for r in result.result if r.node.name.startswith("source_not_null_magento_widget")]
    assert [(r.status, r.failures) for r in not_null] == [("warn", 1)]


def test_events_without_a_sequence_or_with_an_unknown_flag_are_reported(widget: CdcProject) -> None:
    good = ev(1, "a", src=10)
    widget.append("widget", [good, {**good, "_streamkap_offset": None, "name": "no offset"},
                             {**ev(2, "b", src=10), "__deleted": "maybe"}])
    result = widget.dbt("build")
    assert state(widget) == {1: "a"}  # key 2's only event is quarantined
    placeable = [r for r in result.result if r.node.name.startswith("streamkap_cdc_source_streamkap_events_are_placeable")]
    assert [(r.status, r.failures) for r in placeable] == [("warn", 2)]


# 10. Misuse fails at compile time, naming the problem; composite keys work.

@pytest.mark.parametrize("unique_key, message", [
    ("entity_idd", "unique_key column 'entity_idd' is not a column of"),
    ("entity_id,name", "looks like a composite key written as one string"),
    ("entity_id name", "looks like a composite key written as one string"),
    (["entity_id", "entity_id"], "repeats a column"),
    (["entity_id, name"], "one per list item"),
    ([], "must be a column name or a list of column names"),
    ("", "unique_key is empty"),
])
def test_wrong_unique_key_fails_at_compile_time(cdc_project: CdcProject, unique_key: Any, message: str) -> None:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", unique_key)
    result = cdc_project.dbt("compile", expect_success=False)
    assert not result.success
    assert message in dbt_errors(result)


def test_missing_streamkap_columns_fail_at_compile_time(cdc_project: CdcProject) -> None:
    cdc_project.add_table(WIDGET)
    cdc_project.query("alter table streamkap.widget drop column _streamkap_offset")
    cdc_project.current_state_model("widget", "entity_id")
    result = cdc_project.dbt("compile", expect_success=False)
    messages = dbt_errors(result)
    assert not result.success
    assert '"streamkap"."widget"' in messages and "lacks the Streamkap column(s) _streamkap_offset" in messages


@pytest.mark.parametrize("lookback", ["ten", -5, True])
def test_invalid_lookback_fails_naming_the_setting(cdc_project: CdcProject, lookback: Any) -> None:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id", lookback_minutes=lookback)
    result = cdc_project.dbt("compile", expect_success=False)
    assert not result.success
    assert "cdc_lookback_minutes must be a number of minutes" in dbt_errors(result)


def test_composite_keys(cdc_project: CdcProject) -> None:
    table = LandingTable("widget", {"entity_id": "integer", "store_id": "integer", "name": "varchar"},
                         key=("entity_id", "store_id"))
    cdc_project.add_table(table)
    cdc_project.current_state_model("widget", ["entity_id", "store_id"])
    apply(cdc_project, ev(1, "default", src=10, store_id=0), ev(1, "store 1", src=10, store_id=1),
          ev(2, "default", src=10, store_id=0))
    apply(cdc_project, ev(1, "store 1 renamed", src=20, store_id=1), ev(2, None, src=20, store_id=0, deleted="true"),
          ev(1, "stale", src=5, store_id=0, off=0))
    assert cdc_project.rows(MODEL, ["entity_id", "store_id", "name"]) == {(1, 0, "default"), (1, 1, "store 1 renamed")}


# The nightly reconciliation: the current state equals a replay of the whole change log.

def test_reconciliation_passes_then_catches_a_drifted_row(widget: CdcProject) -> None:
    (widget.root / "models/staging/magento/base/_models.yml").write_text(
        "version: 2\nmodels:\n  - name: base_magento__widget\n    data_tests:\n      - streamkap_cdc.cdc_matches_change_log:\n"
        "          arguments: {source_name: magento, table_name: widget, unique_key: entity_id}\n"
    )
    apply(widget, ev(1, "a", src=10), ev(2, "b", src=10), ev(3, "c", src=10), ev(5, "e", src=10))
    apply(widget, ev(1, "a2", src=20), ev(2, None, src=20, deleted="true"))
    # Events that landed after the run are not a discrepancy yet.
    widget.append("widget", [ev(3, "c2", src=30), ev(4, "d", src=30), ev(1, None, src=30, deleted="true")])
    result = widget.dbt("test", "--select", "tag:cdc_reconciliation")
    assert [r.status for r in data_test_results(result)] == ["pass"]

    widget.query(f"delete from {MODEL} where entity_id = 5")  # a row the engine lost
    result = widget.dbt("test", "--select", "tag:cdc_reconciliation", expect_success=False)
    assert [(r.status, r.failures) for r in data_test_results(result)] == [("fail", 1)]


def test_a_row_holds_its_events_first_delivery_whichever_became_visible_first(widget: CdcProject) -> None:
    original = ev(1, "a", src=10, off=1)
    # A redelivery lands before its original does (the original is late to become visible).
    apply(widget, {**original, "_streamkap_ts_ms": original["_streamkap_ts_ms"] + 1000})
    apply(widget, original)
    incremental = full_table(widget)
    assert incremental[0][widget.tables["widget"].all_columns.index("_streamkap_ts_ms")] == original["_streamkap_ts_ms"]
    widget.dbt("run", "--full-refresh")
    assert full_table(widget) == incremental


def test_ties_resolve_the_same_whichever_delivery_of_the_tied_events_comes_first(widget: CdcProject) -> None:
    # Two events equal in every sequence column, different in content; their
    # redeliveries become visible before them.
    tied = [ev(key, f"{name}{key}", src=10, off=7, ts=11) for key in range(1, 21) for name in ("x", "y")]
    apply(widget, *({**e, "_streamkap_ts_ms": e["_streamkap_ts_ms"] + 5000} for e in tied))
    apply(widget, *tied)
    incremental = full_table(widget)
    widget.dbt("run", "--full-refresh")
    assert full_table(widget) == incremental
