"""Property-based test of cdc_history against a plain-Python oracle.

Hypothesis writes random change logs the way Streamkap delivers them: inserts, updates
of tracked and untracked columns, deletes, re-inserts, at-least-once replays, exact
duplicates, old events arriving again, events that arrive late and out of order (an
old offset and commit time, ingested batches later, long after the lookback), events
visible a batch late inside the lookback, re-snapshots whose reads carry a later commit
time than the changes ordered after them, topics whose offsets restart, events
without a key or a sequence value, and versions changed in place just before a run's
window starts and continued a run later (from the key's checkpoint). It splits them into random micro-batches, runs the
history model after each (now and then with --full-refresh), and compares every
version with the oracle's; at the end, with a --full-refresh rebuild.

The oracle: per key, the placeable events in the engine's order (offset generation,
offset, commit time, ingestion time); consecutive events with equal tracked columns
make one version holding its last event's columns; a delete closes the open version;
a version starts at the latest commit time of its key's events so far, and ends when
the next version starts or the delete closing it was committed (by the same rule).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from cdc_strategies import LOOKBACK_MS, SEQUENCE, Batch, ChangeLog, action_lists, dbt_vars
from cdc_strategies import example_project, is_deleted, land, next_batch, rhythm
from conftest import CdcProject, LandingTable, change_event, property_settings

MODEL = "main_magento.history_magento__widget"
MAX_RUNS = 4  # incremental runs per example, to keep the test under a few minutes


@dataclass(frozen=True)
class Shape:
    table: LandingTable
    track: tuple[str, ...] | None  # None: every Magento column


SHAPES = {
    "composite key, text __deleted, name tracked": Shape(
        LandingTable("widget", {"entity_id": "integer", "store_id": "integer", "name": "varchar", "note": "varchar"},
                     key=("entity_id", "store_id")), ("name",)),
    "single key, boolean __deleted, every column tracked": Shape(
        LandingTable("widget", {"entity_id": "integer", "name": "varchar", "note": "varchar"}, deleted_type="boolean"),
        None),
}
WORKDIR = Path(tempfile.mkdtemp(prefix="cdc_history_properties_"))


class HistoryLog(ChangeLog):
    """The change log of a table with a name and a note column (Magento's rows: their values)."""

    true_spellings: ClassVar[tuple[str, ...]] = ("true", "TRUE")

    def emit(self, key: tuple, values: tuple[str, str], deleted: bool, step_s: int,
             source_ts: int | None = None) -> dict[str, Any]:
        event = self.event(key, {"name": values[0], "note": values[1]}, deleted, self.advance(step_s, source_ts))
        self.events.append(event)
        return event


actions = action_lists(
    st.tuples(st.just("upsert"), st.integers(1, 3), st.integers(0, 1), st.sampled_from("ab"), st.sampled_from("xy")),
    st.tuples(st.just("delete"), st.integers(1, 3), st.integers(0, 1)),
    st.tuples(st.just("replay"), st.integers(1, 5)),
    st.tuples(st.just("duplicate"),),
    st.tuples(st.just("stale"), st.integers(0, 10**6)),
    st.tuples(st.just("snapshot"), st.integers(0, 3)),
    st.tuples(st.just("straddle"), st.integers(1, 3), st.integers(0, 1), st.sampled_from("xy"), st.sampled_from("ab"),
              st.sampled_from("xy"), st.booleans()),
    max_size=35,
)


def play(draw_actions: list[tuple], log: HistoryLog) -> list[Batch]:
    draw = log.draw
    batches = [Batch()]
    lagging: list[dict[str, Any]] = []  # visible a batch late, ingestion time unchanged
    held: list[tuple[int, dict[str, Any]]] = []  # (batches to wait, event): late and out of order
    composite = len(log.table.key) == 2

    def key_of(entity: int, store: int) -> tuple:
        return (entity, store) if composite else (entity,)

    def deliver(*events: dict[str, Any]) -> None:
        # Streamkap stamps a topic's events in offset order: an event is late to become
        # visible, never stamped after the events that follow it.
        how = draw(st.sampled_from(["now", "now", "now", "lagging"]))
        if how == "held":
            # Kept back by the connector: ingested (stamped) only when it arrives.
            held.extend((draw(st.integers(1, 2)), e) for e in events)
        else:
            (lagging if how == "lagging" else batches[-1].events).extend(events)

    def arrive(event: dict[str, Any]) -> None:
        log.ts += 1000
        event["_streamkap_ts_ms"] = log.ts
        batches[-1].events.append(event)

    def close_batch(flush: bool = False) -> None:
        nonlocal lagging, held
        for wait, event in held:
            if flush or wait <= 1:
                arrive(event)
        held = [] if flush else [(wait - 1, e) for wait, e in held if wait > 1]
        next_batch(batches, lagging)
        lagging = []

    for action in draw_actions:
        kind = action[0]
        if kind == "upsert":
            key = key_of(action[1], action[2])
            log.rows[key] = (action[3], action[4])
            deliver(log.emit(key, log.rows[key], False, draw(st.integers(0, 20))))
        elif kind == "delete" and key_of(action[1], action[2]) in log.rows:
            key = key_of(action[1], action[2])
            deliver(log.emit(key, log.rows.pop(key), True, draw(st.integers(0, 20))))
        elif kind == "replay" and log.current_topic():
            for original in log.current_topic()[-action[1]:]:
                log.ts += 1000
                copy = {**original, "_streamkap_ts_ms": log.ts}
                log.events.append(copy)
                batches[-1].events.append(copy)
        elif kind == "duplicate" and batches[-1].events:
            batches[-1].events.append(dict(batches[-1].events[-1]))
        elif kind == "stale" and log.current_topic():
            topic = log.current_topic()
            log.ts += 1000
            stale = {**topic[action[1] % len(topic)], "_streamkap_ts_ms": log.ts}
            log.events.append(stale)
            batches[-1].events.append(stale)
        elif kind == "snapshot":
            # Changes backdated before the reads' stamp come after the last commit so far.
            log.ts += (action[1] + 2) * 1000
            log.snapshot_ms = log.ts
            deliver(*[log.emit(key, values, False, 0, source_ts=log.snapshot_ms)
                      for key, values in sorted(log.rows.items())])
            log.backdated = action[1]
        elif kind == "straddle" and key_of(action[1], action[2]) in log.rows:
            # The key's open version changes in place; a quiet spell and another key's
            # event then start the next run's window after it, so the key's next event,
            # a run later, continues the version from the key's checkpoint, perhaps at a
            # commit time before the latest so far (changes backdated by a re-snapshot).
            key, other = key_of(action[1], action[2]), key_of(action[1] % 3 + 1, action[2])
            if action[6]:
                # Right after a re-snapshot's reads: both changes of the key are backdated.
                log.ts += 2000
                log.snapshot_ms = log.ts
                batches[-1].events.extend(log.emit(k, values, False, 0, source_ts=log.snapshot_ms)
                                          for k, values in sorted(log.rows.items()))
                log.backdated = 2
            log.rows[key] = (log.rows[key][0], action[3])
            batches[-1].events.append(log.emit(key, log.rows[key], False, draw(st.integers(1, 5))))
            log.ts += 2 * LOOKBACK_MS
            log.rows[other] = log.rows.get(other, ("a", "x"))
            batches[-1].events.append(log.emit(other, log.rows[other], False, 0, source_ts=log.ts // 1000 * 1000))
            close_batch()
            log.rows[key] = (action[4], action[5])
            batches[-1].events.append(log.emit(key, log.rows[key], False, draw(st.integers(1, 5))))
        elif kind == "unplaceable":
            log.ts += 1000
            event = {**change_event(log.ts, 10**6, deleted=None, **dict(zip(log.table.key, key_of(1, 0))),
                                    name="?", note="?"), action[1]: None}
            batches[-1].events.append(event)
        elif kind == "restart_offsets":
            # The topic is recreated; half the time the restart is declared, once the
            # old topic is drained. Either way the data must tell.
            close_batch(flush=True)
            log.restart_offsets(declared=action[1], after_ms=1000)
        else:
            rhythm(kind, log, batches, close_batch)
    close_batch(flush=True)
    close_batch()
    batches = [b for b in batches if b.events or b.full_refresh]
    # At most MAX_RUNS runs: later batches join the last one.
    for extra in batches[MAX_RUNS:]:
        batches[MAX_RUNS - 1].events.extend(extra.events)
        batches[MAX_RUNS - 1].full_refresh |= extra.full_refresh
    return batches[:MAX_RUNS]


def oracle(visible: list[dict[str, Any]], shape: Shape, resets: list[int]) -> list[tuple]:
    """Every version: (key..., version_number, name, note, offset, ingestion ms, valid_from ms,
    valid_to ms, is_current), sorted."""
    key_columns = shape.table.key
    track = shape.track or ("name", "note")
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for event in visible:
        key = tuple(event[c] for c in key_columns)
        if None in key or any(event[c] is None for c in SEQUENCE):
            continue
        by_key.setdefault(key, []).append(event)
    versions = []
    for key, events in by_key.items():
        # A redelivery is its first delivery again (streamkap_cdc README, Event order).
        first: dict[tuple, dict[str, Any]] = {}
        for event in sorted(events, key=lambda e: e["_streamkap_ts_ms"]):
            generation = sum(event["_streamkap_ts_ms"] >= r for r in resets)
            first.setdefault((generation, *sorted((k, repr(v)) for k, v in event.items() if k != "_streamkap_ts_ms")),
                             event)
        events = sorted(first.values(), key=lambda e: (sum(e["_streamkap_ts_ms"] >= r for r in resets),
                                                       e["_streamkap_ts_ms"], e["_streamkap_offset"],
                                                       e["_streamkap_source_ts_ms"]))
        chain: list[list[Any]] = []
        open_version: list[Any] | None = None
        newest_commit = None
        for event in events:
            commit = event["_streamkap_source_ts_ms"]
            newest_commit = commit if newest_commit is None else max(newest_commit, commit)
            if is_deleted(event["__deleted"]):
                if open_version is not None:
                    open_version[-1] = newest_commit
                    open_version = None
                continue
            tracked = tuple(event[c] for c in track)
            values = [event["name"], event["note"], event["_streamkap_offset"], event["_streamkap_ts_ms"]]
            if open_version is not None and open_version[0] == tracked:
                open_version[1] = values
                continue
            if open_version is not None:
                open_version[-1] = newest_commit
            open_version = [tracked, values, newest_commit, None]
            chain.append(open_version)
        for number, (_, values, valid_from, valid_to) in enumerate(chain, start=1):
            versions.append((*key, number, *values, valid_from, valid_to, valid_to is None))
    return sorted(versions, key=repr)


def actual(project: CdcProject, shape: Shape) -> list[tuple]:
    rows = project.query(
        f"select {', '.join(shape.table.key)}, version_number, name, note, _streamkap_offset, _streamkap_ts_ms, "
        f"epoch_ms(valid_from), epoch_ms(valid_to), is_current from {MODEL}")
    return sorted(rows, key=repr)


def fresh_project(shape: Shape) -> CdcProject:
    project = example_project(WORKDIR, shape.table)
    folder = project.root / "models/staging/magento/history"
    folder.mkdir(parents=True)
    track = "" if shape.track is None else f", track_columns={list(shape.track)!r}"
    (folder / "history_magento__widget.sql").write_text(
        f"{{{{ streamkap_cdc.cdc_history('magento', 'widget', unique_key={list(shape.table.key)!r}{track}) }}}}\n")
    return project


@settings(property_settings(ci_examples=25))
@given(shape=st.sampled_from(sorted(SHAPES)), draw_actions=actions, data=st.data())
def test_incremental_history_matches_the_oracle_and_a_full_refresh(shape: str, draw_actions: list[tuple],
                                                                    data: st.DataObject) -> None:
    shape_ = SHAPES[shape]
    log = HistoryLog(shape_.table, data.draw)
    batches = play(draw_actions, log)
    project = fresh_project(shape_)
    visible: list[dict[str, Any]] = []
    if not batches:
        project.dbt("run", *dbt_vars([]))
    for batch in batches:
        # Ingestion times run late by at most the lookback: late events are stamped when they arrive.
        land(project, visible, batch)
        project.dbt("run", *(["--full-refresh"] if batch.full_refresh else []), *dbt_vars(log.resets))
        assert actual(project, shape_) == oracle(visible, shape_, log.resets)

    incremental = project.query(f"select * from {MODEL} order by all")
    project.dbt("run", "--full-refresh", *dbt_vars(log.resets))
    assert project.query(f"select * from {MODEL} order by all") == incremental
