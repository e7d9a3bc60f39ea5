"""The nightly audit (`cdc_matches_change_log`) catches what it is meant to catch.

The audit is a second, independent formulation of the CDC rule, so it is tested on
its own: the engine builds a current-state table, the audit passes, then the table
is damaged by hand (a corrupted value, a lost row, an extra row, a stale row, a
duplicated row) and the audit must fail, naming the damaged key and the problem.
Where the rule decides something the engine may not (yet) do the same way, the
current state is written by hand, so these tests hold whatever the engine does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from conftest import REPO, CdcProject, LandingTable, change_event, data_test_results, make_cdc_project

T0 = 1_767_000_000_000
AUDIT = "tag:cdc_reconciliation"

WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar", "qty": "integer"})
PRICE = LandingTable("price", {"entity_id": "integer", "store_id": "integer", "value": "decimal(12,4)"},
                     key=("entity_id", "store_id"), deleted_type="boolean")
KEYS = {"widget": ("entity_id",), "price": ("entity_id", "store_id")}
PRISTINE = [*KEYS, "cdc_watermarks"]


def ev(src: int, off: int, ts: int | None = None, deleted: Any = "false", **columns: Any) -> dict[str, Any]:
    """One change event; `src` and `ts` are seconds after T0 (ts defaults to src)."""
    return change_event(T0 + src * 1000, off, T0 + (src if ts is None else ts) * 1000, deleted, **columns)


def write_audits(project: CdcProject, tables: dict[str, Any]) -> None:
    tests = "".join(
        f"  - name: base_magento__{table}\n    data_tests:\n      - streamkap_cdc.cdc_matches_change_log:\n"
        f"          arguments: {{source_name: magento, table_name: {table}, unique_key: {key!r}}}\n"
        for table, key in tables.items()
    )
    (project.root / "models/staging/magento/base/_models.yml").write_text(f"version: 2\nmodels:\n{tests}")


def audit(project: CdcProject, *args: str) -> dict[str, tuple[str, set[tuple]]]:
    """Runs the audits: per table, dbt's status and the problem rows the audit returns."""
    result = project.dbt("test", "--select", AUDIT, *args, expect_success=False)
    assert result.result is not None, result.exception
    outcome = {}
    for r in data_test_results(result):
        status = next((s for s in ("pass", "fail") if r.status == s), None)
        assert status, r.message
        table = r.node.test_metadata.kwargs["table_name"]
        rows = project.query(r.node.compiled_code)
        assert len(rows) == (r.failures or 0)  # dbt counted what we read
        outcome[table] = (status, set(rows))
    return outcome


def passes(project: CdcProject, *args: str) -> bool:
    outcome = audit(project, *args)
    assert outcome
    return all(status == "pass" and not rows for status, rows in outcome.values())


# A small project whose engine-built current state is checked, then damaged.

