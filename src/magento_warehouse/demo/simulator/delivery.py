"""What Streamkap makes of the shop's changes, and how they reach the warehouse.

* `Delivery`: the initial snapshot, then one micro-batch per window, with the
  realities of at-least-once delivery the current-state models must absorb:
  late events (held back to the next batch) and redeliveries (runs of the
  previous batch's events, processed anew).
* `write_batch`: appends a batch to the DuckDB landing tables.
"""

from __future__ import annotations

import csv
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path

import duckdb

from .core import LATENCY_MS, SNAPSHOT_MS, Event, Row, Shop, collector_paused
from .schema import STREAMKAP_COLUMNS, TABLES, Table

LATE_WINDOW_MS = (60_000, 8 * 60_000)  # how far behind a batch's newest event late ones are
LATE_SHARE = 0.004  # of a batch's events
REDELIVERY_CHANCE = 0.5  # per batch
NULL_MARKER = "\\N"  # how write_batch spells NULL in its CSV files


@dataclass
class Batch:
    """One delivery: per Magento table, the landing rows Streamkap appends.

    Rows are tuples in the landing table's column order (Magento's columns, then
    the Streamkap columns). `number` is 0 for the initial load; `start`/`end` bound
    the simulated commit window.
    """

    number: int
    start: datetime
    end: datetime
    rows: dict[str, list[Event]]
    resnapshots: dict[str, int] = field(default_factory=dict)  # table: snapshot start (epoch ms) of reads delivered

    @property
    def events(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}


