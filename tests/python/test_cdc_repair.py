"""Repairs of what the few-minute windows cannot see.

Late events: events that become visible hours after their `_streamkap_ts_ms`, far
beyond the lookback, are left alone by the few-minute runs and applied by the
nightly job (`dbt build --selector nightly`), which then passes its reconciliation.

Re-snapshots: `dbt run-operation cdc_apply_resnapshot` removes the rows a
re-snapshot did not send again (deletes missed during an outage), and nothing else.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from conftest import CdcProject, LandingTable, change_event, data_test_results, dbt_errors

MINUTE = 60_000
HOUR = 60 * MINUTE
T0 = 1_767_000_000_000
WIDGET = LandingTable("widget", {"entity_id": "integer", "name": "varchar"})
MODEL = "main_magento.widget"


def ev(key: Any, name: str | None, *, src: int, off: int, ts: int | None = None,
       deleted: str = "false") -> dict[str, Any]:
    """An event; `src` and `ts` are ms after T0 (ingestion defaults to the commit time).
    Offsets are the test's to draw, per topic generation, in delivery order."""
    return change_event(T0 + src, off, T0 + (src if ts is None else ts), deleted, entity_id=key, name=name)


@pytest.fixture
def widget(cdc_project: CdcProject) -> CdcProject:
    cdc_project.add_table(WIDGET)
    cdc_project.current_state_model("widget", "entity_id")
    # The project's own reconciliation of the model, and its nightly selector.
    cdc_project.data_test("base_magento__widget", "streamkap_cdc.cdc_matches_change_log",
                          {"source_name": "magento", "table_name": "widget", "unique_key": "entity_id"})
    (cdc_project.root / "selectors.yml").write_text(textwrap.dedent("""\
        selectors:
          - name: nightly
            definition: {method: fqn, value: "*"}
        """))
    return cdc_project


def state(project: CdcProject) -> dict[int, str]:
    return dict(project.query(f"select entity_id, name from {MODEL}"))


def reconciliation(project: CdcProject) -> list[str]:
    """The statuses of the reconciliation test, run on its own."""
    result = project.dbt("test", "--select", "test_name:cdc_matches_change_log", expect_success=False)
    return [r.status for r in data_test_results(result)]


def repairs(project: CdcProject) -> list[tuple]:
    return project.query("select table_name, kind, keys_repaired, oldest_event_ms, snapshot_started_at_ms "
                         "from main_magento.cdc_repairs order by repaired_at")


# Late events

def test_the_nightly_job_applies_events_visible_hours_late(widget: CdcProject) -> None:
    widget.append("widget", [ev(k, "before", src=HOUR + k, off=100 + k) for k in (1, 2, 3, 4)])
    widget.dbt("run")
    widget.append("widget", [ev(4, "fresh", src=3 * HOUR, off=300)])
    widget.dbt("run")
    # Delivered an hour before the newest applied event, visible only now: an update,
    # an insert, a delete, and an event delivered before the row it would overwrite.
    late = [ev(1, "late update", src=2 * HOUR, off=201), ev(5, "late insert", src=2 * HOUR + 5, off=205),
            ev(2, "before", src=2 * HOUR + 2, off=202, deleted="true"), ev(3, "older", src=HOUR, off=3)]
    widget.append("widget", late)
    widget.dbt("run")
    assert state(widget) == {1: "before", 2: "before", 3: "before", 4: "fresh"}, "beyond the lookback: not seen"
    assert "fail" in reconciliation(widget)

    result = widget.dbt("build", "--selector", "nightly")
    assert [r.status for r in data_test_results(result) if "cdc_matches" in r.node.name] == ["pass"]
    assert state(widget) == {1: "late update", 3: "before", 4: "fresh", 5: "late insert"}
    assert repairs(widget) == [("widget", "late_events", 3, T0 + 2 * HOUR, None)]

    widget.dbt("build", "--selector", "nightly")
    assert len(repairs(widget)) == 1, "a second nightly run found something to repair"
    assert state(widget) == {1: "late update", 3: "before", 4: "fresh", 5: "late insert"}


