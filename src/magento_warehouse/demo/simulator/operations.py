"""What operators do to a Streamkap pipeline, played on the shop's change logs.

`Operations` applies a schedule of operations, by batch number, to the change logs
before `Delivery` cuts them into batches, and reports the re-snapshots a batch carries
(the operator then runs `cdc_apply_resnapshot`, as the README's runbook says):

* `recreate_topic`: the table's pipeline is recreated at the end of a batch: offsets
  start again at 0, and the new topic opens with a re-snapshot of the table (every
  live row as a read stamped with the snapshot's start), delivered with the next batch.
* `outage`: the table's events of one batch are lost (a connector outage); at its end a
  re-snapshot reads every live row again. Rows deleted during the outage get no event.
* `lag`: the table's partition falls behind: for `LAG_BATCHES` batches nothing of it is
  delivered, then the backlog arrives, processed (stamped) in offset order.
* `redeliver_old`: a connector restarts from an old offset: a run of the table's oldest
  delivered events (the initial snapshot's reads) arrives again, processed anew.

The default schedule (`DEMO_SCHEDULE`) puts one of each into the demo's first batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .core import Event, Row, Shop

LAG_BATCHES = 3  # a 5-minute batch each: the backlog is older than the models' lookback when it lands
REDELIVERED_EVENTS = 20

DEMO_SCHEDULE: dict[int, tuple[tuple[str, str], ...]] = {
    1: (("recreate_topic", "customer_entity"),),
    2: (("lag", "sales_order"),),
    3: (("outage", "quote"),),
    4: (("redeliver_old", "customer_address_entity"),),
}


@dataclass
class Operations:
    """Plays `schedule` ({batch number: ((operation, table), ...)}) on the shop's logs."""

    shop: Shop
    current_rows: Callable[[str], list[Row]]
    schedule: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    first_delivered: dict[str, list[Event]] = field(default_factory=dict)  # the initial snapshot's events
    lagging: dict[str, int] = field(default_factory=dict)  # table -> batches still held back
    backlog: dict[str, list[Event]] = field(default_factory=dict)
    pending_resnapshots: dict[str, int] = field(default_factory=dict)  # delivered with the next batch
    played: list[str] = field(default_factory=list)

    def before_delivery(self, number: int, end_ms: int) -> dict[str, int]:
        """Applies batch `number`'s operations to the logs, after its activity was played
        and before it is cut into a delivery. Returns the re-snapshots (table: start ms)
        whose reads this batch delivers."""
        delivered_now = self.take_pending_resnapshots()
        for operation, table in self.schedule.get(number, ()):
            log = self.shop.logs[table]
            if operation == "recreate_topic":
                log.offset = 0
                self._resnapshot(table, end_ms)
            elif operation == "outage":
                log.take()  # lost: Streamkap never saw them
                self._resnapshot(table, end_ms)
            elif operation == "lag":
                self.lagging[table] = LAG_BATCHES
            elif operation != "redeliver_old":
                raise ValueError(f"unknown operation {operation!r} for table {table}")
            self.played.append(f"batch {number}: {operation} {table}")
        return delivered_now

    def take_pending_resnapshots(self) -> dict[str, int]:
        """The re-snapshots whose reads the next delivery carries (table: start ms)."""
        pending, self.pending_resnapshots = self.pending_resnapshots, {}
        return pending

    def after_cut(self, number: int, start_ms: int, delivered: dict[str, list[Event]]) -> None:
        """Holds back what a lagging partition has not delivered yet, releases the backlog
        when the lag ends, and adds redeliveries of old events."""
        for table in list(self.lagging):
            self.backlog.setdefault(table, []).extend(delivered.pop(table, []))
            self.lagging[table] -= 1
            delivered[table] = []
            if self.lagging[table] < 0:
                # Caught up: the backlog is processed now, in offset order.
                del self.lagging[table]
                delivered[table] = self._stamped(self.backlog.pop(table), start_ms)
        for operation, table in self.schedule.get(number, ()):
            if operation == "redeliver_old":
                old = self.first_delivered.get(table, [])[:REDELIVERED_EVENTS]
                delivered.setdefault(table, []).extend(
                    row[:-3] + (start_ms + i, row[-2], row[-1]) for i, row in enumerate(old))

    def drain(self, start_ms: int, delivered: dict[str, list[Event]]) -> None:
        """Delivers every backlog: the last batch of a run."""
        for table in list(self.backlog):
            self.lagging.pop(table, None)
            delivered[table] = self._stamped(self.backlog.pop(table) + delivered.get(table, []), start_ms)

    def _resnapshot(self, table: str, started_ms: int) -> None:
        """Every live row of `table` as a read stamped with the snapshot's start,
        processed just after it, appended after the table's events so far."""
        log = self.shop.logs[table]
        for i, row in enumerate(self.current_rows(table)):
            log.append(row, started_ms, started_ms + 1 + i, False)
        self.pending_resnapshots[table] = started_ms

    def _stamped(self, rows: list[Event], start_ms: int) -> list[Event]:
        """`rows` processed from `start_ms` on, in offset order: ingestion times rise."""
        stamped, last = [], start_ms
        for row in sorted(rows, key=lambda event: event[-2]):
            last = max(row[-3], last + 1)
            stamped.append(row[:-3] + (last, row[-2], row[-1]))
        return stamped