class Delivery:
    """Turns the shop's change logs into the batches Streamkap delivers."""

    def __init__(self, shop: Shop) -> None:
        self._shop = shop
        self._logs = shop.logs
        self._carried: dict[str, list[Event]] = {name: [] for name in TABLES}  # due with the next batch
        self._previous: dict[str, list[Event]] = {name: [] for name in TABLES}  # the last batch, for redelivery

    def snapshot(self, rows: dict[str, list[Row]], begin_ms: int) -> dict[str, list[Event]]:
        """The initial snapshot of `rows` (per table, in primary-key order): reads
        spread over SNAPSHOT_MS from `begin_ms`, all processed before the shop's
        clock (the start). Streaming starts once the snapshot is done: later events
        are processed after the start, even those committed during the snapshot."""
        total = max(1, sum(len(table_rows) for table_rows in rows.values()))
        span = SNAPSHOT_MS - LATENCY_MS[1] - 1
        done = 0
        randint = self._shop.randint
        for name, table_rows in rows.items():
            log = self._logs[name]
            for row in table_rows:
                read_ms = begin_ms + done * span // total
                log.append(row, read_ms, read_ms + randint(*LATENCY_MS), False)
                done += 1
            log.last_ts = self._shop.clock
        delivered = {name: self._logs[name].take() for name in TABLES}
        self._previous = delivered
        return delivered

    def batch(self, start_ms: int, end_ms: int) -> dict[str, list[Event]]:
        """The events of the window [start_ms, end_ms): what was processed before
        it closed, plus what the previous batch held back, minus a few late ones,
        plus (sometimes) a redelivered run of the previous batch."""
        fresh: dict[str, list[Event]] = {}
        in_flight: dict[str, list[Event]] = {}
        for name in TABLES:
            rows = self._logs[name].take()
            cut = len(rows)
            while cut and rows[cut - 1][-3] >= end_ms:  # processed after the batch closed
                cut -= 1
            fresh[name], in_flight[name] = rows[:cut], rows[cut:]
        late = self._hold_back(fresh)
        delivered = {name: self._carried[name] + fresh[name] for name in TABLES}
        redelivered = self._redeliver(start_ms, end_ms)
        self._carried = {name: in_flight[name] + late[name] for name in TABLES}
        self._previous = delivered
        return {name: delivered[name] + redelivered.get(name, []) for name in TABLES}

    def drain(self) -> dict[str, list[Event]]:
        """Everything not delivered yet: what earlier batches carried and what was
        processed since (the last batch of a run)."""
        delivered = {name: self._carried[name] + self._logs[name].take() for name in TABLES}
        self._carried = {name: [] for name in TABLES}
        return delivered

    def _hold_back(self, fresh: dict[str, list[Event]]) -> dict[str, list[Event]]:
        """Removes a few events from `fresh` to deliver them late, with the next batch.

        Only events processed 1-8 minutes before the batch's newest event qualify,
        so their lateness stays under 10 minutes, inside the models' lookback.
        """
        newest = max((rows[-1][-3] for rows in fresh.values() if rows), default=None)
        held: dict[str, list[Event]] = {name: [] for name in TABLES}
        if newest is None:
            return held
        low, high = newest - LATE_WINDOW_MS[1], newest - LATE_WINDOW_MS[0]
        candidates = [(name, i) for name, rows in fresh.items()
                      for i, row in enumerate(rows) if low <= row[-3] <= high]
        total = sum(len(rows) for rows in fresh.values())
        wanted = min(len(candidates), max(1, self._shop.count(total * LATE_SHARE)))
        picked = sorted(self._shop.rng.sample(candidates, wanted))
        dropped = set(picked)
        for name, i in picked:
            held[name].append(fresh[name][i])
        for name in dict.fromkeys(name for name, _ in picked):
            fresh[name] = [row for i, row in enumerate(fresh[name]) if (name, i) not in dropped]
        return held

    def _redeliver(self, start_ms: int, end_ms: int) -> dict[str, list[Event]]:
        """At-least-once: after a connector restart, runs of the previous batch's
        events of some tables arrive again, unchanged but processed anew."""
        shop = self._shop
        tables = [name for name, rows in self._previous.items() if rows]
        if not tables or not shop.chance(REDELIVERY_CHANCE):
            return {}
        restart_ms = shop.randint(start_ms, end_ms - 10_000)
        copies: dict[str, list[Event]] = {}
        for name in shop.rng.sample(tables, min(len(tables), shop.randint(1, 3))):
            rows = sorted(self._previous[name], key=itemgetter(-2))
            longest = min(len(rows), max(3, len(rows) // 40))
            length = shop.randint(min(2, longest), longest)
            first = shop.randint(0, len(rows) - length)
            copies[name] = [row[:-3] + (restart_ms + i, row[-2], row[-1])
                            for i, row in enumerate(rows[first:first + length])]
        return copies


# ------------------------------------------------------------------- writing

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def write_batch(con: duckdb.DuckDBPyConnection, batch: Batch, schema: str = "streamkap") -> dict[str, int]:
    """Appends a batch to the landing tables in `schema`, creating them if missing.

    Each table's rows go through a temporary CSV file read by DuckDB with the
    landing table's own column types: one bulk insert per table, in one
    transaction. NULL is written as \\N so that empty strings stay empty strings.
    Returns the number of rows appended per table.
    """
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"schema must be a plain SQL identifier, got {schema!r}")
    written = dict.fromkeys(TABLES, 0)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {schema}")
        with collector_paused(), tempfile.TemporaryDirectory(prefix="magento_cdc_") as folder:
            for name, table in TABLES.items():
                con.execute(table.ddl(schema))
                rows = batch.rows.get(name)
                if rows:
                    _copy_rows(con, schema, table, rows, Path(folder) / f"{name}.csv")
                    written[name] = len(rows)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return written


def _copy_rows(con: duckdb.DuckDBPyConnection, schema: str, table: Table, rows: list[Event], path: Path) -> None:
    """One bulk insert of `rows`. Only the columns whose value varies go through
    the CSV file: a column that holds one value in every row (most of Magento's
    columns hold their default in every event) is a literal of the insert, or
    left out when that value is NULL."""
    columns = table.columns + STREAMKAP_COLUMNS
    magento = len(table.columns)
    varying: list[int] = []
    constants: list[str] = []
    for position, values in enumerate(zip(*rows)):
        first = values[0]
        if position >= magento or values.count(first) != len(values):
            varying.append(position)
        elif first is not None:
            name, kind = columns[position]
            constants.append(f"cast({_literal(first)} as {kind}) as {name}")
    pick = itemgetter(*varying)  # the Streamkap columns are always written: at least four positions
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerows([NULL_MARKER if value is None else value for value in pick(row)] for row in rows)
    read = ", ".join(f"'{columns[i][0]}': '{columns[i][1]}'" for i in varying)
    con.execute(
        f"insert into {schema}.{table.name} by name select {', '.join(['*', *constants])} "
        f"from read_csv(?, columns = {{{read}}}, "
        "header = false, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        "new_line = '\\n', nullstr = '\\N')",
        [str(path)],
    )


def _literal(value: object) -> str:
    """`value` as an SQL string literal (cast to the column's type by the caller)."""
    return "'" + str(value).replace("'", "''") + "'"