def test_the_few_minute_runs_do_not_repair_unless_asked(widget: CdcProject) -> None:
    widget.append("widget", [ev(1, "a", src=3 * HOUR, off=10)])
    widget.dbt("run")
    widget.append("widget", [ev(2, "late", src=HOUR, off=11)])
    widget.dbt("run")
    widget.dbt("run")  # nothing new landed: the row count is recorded, the event stays missed
    assert state(widget) == {1: "a"}
    widget.dbt("run", "--vars", "{cdc_repair: true}")
    assert state(widget) == {1: "a", 2: "late"}


def test_a_malformed_repair_setting_is_an_error_naming_it(widget: CdcProject) -> None:
    widget.append("widget", [ev(1, "a", src=HOUR, off=1)])
    widget.dbt("run")
    result = widget.dbt("run", "--vars", "{cdc_repair: sometimes}", expect_success=False)
    assert "var cdc_repair must be true or false" in dbt_errors(result)


# Re-snapshots

def resnapshot(project: CdcProject, table: str, started: Any, capsys: pytest.CaptureFixture[str], *,
               expect_success: bool = True) -> str:
    """Runs the operation; returns what it printed (dbt reports an operation's errors only there)."""
    capsys.readouterr()
    result = project.dbt("run-operation", "cdc_apply_resnapshot", "--args",
                         f"{{table: {table}, snapshot_started_at_ms: {started}}}", expect_success=expect_success)
    assert result.success == expect_success
    return capsys.readouterr().out


