"""The simulation core every domain of the shop shares.

`Shop` holds the one seeded `random.Random` (every draw of the simulation goes
through it, in a fixed order, which is what makes a seed reproducible), the
simulated clock and its queue of scheduled actions, the id sequences, and the
change logs (`ChangeLog`) that record each committed change as the event
Streamkap makes of it. `Domain` is the base of the shop's domains (customers,
catalog, carts, orders, faults): their shortcuts to the `Shop`.
"""

from __future__ import annotations

import gc
import heapq
import random
import re
import unicodedata
from bisect import bisect
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import accumulate
from typing import Any, Callable, Iterator, Sequence, TypeVar

from .schema import TABLES, Table

DEMO_BATCHES = 12
"""Batches the demo writes after the initial load; sets the default start."""

SNAPSHOT_MS = 60_000  # the initial snapshot reads the tables during the minute before the start
LATENCY_MS = (500, 3_000)  # Streamkap processes an event this long after its commit

EPOCH = datetime(1970, 1, 1)
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")

Row = dict[str, Any]
Event = tuple[Any, ...]  # a landing row: Magento's columns, then Streamkap's
T = TypeVar("T")
Weighted = tuple[Sequence[T], list[float]]  # options and their cumulative weights


def weights(options: Sequence[T], shares: Sequence[float]) -> Weighted[T]:
    """`options` to draw with `Shop.weighted`, each in proportion to its share."""
    return options, list(accumulate(shares))


