"""Property-based test of cdc_current_state against a plain-Python oracle.

Hypothesis writes random change logs the way Streamkap delivers them (inserts,
updates, deletes, re-inserts, primary-key changes, at-least-once replays, old
events arriving again out of order, events that become visible a batch late
inside the lookback), splits them into random
micro-batches, runs the model after each batch, and compares the table with the
oracle and, at the end, with a --full-refresh rebuild.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CdcProject, LandingTable, make_cdc_project

# Shorter than the project's default, so that runs often leave old events out of the window.
LOOKBACK_MINUTES = 1
LOOKBACK_MS = LOOKBACK_MINUTES * 60_000
VARS = ["--vars", f"{{cdc_lookback_minutes: {LOOKBACK_MINUTES}}}"]
T0 = 1_767_000_000_000
KEYS = [(entity, store) for entity in range(1, 5) for store in (0, 1)]
TABLE = LandingTable("widget", {"entity_id": "integer", "store_id": "integer", "name": "varchar"},
                     key=("entity_id", "store_id"))
MODEL = "main_magento.widget"
COMPARED = ["entity_id", "store_id", "name", "_streamkap_source_ts_ms", "_streamkap_offset"]

WORKDIR = Path(tempfile.mkdtemp(prefix="cdc_properties_"))

settings.register_profile("ci", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class ChangeLog:
    """Builds a Streamkap change log while tracking Magento's true state."""

    ts: int = T0
    offset: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[tuple[int, int], str] = field(default_factory=dict)  # Magento's table right now

    def emit(self, key: tuple[int, int], name: str, deleted: bool, step_s: int, lag_s: int,
             same_commit: bool = False) -> dict[str, Any]:
        self.ts += step_s * 1000
        self.offset += 1
        # MySQL commit times have one-second resolution: many events share one.
        source_ts = self.events[-1]["_streamkap_source_ts_ms"] if same_commit else (self.ts // 1000 - lag_s) * 1000
        event = {"entity_id": key[0], "store_id": key[1], "name": name,
                 "_streamkap_source_ts_ms": source_ts, "_streamkap_offset": self.offset,
                 "_streamkap_ts_ms": self.ts, "__deleted": "true" if deleted else "false"}
        self.events.append(event)
        return event

    def replay(self, count: int, step_s: int) -> list[dict[str, Any]]:
        """At-least-once: the last `count` events again, processed anew by Streamkap."""
        copies = []
        for original in self.events[-count:]:
            self.ts += step_s * 1000
            copies.append({**original, "_streamkap_ts_ms": self.ts})
        self.events.extend(copies)
        return copies


def oracle(visible: list[dict[str, Any]]) -> set[tuple]:
    """The current state by definition: per key, the latest event; absent if a delete."""
    latest: dict[tuple[int, int], dict[str, Any]] = {}
    for event in visible:
        key = (event["entity_id"], event["store_id"])
        order = (event["_streamkap_source_ts_ms"], event["_streamkap_offset"], event["_streamkap_ts_ms"])
        if key not in latest or order > (latest[key]["_streamkap_source_ts_ms"], latest[key]["_streamkap_offset"],
                                         latest[key]["_streamkap_ts_ms"]):
            latest[key] = event
    return {tuple(e[c] for c in COMPARED) for e in latest.values() if e["__deleted"] == "false"}


actions = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.sampled_from(KEYS), st.text("abc", min_size=1, max_size=3)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS)),
        st.tuples(st.just("change_key"), st.sampled_from(KEYS), st.sampled_from(KEYS)),
        st.tuples(st.just("replay"), st.integers(1, 6)),
        st.tuples(st.just("stale"), st.integers(0, 10**6), st.booleans()),
        st.tuples(st.just("batch"),),
        st.tuples(st.just("pause"),),  # a quiet spell longer than the lookback
    ),
    min_size=1,
    max_size=40,
)