WIDGET_EVENTS = [
    ev(10, 1, entity_id=1, name="a", qty=1),
    ev(20, 2, entity_id=1, name="a2", qty=2),
    ev(10, 3, entity_id=2, name="b", qty=None),
    ev(10, 4, entity_id=3, name="c", qty=None),
    ev(30, 5, entity_id=3, name="unplaceable", qty=9) | {"_streamkap_offset": None},
    ev(40, 6, entity_id=None, name="no key", qty=9),
    ev(10, 7, entity_id=5, name="e", qty=5),
    ev(10, 8, entity_id=8, name="h", qty=8),
]
# The newest event applied is a delete: the current state's own rows do not show
# how far the log was applied, the watermark does.
WIDGET_LAST_BATCH = [ev(50, 9, deleted="TRUE", entity_id=2, name="b", qty=None)]
PRICE_EVENTS = [
    ev(10, 1, entity_id=1, store_id=0, value=10),
    ev(20, 2, entity_id=1, store_id=0, value=12),
    ev(10, 3, entity_id=1, store_id=1, value=11),
    ev(10, 4, entity_id=2, store_id=0, value=20),
    ev(10, 5, entity_id=2, store_id=1, value=None),
    ev(30, 6, entity_id=2, store_id=None, value=99),
    ev(10, 7, entity_id=3, store_id=0, value=30),
    ev(10, 8, entity_id=3, store_id=1, value=33),
]
PRICE_LAST_BATCH = [ev(50, 9, deleted=True, entity_id=2, store_id=0, value=20)]
# Landed after the run: not applied yet, so not a discrepancy (keys 5, 6, 8; (3, 0), (3, 1)).
UNAPPLIED = {
    "widget": [ev(60, 10, entity_id=5, name="e2", qty=5), ev(60, 11, entity_id=6, name="f", qty=6),
               ev(60, 12, deleted="true", entity_id=8, name="h", qty=8)],
    "price": [ev(60, 10, entity_id=3, store_id=0, value=31), ev(60, 11, deleted=True, entity_id=3, store_id=1)],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> CdcProject:
    project = make_cdc_project(tmp_path_factory.mktemp("cdc_audit") / "project")
    for table in (WIDGET, PRICE):
        project.add_table(table)
        project.current_state_model(table.name, list(table.key) if len(table.key) > 1 else table.key[0])
    write_audits(project, {"widget": "entity_id", "price": ["entity_id", "store_id"]})
    project.append("widget", WIDGET_EVENTS)
    project.append("price", PRICE_EVENTS)
    project.dbt("run")
    project.append("widget", WIDGET_LAST_BATCH)
    project.append("price", PRICE_LAST_BATCH)
    project.dbt("run")
    for table, events in UNAPPLIED.items():
        project.append(table, events)
    for table in PRISTINE:
        project.query(f"create table main_magento.pristine_{table} as select * from main_magento.{table}")
    return project


@pytest.fixture
def project(built: CdcProject) -> CdcProject:
    """The built project, its current state and watermarks as the engine left them."""
    for table in PRISTINE:
        built.query(f"create or replace table main_magento.{table} as select * from main_magento.pristine_{table}")
    return built


def test_the_engine_built_state_passes(project: CdcProject) -> None:
    assert project.rows("main_magento.widget", ["entity_id", "name"]) == {(1, "a2"), (3, "c"), (5, "e"), (8, "h")}
    assert project.rows("main_magento.price", ["entity_id", "store_id", "value"]) == {
        (1, 0, 12), (1, 1, 11), (2, 1, None), (3, 0, 30), (3, 1, 33)}
    assert audit(project) == {"widget": ("pass", set()), "price": ("pass", set())}


def where(table: str, key: tuple) -> str:
    return " and ".join(f"{column} = {value}" for column, value in zip(KEYS[table], key))


WIDGET_ROW = "{t} (entity_id, name, qty, _streamkap_source_ts_ms, _streamkap_ts_ms, _streamkap_offset, __deleted)"
PRICE_ROW = "{t} (entity_id, store_id, value, _streamkap_source_ts_ms, _streamkap_ts_ms, _streamkap_offset, __deleted)"
# (table, key, SQL damaging the current state, the problem the audit must report)
MUTATIONS = [
    ("widget", (1,), "update {t} set name = 'garbage' where {k}", "corrupted"),
    ("widget", (3,), "update {t} set qty = 0 where {k}", "corrupted"),  # NULL became a value
    ("widget", (1,), "update {t} set name = null where {k}", "corrupted"),  # a value became NULL
    ("widget", (3,), "delete from {t} where {k}", "missing"),
    ("widget", (7,), f"insert into {WIDGET_ROW} values (7, 'never logged', 1, 1, 1, 1, false)", "extra"),
    ("widget", (2,), f"insert into {WIDGET_ROW} values (2, 'b', null, {{src}}, {{src}}, 3, false)", "extra"),  # a lost delete
    ("widget", (1,), "update {t} set name = 'a', qty = 1, _streamkap_source_ts_ms = {old}, "
                     "_streamkap_ts_ms = {old}, _streamkap_offset = 1 where {k}", "stale"),
    ("widget", (1,), "update {t} set name = 'a', qty = 1 where {k}", "corrupted"),  # old values, new sequence
    ("widget", (1,), "insert into {t} select * from {t} where {k}", "duplicate"),
    ("price", (1, 1), "update {t} set value = 11.0001 where {k}", "corrupted"),
    ("price", (2, 1), "update {t} set value = 0 where {k}", "corrupted"),
    ("price", (1, 0), "delete from {t} where {k}", "missing"),
    ("price", (1, 2), f"insert into {PRICE_ROW} values (1, 2, 5, 1, 1, 1, false)", "extra"),
    ("price", (2, 0), f"insert into {PRICE_ROW} values (2, 0, 20, {{src}}, {{src}}, 4, false)", "extra"),
    ("price", (1, 0), "update {t} set value = 10, _streamkap_source_ts_ms = {old}, "
                      "_streamkap_ts_ms = {old}, _streamkap_offset = 1 where {k}", "stale"),
    ("price", (1, 1), "insert into {t} select * from {t} where {k}", "duplicate"),
]


@pytest.mark.parametrize("table, key, damage, problem", MUTATIONS,
                         ids=[f"{m[0]}-{m[3]}-{i}" for i, m in enumerate(MUTATIONS)])
def test_damage_to_the_current_state_fails_naming_the_key(project: CdcProject, table: str, key: tuple,
                                                          damage: str, problem: str) -> None:
    project.query(damage.format(t=f"main_magento.{table}", k=where(table, key), src=T0 + 10_000, old=T0 + 10_000))
    outcome = audit(project)
    assert outcome[table] == ("fail", {(problem, *key)})
    other = next(t for t in KEYS if t != table)
    assert outcome[other] == ("pass", set())


def test_a_duplicated_extra_row_is_counted_twice(project: CdcProject) -> None:
    project.query(f"insert into {WIDGET_ROW.format(t='main_magento.widget')} values (7, 'x', 1, 1, 1, 1, false), (7, 'x', 1, 1, 1, 1, false)")
    result = project.dbt("test", "--select", AUDIT, expect_success=False)
    failures = {r.node.test_metadata.kwargs["table_name"]: r.failures for r in data_test_results(result)}
    # Twice 'extra' (one per row) and once 'duplicate'.
    assert failures == {"widget": 3, "price": 0}


def test_unapplied_events_are_not_discrepancies_until_a_run_applies_them(project: CdcProject) -> None:
    # Key 6 exists only in events landed after the run, so its absence is not 'missing'
    # yet; nor are key 5's old values 'stale', nor key 8's row 'extra'.
    assert passes(project)
    # Damage to a key whose newest event is not applied yet goes unseen until it is.
    project.query("update main_magento.widget set name = 'garbage' where entity_id = 5")
    project.query("update main_magento.price set value = 0 where entity_id = 3 and store_id = 1")
    assert passes(project)
    project.dbt("run")
    assert project.rows("main_magento.widget", ["entity_id", "name"]) == {(1, "a2"), (3, "c"), (5, "e2"), (6, "f")}
    assert passes(project)
    project.query("update main_magento.widget set name = 'garbage' where entity_id = 5")
    assert audit(project)["widget"] == ("fail", {("corrupted", 5)})


def test_without_a_watermark_the_newest_applied_event_bounds_the_audit(project: CdcProject) -> None:
    project.query("drop table main_magento.cdc_watermarks")  # the fixture restores it
    assert passes(project)
    project.query("update main_magento.widget set name = 'garbage' where entity_id = 1")
    assert audit(project)["widget"] == ("fail", {("corrupted", 1)})
    # A lost delete shows only as far as the rows tell: key 2's delete is newer than
    # any row, so without the watermark the resurrected row goes unseen.
    project.query(f"insert into {WIDGET_ROW.format(t='main_magento.widget')} values (2, 'b', null, 1, 1, 3, false)")
    assert audit(project)["widget"] == ("fail", {("corrupted", 1)})


def test_the_audit_uses_none_of_the_engines_macros_and_parses_as_snowflake(project: CdcProject) -> None:
    result = project.dbt("test", "--select", AUDIT, "--write-json", expect_success=False)
    manifest = json.loads((project.root / "target/manifest.json").read_text())
    called = manifest["macros"]["macro.streamkap_cdc.test_cdc_matches_change_log"]["depends_on"]["macros"]
    # Its one helper reads column names and is the tests' own (macros/tests/), not the engine's.
    assert [m for m in called if m.startswith(("macro.streamkap_cdc.", "macro.magento_warehouse."))] == [
        "macro.streamkap_cdc.cdc_test_column_names"]
    helper = (REPO / "packages/streamkap_cdc/macros/tests/column_names.sql").read_text()
    assert "streamkap_cdc." not in helper
    for r in data_test_results(result):
        tree = sqlglot.parse_one(r.node.compiled_code, read="snowflake")
        unknown = [f.sql() for f in tree.find_all(exp.Anonymous)]
        assert unknown == [], f"functions Snowflake may not have: {unknown}"
    source = (REPO / "packages/streamkap_cdc/macros/tests/cdc_matches_change_log.sql").read_text()
    for name in ("cdc_latest_events", "cdc_event_order", "cdc_is_newer", "cdc_is_deleted",
                 "cdc_change_log_columns", "cdc_key_names", "cdc_pick_columns"):
        assert name not in source


# The rule's order, checked on current states written by hand.

SINGLE = LandingTable("widget", {"entity_id": "integer", "name": "varchar"})


@pytest.fixture
def widget(cdc_project: CdcProject) -> CdcProject:
    cdc_project.add_table(SINGLE)
    cdc_project.current_state_model("widget", "entity_id")
    write_audits(cdc_project, {"widget": "entity_id"})
    return cdc_project


def hold(project: CdcProject, *rows: dict[str, Any]) -> None:
    """Sets the current state by hand: one row per event given."""
    with project.connect() as con:
        con.execute("delete from main_magento.widget")
        columns = ["entity_id", "name", "_streamkap_source_ts_ms", "_streamkap_offset", "_streamkap_ts_ms"]
        con.executemany(f"insert into main_magento.widget ({', '.join(columns)}, __deleted) "
                        f"values ({', '.join('?' for _ in columns)}, false)",
                        [tuple(row[c] for c in columns) for row in rows])


def test_events_tied_on_the_whole_sequence_pass_whichever_the_engine_picked(widget: CdcProject) -> None:
    tied = [ev(10, 7, ts=11, entity_id=1, name=name) for name in ("x", "y", "z")]
    # A tie between a delete and an update: absent and present are both right.
    delete_tie = [ev(10, 8, ts=11, entity_id=2, name="kept"), ev(10, 8, ts=11, deleted="true", entity_id=2, name="gone")]
    widget.append("widget", [ev(5, 1, entity_id=1, name="older"), *tied, *delete_tie])
    widget.dbt("run")
    assert widget.rows("main_magento.widget", ["name"]) <= {("x",), ("y",), ("z",), ("kept",)}
    assert passes(widget)

    for event in tied:
        hold(widget, event, delete_tie[0])
        assert passes(widget)
        hold(widget, event)
        assert passes(widget)
    hold(widget, ev(10, 7, ts=11, entity_id=1, name="w"))
    assert audit(widget)["widget"] == ("fail", {("corrupted", 1)})
    hold(widget, ev(5, 1, entity_id=1, name="older"))
    assert audit(widget)["widget"] == ("fail", {("stale", 1)})
    hold(widget, tied[0], tied[1])  # two of the tied candidates at once
    assert audit(widget)["widget"] == ("fail", {("duplicate", 1)})


def test_a_higher_offset_wins_over_a_later_commit_time(widget: CdcProject) -> None:
    # A snapshot read carries the export's start time: a change committed before it
    # but streamed after it (a higher offset, delivered later) is the later event.
    read = ev(200, 5, ts=201, entity_id=1, name="snapshot read, later commit")
    change = ev(100, 6, ts=202, entity_id=1, name="change streamed after the read")
    widget.append("widget", [read, change])
    widget.dbt("run")
    hold(widget, change)
    assert passes(widget)
    hold(widget, read)
    assert audit(widget)["widget"] == ("fail", {("stale", 1)})


def test_ingestion_time_decides_then_offset_then_commit_time(widget: CdcProject) -> None:
    # A recreated topic: the later delivery wins although its offset restarted lower.
    old_topic, new_topic = ev(10, 5000, ts=30, entity_id=1, name="a"), ev(40, 3, ts=41, entity_id=1, name="b")
    # Delivered in the same millisecond: the offset, then the commit time, decide.
    low, high = ev(10, 6, ts=50, entity_id=2, name="a"), ev(9, 7, ts=50, entity_id=2, name="b")
    early, late = ev(10, 8, ts=60, entity_id=3, name="a"), ev(11, 8, ts=60, entity_id=3, name="b")
    widget.append("widget", [old_topic, new_topic, low, high, early, late])
    widget.dbt("run")
    hold(widget, new_topic, high, late)
    assert passes(widget)
    hold(widget, old_topic, low, early)
    assert audit(widget)["widget"] == ("fail", {("stale", 1), ("stale", 2), ("stale", 3)})


def test_a_redelivery_counts_as_its_original(widget: CdcProject) -> None:
    # An old event delivered again after the key changed (and after it was deleted)
    # changes nothing: the row is the newest first delivery.
    first, second = ev(10, 1, entity_id=1, name="a"), ev(20, 2, entity_id=1, name="b")
    insert, delete = ev(10, 3, entity_id=2, name="x"), ev(20, 4, deleted="true", entity_id=2, name="x")
    widget.append("widget", [first, second, insert, delete, {**first, "_streamkap_ts_ms": T0 + 90_000},
                             {**insert, "_streamkap_ts_ms": T0 + 91_000}])
    widget.dbt("run")
    hold(widget, second)
    assert passes(widget)
    hold(widget, {**first, "_streamkap_ts_ms": T0 + 90_000}, {**insert, "_streamkap_ts_ms": T0 + 91_000})
    assert audit(widget)["widget"] == ("fail", {("stale", 1), ("extra", 2)})


def test_a_declared_offset_reset_separates_an_event_from_its_lookalike(widget: CdcProject) -> None:
    # After a declared reset an event equal to an earlier one but for its ingestion
    # time is a new event, not a redelivery: the row must carry its ingestion time.
    before = ev(100, 2, ts=100, entity_id=1, name="x")
    after = {**before, "_streamkap_ts_ms": T0 + 150_000}
    widget.append("widget", [before, after])
    resets = ["--vars", f"{{cdc_offset_resets: {{widget: [{T0 + 140_000}], other: [1]}}}}"]
    widget.dbt("run", *resets)
    hold(widget, after)
    assert passes(widget, *resets)
    assert audit(widget)["widget"] == ("fail", {("stale", 1)})  # without the reset: a redelivery
    hold(widget, before)
    assert passes(widget)
    assert audit(widget, *resets)["widget"] == ("fail", {("stale", 1)})


@pytest.mark.parametrize("resets", ["[1, 'soon']", "5", "[true]", "'1767000140000'"])
def test_malformed_offset_resets_fail_naming_the_setting(widget: CdcProject, resets: str) -> None:
    widget.append("widget", [ev(10, 1, entity_id=1, name="a")])
    widget.dbt("run")
    value = resets if resets == "5" else f"{{widget: {resets}}}"
    result = widget.dbt("test", "--select", AUDIT, "--vars", f"{{cdc_offset_resets: {value}}}", expect_success=False)
    assert not result.success
    assert "cdc_offset_resets" in str(result.exception or "") + "".join(
        str(r.message) for r in (result.result or []))