def test_a_resnapshot_removes_the_rows_it_did_not_send_and_nothing_else(widget: CdcProject,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    widget.append("widget", [ev(k, "v1", src=HOUR + k, off=k) for k in (1, 2, 3, 4, 5)])
    widget.dbt("run")
    started = 2 * HOUR
    # Nothing of the re-snapshot landed yet: every row would look deleted.
    assert "has not landed" in resnapshot(widget, "widget", T0 + started, capsys, expect_success=False)
    assert len(state(widget)) == 5

    # During the outage key 2 was deleted and 4 updated, unseen. The re-snapshot reads
    # every live row (1, 3, 4, 5); key 6 is created and 5 updated after it began.
    widget.append("widget", [ev(k, "read" if k != 4 else "v2", src=started + 1000, ts=started + 1000 + k, off=10 + k)
                             for k in (1, 3, 4)])
    widget.append("widget", [ev(6, "new", src=started + 2000, off=20)])
    widget.dbt("run")
    # Key 5's read has landed but not been applied yet: its row must stay.
    widget.append("widget", [ev(5, "read", src=started + 3000, off=21)])

    report = resnapshot(widget, "widget", T0 + started, capsys)
    assert "widget: removed 1 row(s) absent from the re-snapshot" in report
    assert set(state(widget)) == {1, 3, 4, 5, 6}
    assert repairs(widget)[-1] == ("widget", "resnapshot", 1, T0 + HOUR + 2, T0 + started)

    resnapshot(widget, "widget", T0 + started, capsys)  # idempotent
    assert repairs(widget)[-1][2] == 0
    widget.dbt("run")
    assert state(widget) == {1: "read", 3: "read", 4: "v2", 5: "read", 6: "new"}

    # Rebuilds and the nightly repair keep the row out; the reconciliation agrees.
    widget.dbt("run", "--full-refresh")
    assert set(state(widget)) == {1, 3, 4, 5, 6}
    result = widget.dbt("build", "--selector", "nightly")
    assert [r.status for r in data_test_results(result) if "cdc_matches" in r.node.name] == ["pass"]
    assert set(state(widget)) == {1, 3, 4, 5, 6}


@pytest.mark.parametrize("table, started, message", [
    ("no_such_table", T0, "no current-state model reads the change log of table 'no_such_table'"),
    ("widget", "yesterday", "snapshot_started_at_ms must be epoch milliseconds"),
    ("widget", 1767000000, "snapshot_started_at_ms must be epoch milliseconds"),
])
def test_resnapshot_arguments_are_checked(widget: CdcProject, table: str, started: Any, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    widget.append("widget", [ev(1, "a", src=HOUR, off=1)])
    widget.dbt("run")
    assert message in resnapshot(widget, table, started, capsys, expect_success=False)
    assert state(widget) == {1: "a"}


# Operations on a pipeline: each test replays one, offsets drawn per topic generation.

def audit_passes(project: CdcProject) -> bool:
    return reconciliation(project) == ["pass"]


def test_a_resnapshot_after_an_undeclared_topic_recreation_restores_magentos_rows(
        widget: CdcProject, capsys: pytest.CaptureFixture[str]) -> None:
    # The old topic: keys 1-5 at offsets 1000-5000.
    widget.append("widget", [ev(k, "old topic", src=HOUR + k, off=1000 * k) for k in range(1, 6)])
    widget.dbt("run")
    # The topic is recreated (offsets from 0 again, nothing declared): keys 1 and 2
    # change and key 3 is deleted. During the outage before it key 4 was deleted unseen.
    widget.append("widget", [ev(1, "new topic", src=2 * HOUR, off=5), ev(2, "new topic", src=2 * HOUR + 1, off=6),
                             ev(3, "old topic", src=2 * HOUR + 2, off=7, deleted="true")])
    widget.dbt("run")
    assert state(widget) == {1: "new topic", 2: "new topic", 4: "old topic", 5: "old topic"}
    # The re-snapshot reads every live row, stamped with its start.
    started = 3 * HOUR
    widget.append("widget", [ev(k, name, src=started, ts=started + k, off=8 + k)
                             for k, name in ((1, "new topic"), (2, "new topic"), (5, "old topic"))])
    widget.dbt("run")
    assert "removed 1 row(s)" in resnapshot(widget, "widget", T0 + started, capsys)
    magento = {1: "new topic", 2: "new topic", 5: "old topic"}
    assert state(widget) == magento
    widget.dbt("run", "--full-refresh")
    assert state(widget) == magento
    assert audit_passes(widget)
    # What an engine ordering by offset alone left after that rebuild: no row at all.
    with widget.connect() as con:
        con.execute(f"delete from {MODEL}")
    assert reconciliation(widget) == ["fail"]


def test_a_redelivered_old_event_is_no_evidence_that_its_row_outlived_a_resnapshot(
        widget: CdcProject, capsys: pytest.CaptureFixture[str]) -> None:
    old = {k: ev(k, "v1", src=HOUR + k, off=k) for k in (1, 2, 3)}
    widget.append("widget", old.values())
    widget.dbt("run")
    # Key 2 is deleted during an outage, unseen. The re-snapshot reads keys 1 and 3;
    # after it began, a sink restart delivers key 2's old event again.
    started = 2 * HOUR
    widget.append("widget", [ev(1, "v1", src=started, off=10), ev(3, "v1", src=started, off=11),
                             {**old[2], "_streamkap_ts_ms": T0 + started + 5000}])
    widget.dbt("run")
    assert "removed 1 row(s)" in resnapshot(widget, "widget", T0 + started, capsys)
    assert set(state(widget)) == {1, 3}
    widget.dbt("run")
    widget.dbt("run", "--full-refresh")
    assert set(state(widget)) == {1, 3}
    assert audit_passes(widget)
    # The audit does not take the redelivery for evidence either.
    with widget.connect() as con:
        con.execute(f"insert into {MODEL} select entity_id, name, _streamkap_source_ts_ms, _streamkap_ts_ms, "
                    f"_streamkap_offset, false from streamkap.widget where entity_id = 2 limit 1")
    assert reconciliation(widget) == ["fail"]


def test_a_rebuild_over_an_empty_change_log_starts_clean(widget: CdcProject) -> None:
    widget.append("widget", [ev(1, "a", src=10 * HOUR, off=1)])
    widget.dbt("run")
    # The landing table is restored from an earlier backup: emptied, then refilled
    # with events ingested before the watermark the table had reached.
    with widget.connect() as con:
        con.execute("delete from streamkap.widget")
    widget.dbt("run", "--full-refresh")
    assert widget.query("select applied_through_ms from main_magento.cdc_watermarks") == [(None,)]
    widget.append("widget", [ev(2, "restored", src=5 * HOUR, off=1)])
    widget.dbt("run")
    assert state(widget) == {2: "restored"}