def play(draw_actions: list[tuple], draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Turns actions into visible micro-batches of events."""
    log = ChangeLog()
    batches: list[list[dict[str, Any]]] = [[]]
    delayed: list[dict[str, Any]] = []

    def deliver(*events: dict[str, Any]) -> None:
        # One event in five becomes visible a batch late.
        late = draw(st.integers(0, 4)) == 0
        (delayed if late else batches[-1]).extend(events)

    def close_batch() -> None:
        # Late, but inside the lookback: later than that is outside the contract.
        nonlocal delayed
        newest = max((e["_streamkap_ts_ms"] for b in batches for e in b), default=0)
        batches[-1].extend(e for e in delayed if e["_streamkap_ts_ms"] < newest - LOOKBACK_MS)
        batches.append([e for e in delayed if e["_streamkap_ts_ms"] >= newest - LOOKBACK_MS])
        delayed = []

    def step() -> tuple[int, int]:
        return draw(st.integers(1, 20)), draw(st.integers(0, 1))

    for action in draw_actions:
        kind = action[0]
        if kind == "upsert":
            key, name = action[1], action[2]
            log.rows[key] = name
            deliver(log.emit(key, name, False, *step()))
        elif kind == "delete" and action[1] in log.rows:
            deliver(log.emit(action[1], log.rows.pop(action[1]), True, *step()))
        elif kind == "change_key" and action[1] in log.rows and action[2] not in log.rows:
            # Debezium: a delete of the old key and a create of the new, at one source position.
            name = log.rows.pop(action[1])
            log.rows[action[2]] = name
            deliver(log.emit(action[1], name, True, *step()), log.emit(action[2], name, False, 0, 0, same_commit=True))
        elif kind == "replay" and log.events:
            batches[-1].extend(log.replay(action[1], draw(st.integers(1, 5))))
        elif kind == "stale" and log.events:
            # Any old event arrives again, out of order, maybe long after its key was
            # updated or deleted: it must change nothing. Half the time, of a deleted key.
            deleted = [e for e in log.events if (e["entity_id"], e["store_id"]) not in log.rows]
            pool = deleted if action[2] and deleted else log.events
            log.ts += draw(st.integers(1, 20)) * 1000
            stale = {**pool[action[1] % len(pool)], "_streamkap_ts_ms": log.ts}
            log.events.append(stale)
            batches[-1].append(stale)
        elif kind == "pause":
            log.ts += 3 * LOOKBACK_MS
        elif kind == "batch":
            close_batch()
    close_batch()
    return [b for b in batches if b]


def fresh_project() -> CdcProject:
    # A new folder per example: dbt-duckdb keeps each database file open in-process.
    project = make_cdc_project(Path(tempfile.mkdtemp(prefix="example_", dir=WORKDIR)) / "project")
    project.add_table(TABLE)
    project.current_state_model("widget", ["entity_id", "store_id"])
    return project


@settings(settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")))
@given(draw_actions=actions, data=st.data())
def test_incremental_runs_match_the_oracle_and_a_full_refresh(draw_actions: list[tuple], data: st.DataObject) -> None:
    batches = play(draw_actions, data.draw)
    project = fresh_project()
    visible: list[dict[str, Any]] = []
    if not batches or data.draw(st.booleans(), label="run on an empty change log first"):
        project.dbt("run", *VARS)
    for batch in batches:
        newest_before = max((e["_streamkap_ts_ms"] for e in visible), default=None)
        # Lateness is bounded by the lookback: that is the engine's contract.
        assert newest_before is None or all(e["_streamkap_ts_ms"] >= newest_before - LOOKBACK_MS for e in batch)
        project.append("widget", batch)
        visible.extend(batch)
        project.dbt("run", *VARS)
        assert project.rows(MODEL, COMPARED) == oracle(visible)

    incremental = project.query(f"select * from {MODEL} order by all")
    project.dbt("run", *VARS)
    assert project.query(f"select * from {MODEL} order by all") == incremental, "a rerun with no new events changed the table"
    project.dbt("run", "--full-refresh", *VARS)
    assert project.query(f"select * from {MODEL} order by all") == incremental
