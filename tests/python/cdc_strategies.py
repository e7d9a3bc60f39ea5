"""Random Streamkap change logs for the property-based tests of cdc_current_state and
cdc_history: the change log being written (with the Magento rows it stands for), the
actions both draw, micro-batches with late events, and a fresh project per example."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from hypothesis import strategies as st

from conftest import SHARED_PARSE, CdcProject, LandingTable, change_event, make_cdc_project

# Shorter than the project's default, so that runs often leave old events out of the window.
LOOKBACK_MINUTES = 1
LOOKBACK_MS = LOOKBACK_MINUTES * 60_000
T0 = 1_767_000_000_000
SEQUENCE = ("_streamkap_offset", "_streamkap_source_ts_ms", "_streamkap_ts_ms")

# The actions both properties draw, after their own: events without a key or a sequence
# value, topics whose offsets restart (declared or not), and the runs' rhythm.
CONTROL_ACTIONS = (
    st.tuples(st.just("unplaceable"), st.sampled_from(["entity_id", *SEQUENCE])),
    st.tuples(st.just("restart_offsets"), st.booleans()),
    st.tuples(st.just("batch"),),
    st.tuples(st.just("full_refresh"),),
    st.tuples(st.just("pause"),),  # a quiet spell longer than the lookback
)


def action_lists(*own: st.SearchStrategy[tuple], max_size: int) -> st.SearchStrategy[list[tuple]]:
    return st.lists(st.one_of(*own, *CONTROL_ACTIONS), min_size=1, max_size=max_size)


@dataclass
class ChangeLog:
    """Builds a Streamkap change log while tracking Magento's rows (`rows`, by key)."""

    table: LandingTable
    draw: st.DrawFn
    ts: int = T0
    offset: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[tuple, Any] = field(default_factory=dict)  # Magento's table right now
    resets: list[int] = field(default_factory=list)  # ingestion times where offsets restarted
    snapshot_ms: int | None = None  # commit time stamped on the last re-snapshot's reads
    backdated: int = 0  # changes still to stream with a commit time before those reads'
    true_spellings: ClassVar[tuple[str, ...]] = ("true", "TRUE", "True")

    def deleted_flag(self, deleted: bool) -> Any:
        if self.table.deleted_type == "boolean":
            return True if deleted else self.draw(st.sampled_from([False, None]))
        return self.draw(st.sampled_from(list(self.true_spellings) if deleted else ["false", "FALSE", None]))

    def event(self, key: tuple, values: dict[str, Any], deleted: bool, source_ts: int) -> dict[str, Any]:
        """An event at the log's current ingestion time and offset."""
        return change_event(source_ts, self.offset, self.ts, self.deleted_flag(deleted),
                            **dict(zip(self.table.key, key)), **values)

    def advance(self, step_s: int, source_ts: int | None = None, lag_s: int = 0) -> int:
        """Moves to the next event, `step_s` seconds later; its commit time: `source_ts`,
        else before the last re-snapshot's reads while changes are backdated, else
        `lag_s` seconds before its ingestion (< 0: clock skew, committed after)."""
        self.ts += step_s * 1000
        self.offset += 1
        if source_ts is None and self.backdated:
            # Committed after the snapshot's position, before its export began.
            self.backdated -= 1
            source_ts = self.snapshot_ms - (self.backdated + 1) * 1000
        if source_ts is None:
            source_ts = (self.ts // 1000 - lag_s) * 1000  # MySQL: one-second commit times
        return source_ts

    def current_topic(self) -> list[dict[str, Any]]:
        """Events since the last declared restart: a redelivery may straddle an
        undeclared one, never a declared one (declared once the old topic is drained)."""
        since = self.resets[-1] if self.resets else 0
        return [e for e in self.events if e["_streamkap_ts_ms"] >= since]

    def restart_offsets(self, declared: bool, after_ms: int) -> None:
        """The topic is recreated: offsets start again, `after_ms` after the old topic's
        last event. A declared restart is declared from the next event on."""
        self.ts += after_ms
        self.offset = -1
        self.backdated = 0
        if declared:
            self.resets.append(self.ts + 1000)


@dataclass
class Batch:
    events: list[dict[str, Any]] = field(default_factory=list)
    full_refresh: bool = False


def next_batch(batches: list[Batch], late: list[dict[str, Any]]) -> None:
    """Starts the next batch with the `late` events inside the lookback of the newest so
    far; later than that is outside the engine's contract, so those join this batch."""
    newest = max((e["_streamkap_ts_ms"] or 0 for b in batches for e in b.events), default=0)
    batches[-1].events.extend(e for e in late if e["_streamkap_ts_ms"] < newest - LOOKBACK_MS)
    batches.append(Batch([e for e in late if e["_streamkap_ts_ms"] >= newest - LOOKBACK_MS]))


def rhythm(kind: str, log: ChangeLog, batches: list[Batch], close_batch: Callable[[], None]) -> None:
    """The actions that set the runs' rhythm rather than write events."""
    if kind == "full_refresh":
        batches[-1].full_refresh = True
        close_batch()
    elif kind == "pause":
        log.ts += 3 * LOOKBACK_MS
    elif kind == "batch":
        close_batch()


def is_deleted(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def dbt_vars(resets: list[int]) -> list[str]:
    return ["--vars", json.dumps({"cdc_lookback_minutes": LOOKBACK_MINUTES, "cdc_offset_resets": {"widget": resets}})]


def example_project(workdir: Path, table: LandingTable) -> CdcProject:
    # A new folder per example: dbt-duckdb keeps each database file open in-process.
    project = make_cdc_project(Path(tempfile.mkdtemp(prefix="example_", dir=workdir)) / "project")
    project.parsed = SHARED_PARSE  # the examples' projects differ only in their DuckDB file
    project.add_table(table)
    return project


def land(project: CdcProject, visible: list[dict[str, Any]], batch: Batch) -> int | None:
    """Lands a batch; returns the newest ingestion time before it, after checking the
    batch is late by at most the lookback (the engine's contract)."""
    newest_before = max((e["_streamkap_ts_ms"] or 0 for e in visible), default=None)
    assert newest_before is None or all(
        e["_streamkap_ts_ms"] is None or e["_streamkap_ts_ms"] >= newest_before - LOOKBACK_MS for e in batch.events)
    project.append("widget", batch.events)
    visible.extend(batch.events)
    return newest_before