def default_start(batches: int = DEMO_BATCHES, batch_minutes: int = 5, now: datetime | None = None) -> datetime:
    """The start that makes `batches` batches end at the current minute (naive UTC)."""
    moment = utc_naive(now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    return moment - timedelta(minutes=batches * batch_minutes)


def utc_naive(moment: datetime) -> datetime:
    """Naive UTC, the form Magento's timestamps take here."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def to_datetime(ms: int) -> datetime:
    """Whole seconds, as MySQL's timestamp columns hold them."""
    return EPOCH + timedelta(seconds=ms // 1000)


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=None)
def plain_ascii(text: str) -> str:
    """Lower-case letters and digits only, for email local parts and url keys."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", plain)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector: the simulator allocates millions of
    long-lived rows and no garbage cycles, so collections only rescan the heap
    (about a third of the run time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ChangeLog:
    """One table's change log: numbers events by offset and stamps processing time.

    Rows come from `schema.new_row`: they hold every Magento column of the table,
    in landing-table order, and never gain keys, so an event is the row's values,
    then the Streamkap columns.
    """

    __slots__ = ("table", "width", "offset", "last_ts", "rows")

    def __init__(self, table: Table) -> None:
        self.table = table.name
        self.width = len(table.columns)
        self.offset = 0
        self.last_ts = 0
        self.rows: list[Event] = []

    def append(self, row: Row, source_ms: int, ts_ms: int, deleted: bool) -> None:
        if len(row) != self.width:
            raise ValueError(f"a {self.table} row has {len(row)} columns, not {self.width}: {sorted(row)}")
        # A table is one Kafka partition: Streamkap processes it in order.
        self.last_ts = max(ts_ms, self.last_ts)
        self.rows.append((*row.values(), source_ms, self.last_ts, self.offset, "true" if deleted else "false"))
        self.offset += 1

    def take(self) -> list[Event]:
        """The events logged since the last take."""
        rows, self.rows = self.rows, []
        return rows


class Shop:
    """Randomness, simulated time, id sequences and change logs of one shop.

    `start` is when streaming starts, `clock` the start of the next batch window,
    `now` the commit time of the action being played (both epoch milliseconds). While `recording` is False
    (the warm-up before the snapshot) changes happen but are not logged.
    """

    def __init__(self, seed: int, size: float, start: datetime) -> None:
        self.size = size
        self.start = start
        self.rng = random.Random(seed)
        self.random = self.rng.random
        self.logs = {name: ChangeLog(table) for name, table in TABLES.items()}
        self._last_ids = dict.fromkeys(TABLES, 0)
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._queued = 0
        self.clock = to_ms(start)
        self.now = self.clock
        self.recording = True
        self._stamp_cache = (-1, EPOCH)

    # ------------------------------------------------------------ changes

    def emit(self, table: str, row: Row, deleted: bool = False) -> None:
        """Records a committed change of `row` at the current simulated time."""
        if self.recording:
            now = self.now
            self.logs[table].append(row, now - now % 1000, now + self.randint(*LATENCY_MS), deleted)

    def next_id(self, table: str) -> int:
        self._last_ids[table] += 1
        return self._last_ids[table]

    # --------------------------------------------------------------- time

    def run_until(self, end_ms: int) -> None:
        """Plays the scheduled actions due before `end_ms`, in time order."""
        queue = self._queue
        while queue and queue[0][0] < end_ms:
            self.now, _, action = heapq.heappop(queue)
            action()

    def push(self, at_ms: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (at_ms, self._queued, action))
        self._queued += 1

    def after(self, low_s: int, high_s: int, action: Callable[[], None]) -> None:
        """Schedules `action` `low_s` to `high_s` seconds from now."""
        self.push(self.now + self.randint(low_s * 1000, high_s * 1000), action)

    def stamp(self) -> datetime:
        """The current commit time as a Magento timestamp (cached per second)."""
        second = self.now // 1000
        if self._stamp_cache[0] != second:
            self._stamp_cache = (second, to_datetime(self.now))
        return self._stamp_cache[1]

    def past(self, min_days: float, max_days: float) -> datetime:
        """A moment some days before `start`, for rows that predate the snapshot."""
        seconds = self.randint(int(min_days * 86_400), int(max_days * 86_400))
        return to_datetime(self.clock - SNAPSHOT_MS - seconds * 1000)

    # --------------------------------------------------------- randomness
    # The hot paths draw through Random.random() only: several times cheaper than
    # randint/choice/choices, and just as deterministic.

    def randint(self, low: int, high: int) -> int:
        """Uniform in [low, high]."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.random() * len(options))]

    def weighted(self, choice: Weighted[T]) -> T:
        options, cumulative = choice
        return options[bisect(cumulative, self.random() * cumulative[-1])]

    def chance(self, probability: float) -> bool:
        return self.random() < probability

    def count(self, mean: float) -> int:
        """A count around `mean` (+-15%), rounded at random so small rates still occur."""
        value = mean * (0.85 + 0.3 * self.random())
        whole = int(value)
        return whole + (self.random() < value - whole)

    def scaled(self, count: int) -> int:
        """`count` entities of a shop of size 1, for this shop's size."""
        return max(1, round(count * self.size))


class Domain:
    """A part of the shop (customers, catalog, ...): its state and the actions that
    change it, with shortcuts to the shared `Shop`."""

    def __init__(self, shop: Shop) -> None:
        self._shop = shop
        self._rng = shop.rng
        self._random = shop.random
        self._int = shop.randint
        self._pick = shop.pick
        self._weighted = shop.weighted
        self._chance = shop.chance
        self._emit = shop.emit
        self._next_id = shop.next_id
        self._stamp = shop.stamp
        self._after = shop.after


class Pool:
    """Ids to draw uniformly at random, with constant-time add and discard."""

    def __init__(self) -> None:
        self._items: list[int] = []
        self._index: dict[int, int] = {}

    def add(self, item: int) -> None:
        if item not in self._index:
            self._index[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: int) -> None:
        position = self._index.pop(item, None)
        if position is None:
            return
        last = self._items.pop()
        if position < len(self._items):
            self._items[position] = last
            self._index[last] = position

    def pick(self, draw: float) -> int | None:
        """The item at `draw` (a uniform number in [0, 1)), or None when empty."""
        return self._items[int(draw * len(self._items))] if self._items else None
