"""The few-minute alarm (cdc_newest_events_applied): a key whose newest event lost to an
older applied one is flagged, naming the declaration that settles it; the engine's own
results, redeliveries included, are not; it reads only literal-bounded recent log.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import CdcProject, LandingTable, change_event, data_test_results

MINUTE = 60_000
T0 = 1_767_000_000_000
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar"})
MODEL = "main_magento.widget"
ALARM = "test_name:cdc_newest_events_applied"


def ev(key: Any, name: str, *, ts: int, off: int, src: int | None = None, deleted: str = "false") -> dict[str, Any]:
    """An event; `ts` and `src` are ms after T0 (the commit defaults to 500 ms before ingestion)."""
    return change_event(T0 + (ts - 500 if src is None else src), off, T0 + ts, deleted, entity_id=key, name=name)


@pytest.fixture
def widget(cdc_project: CdcProject) -> CdcProject:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id")
    cdc_project.data_test("base_magento__widget", "streamkap_cdc.cdc_newest_events_applied",
                          {"source_name": "magento", "table_name": "widget", "unique_key": "entity_id"})
    return cdc_project


def alarm(project: CdcProject) -> tuple[str, list[tuple]]:
    result = project.dbt("test", "--select", ALARM, "--store-failures", expect_success=False)
    (test,) = data_test_results(result)
    rows = project.query(f"select problem, entity_id from {test.node.relation_name} order by entity_id") \
        if test.status != "pass" else []
    return test.status, rows


def hold(project: CdcProject, *events: dict[str, Any]) -> None:
    """Sets the current state by hand, as an engine that kept the wrong events would."""
    with project.connect() as con:
        con.execute(f"delete from {MODEL}")
        for e in events:
            con.execute(f"insert into {MODEL} (entity_id, name, _streamkap_source_ts_ms, _streamkap_ts_ms, "
                        "_streamkap_offset, __deleted) values (?, ?, ?, ?, ?, false)",
                        [e["entity_id"], e["name"], e["_streamkap_source_ts_ms"], e["_streamkap_ts_ms"],
                         e["_streamkap_offset"]])


def recreated_topic(project: CdcProject) -> list[dict[str, Any]]:
    """Finding 1: keys 1-5 at offsets 1000-5000; the topic is recreated, keys 1 and 2
    change and key 3 is deleted at offsets 5-7; later events of key 9 settle them."""
    old = [ev(k, "old topic", ts=k * MINUTE, off=1000 * k) for k in range(1, 6)]
    project.append("widget", old)
    project.dbt("run")
    project.append("widget", [ev(1, "new topic", ts=10 * MINUTE, off=5), ev(2, "new topic", ts=10 * MINUTE + 1, off=6),
                              ev(3, "old topic", ts=10 * MINUTE + 2, off=7, deleted="true")])
    project.dbt("run")
    project.append("widget", [ev(9, "later", ts=30 * MINUTE, off=8)])
    project.dbt("run")
    return old


def test_it_passes_on_the_engines_state_and_fires_on_stale_rows(widget: CdcProject) -> None:
    old = recreated_topic(widget)
    assert alarm(widget) == ("pass", [])
    # What an engine ordering by offset alone kept: the old topic's rows.
    hold(widget, *old, ev(9, "later", ts=30 * MINUTE, off=8))
    assert alarm(widget) == ("warn", [("lost", 1), ("lost", 2), ("lost", 3)])


def test_the_warning_names_the_declaration(widget: CdcProject) -> None:
    old = recreated_topic(widget)
    hold(widget, *old)
    result = widget.dbt("test", "--select", ALARM, "--store-failures", expect_success=False)
    (test,) = data_test_results(result)
    remedies = {row[0] for row in widget.query(f"select remedy from {test.node.relation_name}")}
    assert remedies == {"if the topic of widget was recreated, declare var cdc_offset_resets: "
                        "{widget: [<_streamkap_ts_ms of its first event>]} and rebuild it with --full-refresh"}


def test_redeliveries_are_no_alarm(widget: CdcProject) -> None:
    first, second = ev(1, "a", ts=MINUTE, off=1), ev(1, "b", ts=2 * MINUTE, off=2)
    read = ev(2, "read", ts=3 * MINUTE, off=3, src=4 * MINUTE)  # a snapshot read, stamped later
    widget.append("widget", [first, second, read, ev(2, "changed during the snapshot", ts=3 * MINUTE + 1, off=4)])
    widget.dbt("run")
    # A sink restart delivers old events again, a copy of the read included.
    widget.append("widget", [{**first, "_streamkap_ts_ms": T0 + 5 * MINUTE},
                             {**read, "_streamkap_ts_ms": T0 + 5 * MINUTE + 1},
                             {**second, "_streamkap_ts_ms": T0 + 5 * MINUTE + 2}])
    widget.dbt("run")
    widget.append("widget", [ev(9, "later", ts=30 * MINUTE, off=9)])
    widget.dbt("run")
    assert widget.query(f"select entity_id, name from {MODEL} order by 1") == [
        (1, "b"), (2, "changed during the snapshot"), (9, "later")]
    assert alarm(widget) == ("pass", [])


def test_it_reads_only_literal_bounded_recent_log(widget: CdcProject) -> None:
    recreated_topic(widget)
    widget.dbt("compile", "--select", ALARM)
    (compiled,) = [p.read_text() for p in (widget.root / "target/compiled").rglob("streamkap_cdc_cdc_newest_event*.sql")]
    watermark = widget.query("select applied_through_ms from main_magento.cdc_watermarks")[0][0]
    settled = watermark - 15 * MINUTE
    assert f'"_streamkap_ts_ms" >= {settled - 30 * MINUTE}' in compiled
    assert f'"_streamkap_ts_ms" < {settled}' in compiled
