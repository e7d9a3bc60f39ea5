"""Deterministic simulator of a Magento 2 shop as Streamkap delivers its change logs.

The simulator plays a retailer as a discrete-event simulation driven by one seeded
`random.Random`, and records every insert, update and delete it makes as the change
event Streamkap would land: Magento's columns, then `_streamkap_source_ts_ms`,
`_streamkap_ts_ms`, `_streamkap_offset` and `__deleted` (see `schema.py`). The same
seed, scale, start and batch length always give the same events.

Time model
  * `initial_load()` is the connector's initial snapshot, read during the minute
    before `start`: every row once, `__deleted = 'false'`, in primary-key order.
    The shop has traded for WARM_UP_MINUTES before it (undelivered), so the
    snapshot holds open and abandoned carts and orders in every state.
  * Each `next_batch()` covers the next `batch_minutes` of shop activity. A commit's
    `_streamkap_source_ts_ms` has whole seconds (MySQL binlog precision), so events
    share it and only `_streamkap_offset` orders them; Streamkap processes each
    event 0.5-3 s after the commit (`_streamkap_ts_ms`, non-decreasing per table).
    A batch holds the events processed before its end, so ingestion time increases
    from batch to batch, except for the late events below.
  * Without `start`, the shop starts `DEMO_BATCHES * batch_minutes` before the
    current minute (UTC), so that the demo's batches end about now and freshness
    checks pass. This is the only place the wall clock is read.
  * Magento timestamps are naive UTC datetimes with whole seconds. Shop processes
    are compressed to fit a demo: orders are invoiced, shipped and refunded within
    minutes, and converted carts are purged after QUOTE_LIFETIME_MS (30 days in
    Magento).

Streamkap realities in the batches
  * Redelivery (at-least-once): some batches re-deliver a contiguous run of the
    previous batch's events of one to three tables, identical except for a later
    `_streamkap_ts_ms`.
  * Late visibility: a few events of each batch are held back and written with the
    next batch, carrying a `_streamkap_ts_ms` 1 to 8 minutes older than the newest
    event already delivered.
  * Primary-key changes: an order or customer address whose entity_id changes
    arrives as a delete of the old key then a create of the new one, with the same
    `_streamkap_source_ts_ms` and consecutive offsets.

Magento conventions kept
  * sales_order.base_discount_amount is negative (items carry positive discounts):
    base_grand_total = base_subtotal + base_discount_amount + shipping + tax.
  * Only the parent line of a configurable or bundle item carries amounts; its
    children (parent_item_id set) carry 0. Order numbers are per store view
    ('000000123' on store 1, '2000000045' on store 2).
  * quote.converted_at stays NULL, as in Magento 2: a converted quote is
    is_active = 0 with reserved_order_id set, and sales_order.quote_id points to it.
  * base_total_paid and base_total_refunded are NULL until paid or refunded. Amounts
    are in the one base currency, USD, on every website.
"""

from __future__ import annotations

import csv
import gc
import heapq
import random
import re
import tempfile
import unicodedata
from bisect import bisect
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache, partial
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import duckdb

from .schema import STREAMKAP_COLUMNS, TABLES, Table

DEMO_BATCHES = 12
"""Batches the demo writes after the initial load; sets the default start."""

PRODUCT_ENTITY_TYPE_ID = 4
BASE_CURRENCY = "USD"

SNAPSHOT_MS = 60_000
LATENCY_MS = (500, 3_000)
LATE_WINDOW_MS = (60_000, 8 * 60_000)  # how far behind a batch's newest event late ones are
LATE_SHARE = 0.004  # of a batch's events
REDELIVERY_CHANCE = 0.5  # per batch
QUOTE_LIFETIME_MS = 20 * 60_000
WARM_UP_MINUTES = 180  # trading played (not delivered) before the snapshot: carts idle for hours
LOW_STOCK_QTY = 5

EPOCH = datetime(1970, 1, 1)
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
NULL_MARKER = "\\N"  # how write_batch spells NULL in its CSV files

Row = dict[str, Any]
Event = tuple[Any, ...]
T = TypeVar("T")
Weighted = tuple[Sequence[T], list[float]]  # options and their cumulative weights


def _weights(options: Sequence[T], weights: Sequence[float]) -> Weighted[T]:
    return options, list(accumulate(weights))


# (attribute_id, entity_type_id, attribute_code, backend_type, frontend_input,
#  frontend_label, is_required). Ids are this install's: join on attribute_code and
# entity_type_id, never on ids. Categories (type 3) have a `name` attribute too.
ATTRIBUTES: tuple[tuple[Any, ...], ...] = (
    (5, 1, "firstname", "static", "text", "First Name", 1),
    (7, 1, "lastname", "static", "text", "Last Name", 1),
    (9, 1, "email", "static", "text", "Email", 1),
    (11, 1, "dob", "static", "date", "Date of Birth", 0),
    (45, 3, "name", "varchar", "text", "Name", 1),
    (73, 4, "name", "varchar", "text", "Product Name", 1),
    (74, 4, "sku", "static", "text", "SKU", 1),
    (75, 4, "description", "text", "textarea", "Description", 0),
    (77, 4, "price", "decimal", "price", "Price", 1),
    (82, 4, "weight", "decimal", "weight", "Weight", 0),
    (97, 4, "status", "int", "select", "Enable Product", 0),
    (99, 4, "visibility", "int", "select", "Visibility", 0),
    (121, 4, "url_key", "varchar", "text", "URL Key", 0),
    (136, 4, "tax_class_id", "int", "select", "Tax Class", 0),
)
PRODUCT_ATTRIBUTE_IDS: dict[str, int] = {
    code: attribute_id for attribute_id, entity_type, code, *_ in ATTRIBUTES
    if entity_type == PRODUCT_ENTITY_TYPE_ID
}

WEBSITES: tuple[Row, ...] = (
    {"website_id": 0, "code": "admin", "name": "Admin", "sort_order": 0, "default_group_id": 0, "is_default": 0},
    {"website_id": 1, "code": "base", "name": "Main Website", "sort_order": 0, "default_group_id": 1, "is_default": 1},
    {"website_id": 2, "code": "eu", "name": "Europe Website", "sort_order": 10, "default_group_id": 2, "is_default": 0},
)
STORES: tuple[Row, ...] = tuple(
    dict(zip(("store_id", "code", "website_id", "group_id", "name", "sort_order", "is_active"), store))
    for store in (
        (0, "admin", 0, 0, "Admin", 0, 1),
        (1, "default", 1, 1, "Default Store View", 0, 1),
        (2, "eu_en", 2, 2, "Europe English", 0, 1),
        (3, "eu_de", 2, 2, "Europe Deutsch", 1, 1),
    )
)
CUSTOMER_GROUPS: tuple[Row, ...] = tuple(
    {"customer_group_id": i, "customer_group_code": code, "tax_class_id": 3}
    for i, code in enumerate(("NOT LOGGED IN", "General", "Wholesale", "Retailer"))
)
STORE_CHOICE = _weights((1, 2, 3), (55, 25, 20))
GENDER_CHOICE = _weights((1, 2, 3, None), (35, 40, 5, 20))
GROUP_CHOICE = _weights((1, 2, 3), (90, 6, 4))
QTY_CHOICE = _weights((1, 2, 3), (80, 15, 5))
GUEST_SUBSCRIBER_STATUS = _weights((1, 4, 3), (70, 20, 10))
PAYMENT_CHOICE = _weights(("braintree", "paypal_express", "checkmo", "banktransfer"), (50, 30, 12, 8))
STORE_COUNTRIES = {1: ("US",), 2: ("GB", "FR", "NL"), 3: ("DE",)}
TAX_RATES = {"US": Decimal("0.0825"), "GB": Decimal("0.20"), "DE": Decimal("0.19"),
             "FR": Decimal("0.20"), "NL": Decimal("0.21")}

FIRST_NAMES = ("James", "Mary", "José", "Zoë", "Liam", "Olivia", "Noah", "Emma", "Lukas", "Mia",
               "Chloé", "Seán", "Aoife", "Jan", "Sophie", "Mohammed", "Fatima", "Anne-Marie",
               "Björn", "Hannah", "Lucas", "Léa", "Daan", "Emily", "Oliver", "Amelia", "Ethan",
               "Isabella", "Finn", "Ava")
LAST_NAMES = ("Smith", "O'Brien", "Müller", "García", "Johnson", "Dubois", "van der Berg", "Schmidt",
              "Nguyen", "Williams", "Brown", "Martin", "Rossi", "Jansen", "Kowalski", "Fischer",
              "Taylor", "Lefèvre", "Murphy", "Silva", "de Vries", "Weber", "Moreau", "Davies",
              "Clarke", "Becker", "Bakker", "Lambert", "Evans", "Wagner")
COMPANIES = ("Acme, Inc.", "Smith & Sons", "Müller GmbH", '"Blue Sky" Ltd', "Northwind Traders",
             "Dupont et Fils", "Studio 54, LLC")
PLACES: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "US": (("Austin", "Texas", "787"), ("Seattle", "Washington", "981"), ("Brooklyn", "New York", "112"),
           ("San Diego", "California", "921"), ("Denver", "Colorado", "802"), ("Chicago", "Illinois", "606")),
    "GB": (("London", None, "SW1A"), ("Manchester", None, "M1"), ("Leeds", None, "LS1"), ("Bristol", None, "BS1")),
    "DE": (("Berlin", "Berlin", "10"), ("München", "Bayern", "80"), ("Hamburg", "Hamburg", "20"),
           ("Köln", "Nordrhein-Westfalen", "50")),
    "FR": (("Paris", "Île-de-France", "750"), ("Lyon", "Auvergne-Rhône-Alpes", "690"),
           ("Marseille", "Provence-Alpes-Côte d'Azur", "130")),
    "NL": (("Amsterdam", "Noord-Holland", "10"), ("Utrecht", "Utrecht", "35"), ("Rotterdam", "Zuid-Holland", "30")),
}
PLACE_KEYS = ("city", "company", "country_id", "firstname", "lastname", "postcode", "region", "street", "telephone")
ORDER_ADDRESS_KEYS = ("firstname", "lastname", "street", "city", "region", "postcode", "country_id", "telephone")
# Street, postcode and telephone formats; '#' is a random digit, '@' a random letter.
ADDRESS_FORMATS = {
    "US": ("{number} {name} St", "{prefix}##", "(###) 555-####"),
    "GB": ("{number} {name} Road", "{prefix} #@@", "+44 20 #### ####"),
    "DE": ("{name}straße {number}", "{prefix}###", "+49 30 ######"),
    "FR": ("{number} rue {name}", "{prefix}##", "0# ## ## ## ##"),
    "NL": ("{name}straat {number}", "{prefix}## @@", "+31 6 ########"),
}
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
STREET_NAMES = {"US": ("Oak", "Maple", "Park", "Lake", "Washington", "Cedar"),
                "GB": ("Station", "Church", "Victoria", "Mill", "Park"),
                "DE": ("Linden", "Schiller", "Goethe", "Garten", "Berg"),
                "FR": ("de la Paix", "Victor Hugo", "du Moulin", "des Lilas"),
                "NL": ("Kerk", "Molen", "Dorp", "Linden")}
EMAIL_DOMAINS = {"US": ("gmail.com", "yahoo.com", "outlook.com", "icloud.com"),
                 "GB": ("gmail.com", "hotmail.co.uk", "btinternet.com"),
                 "DE": ("gmail.com", "web.de", "gmx.de"),
                 "FR": ("gmail.com", "orange.fr", "free.fr"),
                 "NL": ("gmail.com", "ziggo.nl", "outlook.com")}

ADJECTIVES = ("Aero", "Luma", "Summit", "Breathe-Easy", "Zephyr", "Nora", "Orion", "Atlas", "Kaia",
              "Helix", "Strive", "Vela")
APPAREL = ("Tee", "Hoodie", "Jacket", "Tank", "Legging", "Short", "Pullover", "Windbreaker")
GEAR = ("Yoga Mat", "Water Bottle", "Backpack", '15" Laptop Sleeve', "Foam Roller", "Duffle Bag",
        "Tote, Large", "Resistance Band", "Sports Watch", "Headband")
GERMAN = {"Tee": "T-Shirt", "Hoodie": "Kapuzenpullover", "Jacket": "Jacke", "Short": "Shorts",
          "Yoga Mat": "Yogamatte", "Water Bottle": "Trinkflasche", "Backpack": "Rucksack"}
SIZES = ("XS", "S", "M", "L", "XL")
COLORS = ("Black", "Blue", "Gray", "Red", "Green", "White")
RENAMES = ("New Edition", "Eco", "Limited", "Refresh")


def default_start(batches: int = DEMO_BATCHES, batch_minutes: int = 5, now: datetime | None = None) -> datetime:
    """The start that makes `batches` batches end at the current minute (naive UTC)."""
    moment = _utc_naive(now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    return moment - timedelta(minutes=batches * batch_minutes)


def _utc_naive(moment: datetime) -> datetime:
    """Naive UTC, the form Magento's timestamps take here."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


@contextmanager
def _collector_paused() -> Iterator[None]:
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


def _to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _to_datetime(ms: int) -> datetime:
    """Whole seconds, as MySQL's timestamp columns hold them."""
    return EPOCH + timedelta(seconds=ms // 1000)


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=None)
def _pattern_parts(pattern: str) -> tuple[str, ...]:
    """A `_fill` pattern split into runs of '#', runs of '@' and literal text."""
    return tuple(re.findall(r"#+|@+|[^#@]+", pattern))


@lru_cache(maxsize=None)
def _ascii(text: str) -> str:
    """Lower-case letters and digits only, for email local parts and url keys."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", plain)


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

    @property
    def events(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}


class _ChangeLog:
    """One table's change log: numbers events by offset and stamps processing time."""

    __slots__ = ("values", "offset", "last_ts", "rows")

    def __init__(self, table: Table) -> None:
        self.values = itemgetter(*table.column_names)
        self.offset = 0
        self.last_ts = 0
        self.rows: list[Event] = []

    def append(self, row: Row, source_ms: int, ts_ms: int, deleted: bool) -> None:
        # A table is one Kafka partition: Streamkap processes it in order.
        self.last_ts = max(ts_ms, self.last_ts)
        self.rows.append(self.values(row) + (source_ms, self.last_ts, self.offset, "true" if deleted else "false"))
        self.offset += 1


class _Pool:
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


@dataclass(eq=False)
class _Product:
    entity: Row
    base_name: str
    names: dict[int, Row]  # store_id -> varchar row of `name`
    prices: dict[int, Row]  # store_id -> decimal row of `price`; configurables have none
    status: Row
    stock: Row
    values: list[tuple[str, Row]]  # every EAV value row, as (table, row)
    children: list[_Product] = field(default_factory=list)
    restock_pending: bool = False

    @property
    def id(self) -> int:
        return self.entity["entity_id"]

    @property
    def enabled(self) -> bool:
        return self.status["value"] == 1

    def name_in(self, store_id: int) -> str:
        return (self.names.get(store_id) or self.names[0])["value"]

    def price_in(self, store_id: int) -> Decimal:
        return _money((self.prices.get(store_id) or self.prices[0])["value"])


@dataclass(eq=False)
class _Line:
    """A visible cart line, its child rows (configurable/bundle), and the simple
    products whose stock one unit of it takes."""

    item: Row
    children: list[Row]
    units: list[_Product]


@dataclass(eq=False)
class _Cart:
    row: Row
    lines: list[_Line]
    steps_left: int
    converts: bool
    guest: tuple[str, str, str] | None = None  # first name, last name, country at checkout


@dataclass(eq=False)
class _Order:
    row: Row
    lines: list[tuple[Row, list[Row]]]  # parent item row, child item rows
    addresses: list[Row]
    payment: Row
    needs: list[tuple[_Product, int]]

    @property
    def items(self) -> list[Row]:
        return [row for parent, children in self.lines for row in (parent, *children)]


class MagentoSimulator:
    """A Magento 2 retailer whose database changes come out as Streamkap batches.

    `scale` multiplies entity counts and activity; `batch_minutes` is the simulated
    time each `next_batch()` covers. See the module docstring for the time model.
    """

    def __init__(self, seed: int = 42, scale: float = 1.0, start: datetime | None = None,
                 batch_minutes: int = 5) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if batch_minutes < 1:
            raise ValueError(f"batch_minutes must be at least 1, got {batch_minutes}")
        self.seed = seed
        self.scale = scale
        self.batch_minutes = batch_minutes
        self.start = _utc_naive(start) if start is not None else default_start(DEMO_BATCHES, batch_minutes)
        self._rng = random.Random(seed)
        self._random = self._rng.random
        self._logs = {name: _ChangeLog(table) for name, table in TABLES.items()}
        self._last_ids = dict.fromkeys(TABLES, 0)
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._queued = 0
        self._clock = _to_ms(self.start)  # start of the next batch window
        self._now = self._clock  # commit time of the action being played
        self._batch_number: int | None = None
        self._recording = True  # False while warming up: events are not delivered
        self._stamp_cache = (-1, EPOCH)
        self._carried: dict[str, list[Event]] = {name: [] for name in TABLES}
        self._previous: dict[str, list[Event]] = {name: [] for name in TABLES}

        self._customers: dict[int, Row] = {}
        self._customer_pool = _Pool()
        self._customer_addresses: dict[int, list[int]] = {}
        self._addresses: dict[int, Row] = {}
        self._address_pool = _Pool()
        self._taken_emails: set[tuple[int, str]] = set()
        self._subscribers: dict[int, Row] = {}
        self._subscriber_of: dict[int, int] = {}
        self._subscribed = _Pool()
        self._guests: list[tuple[str, str, str, str]] = []  # email, first, last, country

        self._products: list[_Product] = []
        self._priced: list[_Product] = []
        self._sellable: list[_Product] = []
        self._sell_choice: Weighted[_Product] = ((), [])

        self._quotes: dict[int, _Cart] = {}  # every quote not yet purged
        self._shopping: set[int] = set()  # customers with a cart in progress
        self._abandoned: dict[int, _Cart] = {}  # customer id -> their open, idle cart
        self._converted: deque[tuple[int, _Cart]] = deque()
        self._orders: list[_Order] = []
        self._order_numbers = dict.fromkeys((1, 2, 3), 0)

        self._activities: tuple[tuple[float, Callable[[], None]], ...] = (
            (12.0, self._open_cart),
            (1.2, self._register_customer),
            (1.0, self._update_customer),
            (0.4, self._update_address),
            (0.2, self._delete_customer),
            (0.2, self._move_customer_address),
            (0.2, self._move_order_address),
            (0.8, self._subscribe),
            (0.4, self._unsubscribe),
            (0.8, self._change_price),
            (0.2, self._rename_product),
            (0.1, self._toggle_status),
            (0.4, self._restock),
        )

    # ------------------------------------------------------------------ public

    def initial_load(self) -> Batch:
        """The initial snapshot: every row of the shop as it stands at `start`.

        The shop has traded for WARM_UP_MINUTES before (those events are not
        delivered), so the snapshot holds open carts and orders in every state,
        and the first batch continues their stories.
        """
        if self._batch_number is not None:
            raise RuntimeError("initial_load() runs once, before the first next_batch()")
        self._batch_number = 0
        snapshot_ms = self._clock - SNAPSHOT_MS
        with _collector_paused():
            self._seed_catalog()
            self._seed_customers()
            self._recording = False
            for begin in range(snapshot_ms - WARM_UP_MINUTES * 60_000, snapshot_ms, self.batch_minutes * 60_000):
                self._play(begin, min(begin + self.batch_minutes * 60_000, snapshot_ms))
            self._recording = True
            self._emit_snapshot(self._current_rows(), snapshot_ms)
        delivered = {name: self._take(name) for name in TABLES}
        self._previous = delivered
        return Batch(0, _to_datetime(snapshot_ms), self.start, delivered)

    def next_batch(self) -> Batch:
        """The next `batch_minutes` of shop activity, as Streamkap delivers it."""
        if self._batch_number is None:
            raise RuntimeError("call initial_load() before next_batch()")
        self._batch_number += 1
        start_ms, end_ms = self._clock, self._clock + self.batch_minutes * 60_000
        with _collector_paused():
            self._play(start_ms, end_ms)
            rows = self._deliver(start_ms, end_ms)
        self._clock = end_ms
        return Batch(self._batch_number, _to_datetime(start_ms), _to_datetime(end_ms), rows)

    # ------------------------------------------------------- events and delivery

    def _play(self, start_ms: int, end_ms: int) -> None:
        """Plays the shop from `start_ms` to `end_ms`: this window's spontaneous
        activity plus the follow-ups earlier actions scheduled."""
        self._schedule_activity(start_ms, end_ms)
        while self._queue and self._queue[0][0] < end_ms:
            self._now, _, action = heapq.heappop(self._queue)
            action()

    def _emit(self, table: str, row: Row, deleted: bool = False) -> None:
        """Records a committed change of `row` at the current simulated time."""
        if self._recording:
            now = self._now
            self._logs[table].append(row, now - now % 1000, now + self._int(*LATENCY_MS), deleted)

    def _current_rows(self) -> dict[str, list[Row]]:
        """Every live row of the shop, per table in primary-key order (as a
        snapshot's table scans read them)."""
        rows: dict[str, list[Row]] = {name: [] for name in TABLES}
        rows["store_website"].extend(dict(row) for row in WEBSITES)
        rows["store"].extend(dict(row) for row in STORES)
        rows["customer_group"].extend(dict(row) for row in CUSTOMER_GROUPS)
        rows["eav_attribute"].extend(
            dict(zip(TABLES["eav_attribute"].column_names, attribute)) for attribute in ATTRIBUTES)
        for product in self._products:
            rows["catalog_product_entity"].append(product.entity)
            rows["cataloginventory_stock_item"].append(product.stock)
            for table, row in product.values:
                rows[table].append(row)
        rows["customer_entity"].extend(self._customers.values())
        rows["customer_address_entity"].extend(self._addresses.values())
        rows["newsletter_subscriber"].extend(self._subscribers.values())
        for cart in self._quotes.values():
            rows["quote"].append(cart.row)
            rows["quote_item"].extend(item for line in cart.lines for item in (line.item, *line.children))
        for order in self._orders:
            rows["sales_order"].append(order.row)
            rows["sales_order_item"].extend(order.items)
            rows["sales_order_address"].extend(order.addresses)
            rows["sales_order_payment"].append(order.payment)
        for name, table_rows in rows.items():
            table_rows.sort(key=itemgetter(TABLES[name].primary_key))
        return rows

    def _emit_snapshot(self, rows: dict[str, list[Row]], begin_ms: int) -> None:
        """Snapshot reads spread over SNAPSHOT_MS, all processed before `start`.
        Streaming starts once the snapshot is done: later events are processed
        after `start`, even those committed during the snapshot."""
        total = max(1, sum(len(table_rows) for table_rows in rows.values()))
        span = SNAPSHOT_MS - LATENCY_MS[1] - 1
        done = 0
        for name, table_rows in rows.items():
            log = self._logs[name]
            for row in table_rows:
                read_ms = begin_ms + done * span // total
                log.append(row, read_ms, read_ms + self._int(*LATENCY_MS), False)
                done += 1
            log.last_ts = self._clock

    def _take(self, name: str) -> list[Event]:
        rows, self._logs[name].rows = self._logs[name].rows, []
        return rows

    def _deliver(self, start_ms: int, end_ms: int) -> dict[str, list[Event]]:
        """Splits what was processed into this batch and what arrives with the next."""
        fresh: dict[str, list[Event]] = {}
        in_flight: dict[str, list[Event]] = {}
        for name in TABLES:
            rows = self._take(name)
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
        wanted = min(len(candidates), max(1, self._count(total * LATE_SHARE)))
        picked = sorted(self._rng.sample(candidates, wanted))
        dropped = set(picked)
        for name, i in picked:
            held[name].append(fresh[name][i])
        for name in dict.fromkeys(name for name, _ in picked):
            fresh[name] = [row for i, row in enumerate(fresh[name]) if (name, i) not in dropped]
        return held

    def _redeliver(self, start_ms: int, end_ms: int) -> dict[str, list[Event]]:
        """At-least-once: after a connector restart, runs of the previous batch's
        events of some tables arrive again, unchanged but processed anew."""
        tables = [name for name, rows in self._previous.items() if rows]
        if not tables or not self._chance(REDELIVERY_CHANCE):
            return {}
        restart_ms = self._int(start_ms, end_ms - 10_000)
        copies: dict[str, list[Event]] = {}
        for name in self._rng.sample(tables, min(len(tables), self._int(1, 3))):
            rows = sorted(self._previous[name], key=itemgetter(-2))
            longest = min(len(rows), max(3, len(rows) // 40))
            length = self._int(min(2, longest), longest)
            first = self._int(0, len(rows) - length)
            copies[name] = [row[:-3] + (restart_ms + i, row[-2], row[-1])
                            for i, row in enumerate(rows[first:first + length])]
        return copies

    # ------------------------------------------------------------- scheduling

    def _schedule_activity(self, start_ms: int, end_ms: int) -> None:
        """Spreads this window's spontaneous activity over it; one cron run cleans carts."""
        minutes = (end_ms - start_ms) / 60_000
        for rate, action in self._activities:
            for _ in range(self._count(rate * minutes * self.scale)):
                self._push(self._int(start_ms, end_ms - 1), action)
        self._push(self._int(start_ms, end_ms - 1), self._clean_quotes)

    def _push(self, at_ms: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (at_ms, self._queued, action))
        self._queued += 1

    def _after(self, low_s: int, high_s: int, action: Callable[[], None]) -> None:
        self._push(self._now + self._int(low_s * 1000, high_s * 1000), action)

    def _count(self, mean: float) -> int:
        """A count around `mean` (+-15%), rounded at random so small rates still occur."""
        value = mean * (0.85 + 0.3 * self._random())
        whole = int(value)
        return whole + (self._random() < value - whole)

    def _scaled(self, count: int) -> int:
        return max(1, round(count * self.scale))

    def _chance(self, probability: float) -> bool:
        return self._random() < probability

    # The hot paths draw through Random.random() only: several times cheaper than
    # randint/choice/choices, and just as deterministic.
    def _int(self, low: int, high: int) -> int:
        """Uniform in [low, high]."""
        return low + int(self._random() * (high - low + 1))

    def _pick(self, options: Sequence[T]) -> T:
        return options[int(self._random() * len(options))]

    def _weighted(self, choice: Weighted[T]) -> T:
        options, cumulative = choice
        return options[bisect(cumulative, self._random() * cumulative[-1])]

    def _next_id(self, table: str) -> int:
        self._last_ids[table] += 1
        return self._last_ids[table]

    def _stamp(self) -> datetime:
        """The current commit time as a Magento timestamp (cached per second)."""
        second = self._now // 1000
        if self._stamp_cache[0] != second:
            self._stamp_cache = (second, _to_datetime(self._now))
        return self._stamp_cache[1]

    def _past(self, min_days: float, max_days: float) -> datetime:
        """A moment some days before `start`, for rows that predate the snapshot."""
        seconds = self._int(int(min_days * 86_400), int(max_days * 86_400))
        return _to_datetime(self._clock - SNAPSHOT_MS - seconds * 1000)

    # -------------------------------------------------------------- people

    def _person(self) -> tuple[str, str]:
        return self._pick(FIRST_NAMES), self._pick(LAST_NAMES)

    def _email(self, first: str, last: str, country: str) -> str:
        first, last = _ascii(first), _ascii(last)
        local = self._pick((f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}"))
        if self._chance(0.6):
            local += str(self._int(1, 999))
        return f"{local}@{self._pick(EMAIL_DOMAINS[country])}"

    def _as_typed(self, email: str) -> str:
        """Shoppers' spelling of an address: case and stray spaces vary, as in real
        guest checkouts and newsletter forms."""
        roll = self._random()
        if roll < 0.6:
            return email
        if roll < 0.8:
            local, domain = email.split("@")
            return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.capitalize()
        if roll < 0.9:
            return email.upper()
        return self._pick((f" {email}", f"{email} ", f" {email} "))

    def _address_fields(self, country: str, first: str, last: str) -> Row:
        city, region, prefix = self._pick(PLACES[country])
        street_format, postcode_pattern, telephone_pattern = ADDRESS_FORMATS[country]
        street = street_format.format(number=self._int(1, 240), name=self._pick(STREET_NAMES[country]))
        if self._chance(0.15):  # Magento keeps street lines newline-separated
            street += "\n" + self._pick(("Apt 4B", "Flat 2", "2nd floor", "c/o Müller"))
        return {"city": city, "company": self._pick(COMPANIES) if self._chance(0.1) else None,
                "country_id": country, "firstname": first, "lastname": last,
                "postcode": self._fill(postcode_pattern).format(prefix=prefix), "region": region,
                "street": street, "telephone": self._fill(telephone_pattern)}

    def _fill(self, pattern: str) -> str:
        """`pattern` with each '#' replaced by a random digit and each '@' by a letter."""
        parts = []
        for part in _pattern_parts(pattern):
            if part[0] == "#":
                parts.append(f"{int(self._random() * 10 ** len(part)):0{len(part)}d}")
            elif part[0] == "@":
                parts.append("".join(self._pick(POSTCODE_LETTERS) for _ in part))
            else:
                parts.append(part)
        return "".join(parts)

    def _country_of(self, customer: Row) -> str:
        address = self._addresses.get(customer["default_billing"])
        return address["country_id"] if address else STORE_COUNTRIES[customer["store_id"]][0]

    # ------------------------------------------------------------ customers

    def _new_customer(self, created: datetime) -> Row:
        """A registered customer, added to the shop's state (not yet emitted)."""
        store_id = self._weighted(STORE_CHOICE)
        website_id = 1 if store_id == 1 else 2
        country = self._pick(STORE_COUNTRIES[store_id])
        first, last = self._person()
        email = self._email(first, last, country)
        while (website_id, email) in self._taken_emails:
            email = f"{self._int(1, 99)}{email}"
        self._taken_emails.add((website_id, email))
        if self._chance(0.12):  # Magento stores the address as typed
            email = email[0].upper() + email[1:]
        gender = self._weighted(GENDER_CHOICE)
        customer = {
            "entity_id": self._next_id("customer_entity"), "website_id": website_id, "email": email,
            "group_id": self._weighted(GROUP_CHOICE), "store_id": store_id,
            "created_at": created, "updated_at": created, "is_active": 1,
            "created_in": STORES[store_id]["name"],
            "prefix": self._pick(("Mr.", "Ms.", "Dr.")) if self._chance(0.1) else None,
            "firstname": first, "middlename": self._pick(("A.", "J.", "Marie")) if self._chance(0.05) else None,
            "lastname": last, "suffix": None,
            "dob": date(self._int(1950, 2006), self._int(1, 12), self._int(1, 28)) if self._chance(0.7) else None,
            "gender": gender, "default_billing": None, "default_shipping": None,
        }
        self._customers[customer["entity_id"]] = customer
        self._customer_pool.add(customer["entity_id"])
        self._customer_addresses[customer["entity_id"]] = []
        return customer

    def _new_address(self, customer: Row, created: datetime) -> Row:
        """An address-book entry, in the country of the customer's other addresses."""
        book = self._customer_addresses[customer["entity_id"]]
        country = self._addresses[book[0]]["country_id"] if book else self._pick(STORE_COUNTRIES[customer["store_id"]])
        address = {"entity_id": self._next_id("customer_address_entity"), "increment_id": None,
                   "parent_id": customer["entity_id"], "created_at": created, "updated_at": created,
                   "is_active": 1, **self._address_fields(country, customer["firstname"], customer["lastname"])}
        self._addresses[address["entity_id"]] = address
        self._address_pool.add(address["entity_id"])
        self._customer_addresses[customer["entity_id"]].append(address["entity_id"])
        return address

    def _new_subscriber(self, store_id: int, customer_id: int, email: str, status: int, at: datetime) -> Row:
        subscriber = {"subscriber_id": self._next_id("newsletter_subscriber"), "store_id": store_id,
                      "change_status_at": at, "customer_id": customer_id, "subscriber_email": email,
                      "subscriber_status": status, "subscriber_confirm_code": f"{self._rng.getrandbits(128):032x}"}
        self._subscribers[subscriber["subscriber_id"]] = subscriber
        if customer_id:
            self._subscriber_of[customer_id] = subscriber["subscriber_id"]
        if status == 1:
            self._subscribed.add(subscriber["subscriber_id"])
        return subscriber

    def _seed_customers(self) -> None:
        """Customers registered over the last three years, their address books and
        newsletter subscriptions, plus guest subscribers."""
        for _ in range(self._scaled(2000)):
            created = self._past(1, 3 * 365)
            customer = self._new_customer(created)
            if self._chance(0.8):
                for _ in range(1 + self._chance(0.15)):
                    self._new_address(customer, created)
                first = self._customer_addresses[customer["entity_id"]][0]
                customer["default_billing"] = customer["default_shipping"] = first
            age_s = int((self.start - created).total_seconds()) - SNAPSHOT_MS // 1000
            customer["updated_at"] = created + timedelta(seconds=self._int(0, max(0, age_s)))
            if self._chance(0.28):
                status = 1 if self._chance(0.8) else 3
                self._new_subscriber(customer["store_id"], customer["entity_id"], customer["email"], status,
                                     customer["updated_at"])
        for _ in range(self._scaled(150)):
            store_id = self._weighted(STORE_CHOICE)
            country = self._pick(STORE_COUNTRIES[store_id])
            email = self._as_typed(self._email(*self._person(), country))
            status = self._weighted(GUEST_SUBSCRIBER_STATUS)
            self._new_subscriber(store_id, 0, email, status, self._past(1, 2 * 365))

    def _register_customer(self) -> None:
        """Sign-up: customer, address, then the customer again with its default
        addresses, in one transaction (same commit second, consecutive offsets)."""
        now = self._stamp()
        customer = self._new_customer(now)
        self._emit("customer_entity", customer)
        if self._chance(0.85):
            address = self._new_address(customer, now)
            self._emit("customer_address_entity", address)
            customer["default_billing"] = customer["default_shipping"] = address["entity_id"]
            self._emit("customer_entity", customer)
        if self._chance(0.3):
            self._emit("newsletter_subscriber", self._new_subscriber(
                customer["store_id"], customer["entity_id"], customer["email"], 1, now))

    def _update_customer(self) -> None:
        customer = self._customers.get(self._customer_pool.pick(self._random()))
        if customer is None:
            return
        roll = self._random()
        if roll < 0.35:
            customer["lastname"] = self._pick(LAST_NAMES)
        elif roll < 0.55:
            customer["group_id"] = self._pick([g for g in (1, 2, 3) if g != customer["group_id"]])
        elif roll < 0.75:
            if customer["dob"] is None:
                customer["dob"] = date(self._int(1950, 2006), self._int(1, 12), self._int(1, 28))
            else:
                customer["gender"] = self._pick((1, 2, 3))
        elif roll < 0.9:
            self._change_email(customer)
        else:
            customer["prefix"] = self._pick(("Mr.", "Ms.", "Dr.", None))
        customer["updated_at"] = self._stamp()
        self._emit("customer_entity", customer)

    def _change_email(self, customer: Row) -> None:
        """A new address for the account; Magento copies it to the subscription."""
        country = self._country_of(customer)
        email = self._email(customer["firstname"], customer["lastname"], country)
        if (customer["website_id"], email) in self._taken_emails:
            return
        self._taken_emails.discard((customer["website_id"], customer["email"].lower()))
        self._taken_emails.add((customer["website_id"], email))
        customer["email"] = email
        subscriber = self._subscribers.get(self._subscriber_of.get(customer["entity_id"], 0))
        if subscriber is not None:
            subscriber["subscriber_email"] = email
            self._emit("newsletter_subscriber", subscriber)

    def _update_address(self) -> None:
        address = self._addresses.get(self._address_pool.pick(self._random()))
        if address is None:
            return
        fresh = self._address_fields(address["country_id"], address["firstname"], address["lastname"])
        key = self._pick(("telephone", "street", "company"))
        address[key] = fresh[key]
        address["updated_at"] = self._stamp()
        self._emit("customer_address_entity", address)

    def _delete_customer(self) -> None:
        """Account deletion: subscription, addresses and customer, each a delete event
        carrying the row's last values."""
        customer_id = self._customer_pool.pick(self._random())
        if customer_id is None or customer_id in self._shopping:
            return
        customer = self._customers.pop(customer_id)
        self._customer_pool.discard(customer_id)
        self._abandoned.pop(customer_id, None)
        self._taken_emails.discard((customer["website_id"], customer["email"].lower()))
        subscriber_id = self._subscriber_of.pop(customer_id, None)
        if subscriber_id is not None:
            self._subscribed.discard(subscriber_id)
            self._emit("newsletter_subscriber", self._subscribers.pop(subscriber_id), deleted=True)
        for address_id in self._customer_addresses.pop(customer_id):
            self._address_pool.discard(address_id)
            self._emit("customer_address_entity", self._addresses.pop(address_id), deleted=True)
        self._emit("customer_entity", customer, deleted=True)

    def _move_customer_address(self) -> None:
        """An address re-keyed in MySQL: delete of the old id, create of the new one.
        The customer's default address pointers follow in the same transaction."""
        old_id = self._address_pool.pick(self._random())
        if old_id is None:
            return
        address = self._addresses.pop(old_id)
        new_id = self._rekey("customer_address_entity", address)
        self._addresses[new_id] = address
        self._address_pool.discard(old_id)
        self._address_pool.add(new_id)
        customer = self._customers[address["parent_id"]]
        book = self._customer_addresses[customer["entity_id"]]
        book[book.index(old_id)] = new_id
        if old_id in (customer["default_billing"], customer["default_shipping"]):
            for key in ("default_billing", "default_shipping"):
                if customer[key] == old_id:
                    customer[key] = new_id
            customer["updated_at"] = self._stamp()
            self._emit("customer_entity", customer)

    def _move_order_address(self) -> None:
        if not self._orders:
            return
        order = self._orders[-self._int(1, min(500, len(self._orders)))]
        self._rekey("sales_order_address", self._pick(order.addresses))

    def _rekey(self, table: str, row: Row) -> int:
        """Emits a primary-key change of `row` (delete old, create new) and returns the new id."""
        self._emit(table, row, deleted=True)
        row["entity_id"] = self._next_id(table)
        if "updated_at" in row:
            row["updated_at"] = self._stamp()
        self._emit(table, row)
        return row["entity_id"]

    # ----------------------------------------------------------- newsletter

    def _subscribe(self) -> None:
        """A customer (re)subscribes, or a guest signs up, often unconfirmed (status 4)."""
        now = self._stamp()
        customer = self._customers.get(self._customer_pool.pick(self._random())) if self._chance(0.5) else None
        if customer is not None:
            subscriber = self._subscribers.get(self._subscriber_of.get(customer["entity_id"], 0))
            if subscriber is None:
                subscriber = self._new_subscriber(
                    customer["store_id"], customer["entity_id"], customer["email"], 1, now)
            elif subscriber["subscriber_status"] == 1:
                return
            else:
                subscriber.update(subscriber_status=1, change_status_at=now)
                self._subscribed.add(subscriber["subscriber_id"])
            self._emit("newsletter_subscriber", subscriber)
            return
        store_id = self._weighted(STORE_CHOICE)
        country = self._pick(STORE_COUNTRIES[store_id])
        email = self._as_typed(self._email(*self._person(), country))
        status = 4 if self._chance(0.4) else 1
        subscriber = self._new_subscriber(store_id, 0, email, status, now)
        self._emit("newsletter_subscriber", subscriber)
        if status == 4 and self._chance(0.6):
            self._after(120, 1800, partial(self._confirm_subscription, subscriber["subscriber_id"]))

    def _confirm_subscription(self, subscriber_id: int) -> None:
        subscriber = self._subscribers.get(subscriber_id)
        if subscriber is None or subscriber["subscriber_status"] != 4:
            return
        subscriber.update(subscriber_status=1, change_status_at=self._stamp())
        self._subscribed.add(subscriber_id)
        self._emit("newsletter_subscriber", subscriber)

    def _unsubscribe(self) -> None:
        subscriber_id = self._subscribed.pick(self._random())
        if subscriber_id is None:
            return
        self._subscribed.discard(subscriber_id)
        subscriber = self._subscribers[subscriber_id]
        subscriber.update(subscriber_status=3, change_status_at=self._stamp())
        self._emit("newsletter_subscriber", subscriber)

    # -------------------------------------------------------------- catalog

    def _seed_catalog(self) -> None:
        """Simple products, configurable apparel with size/color children, and
        fixed-price bundles of simple products."""
        rng = self._rng
        standalone = []
        for i in range(self._scaled(140)):
            noun = self._pick(GEAR)
            price = Decimal(self._int(8, 150)) - CENT
            standalone.append(self._new_product("simple", f"24-{_ascii(noun)[:2].upper()}{i + 1:03d}",
                                                f"{self._pick(ADJECTIVES)} {noun}", price, noun=noun))
        configurables = []
        for i in range(self._scaled(25)):
            noun = self._pick(APPAREL)
            name, sku = f"{self._pick(ADJECTIVES)} {noun}", f"M{noun[0]}{i + 1:03d}"
            price = Decimal(self._int(25, 95)) - CENT
            children = [
                self._new_product("simple", f"{sku}-{size}-{color}", f"{name}-{size}-{color}", price,
                                  visible=False, attribute_set_id=9)
                for color in rng.sample(COLORS, 2) for size in rng.sample(SIZES, self._int(2, 3))
            ]
            parent = self._new_product("configurable", sku, name, None, attribute_set_id=9, noun=noun)
            parent.children = children
            configurables.append(parent)
        bundles = []
        for i in range(self._scaled(10)):
            parts = rng.sample(standalone, min(len(standalone), self._int(2, 3)))
            price = _money(sum(part.price_in(0) for part in parts) * Decimal("0.85"))
            bundle = self._new_product("bundle", f"BNDL-{i + 1:03d}", f"{self._pick(ADJECTIVES)} Starter Kit", price)
            bundle.children = parts
            bundles.append(bundle)
        self._sellable = standalone + configurables + bundles
        rng.shuffle(self._sellable)  # popularity (Zipf-like) is independent of type
        self._sell_choice = _weights(self._sellable, [1 / (rank + 1) ** 0.8 for rank in range(len(self._sellable))])

    def _new_product(self, type_id: str, sku: str, name: str, price: Decimal | None, *, visible: bool = True,
                     attribute_set_id: int = 4, noun: str = "") -> _Product:
        """A product with its EAV values (default scope, plus some store-view
        overrides) and stock item, created some time before the snapshot."""
        created = self._past(30, 3 * 365)
        entity = {"entity_id": self._next_id("catalog_product_entity"), "attribute_set_id": attribute_set_id,
                  "type_id": type_id, "sku": sku, "has_options": int(type_id != "simple"),
                  "required_options": int(type_id != "simple"), "created_at": created,
                  "updated_at": created + timedelta(days=self._int(0, 29))}
        product_id = entity["entity_id"]
        varchar, decimal, integer = ("catalog_product_entity_varchar", "catalog_product_entity_decimal",
                                     "catalog_product_entity_int")
        names = {0: self._value(varchar, "name", 0, product_id, name)}
        if visible and self._chance(0.08):
            names[1] = self._value(varchar, "name", 1, product_id, f"{name} - Online Exclusive")
        if noun in GERMAN and self._chance(0.5):
            names[3] = self._value(varchar, "name", 3, product_id, name.replace(noun, GERMAN[noun]))
        values = [(varchar, row) for row in names.values()]
        values.append((varchar, self._value(varchar, "url_key", 0, product_id,
                                            f"{'-'.join(_ascii(word) for word in name.split())}-{sku.lower()}")))
        prices: dict[int, Row] = {}
        if price is not None:
            prices[0] = self._value(decimal, "price", 0, product_id, price.quantize(MICRO))
            if visible and self._chance(0.06):
                prices[1] = self._value(decimal, "price", 1, product_id, _money(price * Decimal("0.9")).quantize(MICRO))
            values.extend((decimal, row) for row in prices.values())
        if type_id == "simple":
            values.append((decimal, self._value(decimal, "weight", 0, product_id, Decimal(self._int(1, 400)) / 100)))
        status = self._value(integer, "status", 0, product_id, 2 if self._chance(0.03) else 1)
        values.extend((integer, row) for row in (
            status,
            self._value(integer, "visibility", 0, product_id, 4 if visible else 1),
            self._value(integer, "tax_class_id", 0, product_id, 2),
        ))
        qty = (0 if self._chance(0.05) else self._int(1, 400)) if type_id == "simple" else 0
        stock = {"item_id": self._next_id("cataloginventory_stock_item"), "product_id": product_id, "stock_id": 1,
                 "qty": qty, "min_qty": 0, "is_in_stock": int(qty > 0 or type_id != "simple"), "backorders": 0,
                 "low_stock_date": self._past(0, 20) if type_id == "simple" and qty < LOW_STOCK_QTY else None,
                 "website_id": 0}
        product = _Product(entity, name, names, prices, status, stock, values)
        self._products.append(product)
        if prices:
            self._priced.append(product)
        return product

    def _value(self, table: str, code: str, store_id: int, product_id: int, value: Any) -> Row:
        return {"value_id": self._next_id(table), "attribute_id": PRODUCT_ATTRIBUTE_IDS[code],
                "store_id": store_id, "entity_id": product_id, "value": value}

    def _touch_product(self, product: _Product) -> None:
        """An admin save also bumps the product's updated_at."""
        product.entity["updated_at"] = self._stamp()
        self._emit("catalog_product_entity", product.entity)

    def _change_price(self) -> None:
        product = self._pick(self._priced)
        store_id = 1 if 1 in product.prices and self._chance(0.5) else 0
        row = product.prices[store_id]
        new = Decimal(max(2, round(float(row["value"]) * (0.8 + 0.35 * self._random())))) - CENT
        row["value"] = new.quantize(MICRO)
        self._emit("catalog_product_entity_decimal", row)
        self._touch_product(product)

    def _rename_product(self) -> None:
        product = self._pick(self._products)
        product.names[0]["value"] = f"{product.base_name} ({self._pick(RENAMES)})"
        self._emit("catalog_product_entity_varchar", product.names[0])
        self._touch_product(product)

    def _toggle_status(self) -> None:
        """A product is disabled for a while (status 2), then enabled again."""
        product = self._pick(self._sellable)
        if not product.enabled:
            return
        self._set_status(product, 2)
        self._after(600, 3600, partial(self._set_status, product, 1))

    def _set_status(self, product: _Product, status: int) -> None:
        product.status["value"] = status
        self._emit("catalog_product_entity_int", product.status)
        self._touch_product(product)

    def _restock(self) -> None:
        """A delivery for the emptiest of a few products."""
        candidates = [product for product in self._rng.sample(self._products, min(5, len(self._products)))
                      if product.entity["type_id"] == "simple"]
        if candidates:
            product = min(candidates, key=lambda p: p.stock["qty"])
            self._move_stock(product, self._int(20, 200))

    def _restock_product(self, product: _Product) -> None:
        product.restock_pending = False
        self._move_stock(product, self._int(50, 200))

    def _move_stock(self, product: _Product, delta: int) -> None:
        """Changes a stock level; low stock is flagged and triggers a reorder."""
        stock = product.stock
        stock["qty"] += delta
        stock["is_in_stock"] = int(stock["qty"] > 0)
        if stock["qty"] < LOW_STOCK_QTY:
            stock["low_stock_date"] = stock["low_stock_date"] or self._stamp()
            if not product.restock_pending:
                product.restock_pending = True
                self._after(600, 3600, partial(self._restock_product, product))
        else:
            stock["low_stock_date"] = None
        self._emit("cataloginventory_stock_item", stock)

    # ---------------------------------------------------------------- carts

    def _open_cart(self) -> None:
        """A shopper adds a first product: quote, its item rows, then the quote's
        totals. Registered customers resume their idle cart if they have one."""
        customer = self._pick_shopper()
        if customer is not None and customer["entity_id"] in self._abandoned:
            cart = self._abandoned.pop(customer["entity_id"])
            self._shopping.add(customer["entity_id"])
            cart.steps_left, cart.converts = 1, self._chance(0.4)
            self._cart_step(cart)
            return
        store_id = customer["store_id"] if customer else self._weighted(STORE_CHOICE)
        choice = self._choose_product(store_id)
        if choice is None:
            return
        now = self._stamp()
        quote = {
            "entity_id": self._next_id("quote"), "store_id": store_id, "created_at": now, "updated_at": now,
            "converted_at": None, "is_active": 1, "items_count": 0, "items_qty": 0,
            "base_currency_code": BASE_CURRENCY, "base_grand_total": Decimal("0.00"),
            "base_subtotal": Decimal("0.00"), "customer_id": customer["entity_id"] if customer else None,
            "customer_email": customer["email"] if customer else None,
            "customer_firstname": customer["firstname"] if customer else None,
            "customer_lastname": customer["lastname"] if customer else None,
            "customer_group_id": customer["group_id"] if customer else 0, "customer_is_guest": 0,
            "reserved_order_id": None,
        }
        self._emit("quote", quote)
        cart = _Cart(quote, [], steps_left=self._int(0, 2),
                     converts=self._chance(0.45 if customer else 0.3))
        self._quotes[quote["entity_id"]] = cart
        if customer:
            self._shopping.add(customer["entity_id"])
        self._add_line(cart, *choice)
        self._emit("quote", self._total(cart))
        self._after(20, 240, partial(self._cart_step, cart))

    def _pick_shopper(self) -> Row | None:
        """A registered customer not already shopping (60%), else a guest (None)."""
        if not self._chance(0.6):
            return None
        customer_id = self._customer_pool.pick(self._random())
        return None if customer_id is None or customer_id in self._shopping else self._customers[customer_id]

    def _choose_product(self, store_id: int) -> tuple[_Product, list[_Product], int] | None:
        """A popular, enabled product in stock: (product, simple units, qty)."""
        for _ in range(5):
            product = self._weighted(self._sell_choice)
            qty = self._weighted(QTY_CHOICE)
            if not product.enabled:
                continue
            type_id = product.entity["type_id"]
            if type_id == "configurable":
                options = [c for c in product.children if c.enabled and c.stock["qty"] >= qty]
                if options:
                    return product, [self._pick(options)], qty
            elif type_id == "bundle":
                if all(c.enabled and c.stock["qty"] >= qty for c in product.children):
                    return product, product.children, qty
            elif product.stock["qty"] >= qty:
                return product, [product], qty
        return None

    def _add_line(self, cart: _Cart, product: _Product, units: list[_Product], qty: int) -> None:
        """Cart item rows: the visible line carries the price; children of
        configurable and bundle lines carry 0 and point to it with parent_item_id."""
        store_id, now = cart.row["store_id"], self._stamp()
        type_id = product.entity["type_id"]
        price = units[0].price_in(store_id) if type_id == "configurable" else product.price_in(store_id)
        item = self._quote_item(cart, product, None, qty, price, now)
        if type_id == "configurable":
            item["sku"] = units[0].entity["sku"]
        self._emit("quote_item", item)
        children = []
        if type_id != "simple":
            for unit in units:
                child = self._quote_item(cart, unit, item["item_id"], 1, Decimal("0.00"), now)
                self._emit("quote_item", child)
                children.append(child)
        cart.lines.append(_Line(item, children, units))

    def _quote_item(self, cart: _Cart, product: _Product, parent_id: int | None, qty: int,
                    price: Decimal, now: datetime) -> Row:
        store_id = cart.row["store_id"]
        return {"item_id": self._next_id("quote_item"), "quote_id": cart.row["entity_id"], "created_at": now,
                "updated_at": now, "product_id": product.id, "store_id": store_id, "parent_item_id": parent_id,
                "sku": product.entity["sku"], "name": product.name_in(store_id),
                "product_type": product.entity["type_id"], "qty": qty, "price": price, "base_price": price,
                "row_total": price * qty, "base_row_total": price * qty}

    def _total(self, cart: _Cart) -> Row:
        """Recollects the quote's totals (Magento saves the quote after each change)."""
        quote = cart.row
        quote["items_count"] = len(cart.lines)
        quote["items_qty"] = sum(line.item["qty"] for line in cart.lines)
        quote["base_subtotal"] = quote["base_grand_total"] = sum(
            (line.item["base_row_total"] for line in cart.lines), Decimal("0.00"))
        quote["updated_at"] = self._stamp()
        return quote

    def _cart_step(self, cart: _Cart) -> None:
        """Browsing goes on (another product or a new quantity), then the shopper
        heads to checkout or leaves the cart active and idle."""
        if cart.steps_left > 0:
            cart.steps_left -= 1
            if cart.lines and self._chance(0.3):
                self._change_qty(cart, self._pick(cart.lines))
            elif (choice := self._choose_product(cart.row["store_id"])) is not None:
                self._add_line(cart, *choice)
            self._emit("quote", self._total(cart))
            self._after(20, 240, partial(self._cart_step, cart))
        elif cart.converts:
            self._after(60, 480, partial(self._checkout, cart))
        else:
            self._abandon(cart)

    def _change_qty(self, cart: _Cart, line: _Line) -> None:
        item = line.item
        item["qty"] = max(1, item["qty"] + self._pick((-1, 1, 1)))
        item["row_total"] = item["base_row_total"] = item["price"] * item["qty"]
        item["updated_at"] = self._stamp()
        self._emit("quote_item", item)

    def _checkout(self, cart: _Cart) -> None:
        """Checkout starts: guests give their email first. Each step saves the quote."""
        if cart.row["customer_id"] is None:
            self._identify_guest(cart)
            self._emit("quote", cart.row)
        self._after(30, 180, partial(self._choose_shipping, cart))

    def _choose_shipping(self, cart: _Cart) -> None:
        """The shipping step; some shoppers leave here, their email already known."""
        cart.row["updated_at"] = self._stamp()
        self._emit("quote", cart.row)
        if self._chance(0.15):
            self._abandon(cart)
        else:
            self._after(30, 240, partial(self._place_order, cart))

    def _abandon(self, cart: _Cart) -> None:
        """The cart stays active; some guests had typed their email first."""
        customer_id = cart.row["customer_id"]
        if customer_id is None:
            if cart.guest is None and self._chance(0.35):
                self._identify_guest(cart)
                self._emit("quote", cart.row)
            return
        self._shopping.discard(customer_id)
        if customer_id in self._customers:
            self._abandoned[customer_id] = cart

    def _identify_guest(self, cart: _Cart) -> None:
        """Who the guest is: a returning guest, a registered customer checking out
        as a guest, or someone new; the email is stored as typed."""
        quote = cart.row
        roll = self._random()
        customer = self._customers.get(self._customer_pool.pick(self._random())) if roll < 0.15 else None
        if customer is not None:
            identity = (customer["email"].strip().lower(), customer["firstname"], customer["lastname"],
                        self._country_of(customer))
        elif roll < 0.3 and self._guests:
            identity = self._pick(self._guests)
        else:
            country = self._pick(STORE_COUNTRIES[quote["store_id"]])
            first, last = self._person()
            identity = (self._email(first, last, country), first, last, country)
            self._guests.append(identity)
        email, first, last, country = identity
        cart.guest = (first, last, country)
        quote.update(customer_email=self._as_typed(email), customer_firstname=first, customer_lastname=last,
                     customer_is_guest=1, updated_at=self._stamp())

    def _clean_quotes(self) -> None:
        """Cron: converted carts past their lifetime are deleted with their items."""
        cutoff = self._now - QUOTE_LIFETIME_MS
        while self._converted and self._converted[0][0] < cutoff:
            _, cart = self._converted.popleft()
            del self._quotes[cart.row["entity_id"]]
            self._emit("quote", cart.row, deleted=True)
            for line in cart.lines:
                for item in (line.item, *line.children):
                    self._emit("quote_item", item, deleted=True)

    # --------------------------------------------------------------- orders

    def _place_order(self, cart: _Cart) -> None:
        """Order placement in one transaction: stock deducted, order, items,
        addresses and payment written, the quote deactivated."""
        quote = cart.row
        needs: dict[int, tuple[_Product, int]] = {}
        for line in cart.lines:
            for unit in line.units:
                _, qty = needs.get(unit.id, (unit, 0))
                needs[unit.id] = (unit, qty + line.item["qty"])
        if any(unit.stock["qty"] < qty or not unit.enabled for unit, qty in needs.values()):
            self._abandon(cart)
            return
        customer = self._customers.get(quote["customer_id"]) if quote["customer_id"] else None
        if customer is not None:
            quote.update(customer_email=customer["email"], customer_firstname=customer["firstname"],
                         customer_lastname=customer["lastname"], customer_group_id=customer["group_id"])
        for unit, qty in needs.values():
            self._move_stock(unit, -qty)
        order = self._new_order(cart, customer, list(needs.values()))
        self._emit("sales_order", order.row)
        for item in order.items:
            self._emit("sales_order_item", item)
        for address in order.addresses:
            self._emit("sales_order_address", address)
        self._emit("sales_order_payment", order.payment)
        quote.update(is_active=0, reserved_order_id=order.row["increment_id"],
                     base_grand_total=order.row["base_grand_total"], updated_at=self._stamp())
        self._emit("quote", quote)
        self._orders.append(order)
        self._converted.append((self._now, cart))
        if customer is not None:
            self._shopping.discard(customer["entity_id"])
        self._after(2, 60, partial(self._send_confirmation, order))
        if self._chance(0.07):
            self._after(300, 1200, partial(self._cancel, order))
        else:
            self._after(60, 600, partial(self._invoice, order))

    def _new_order(self, cart: _Cart, customer: Row | None, needs: list[tuple[_Product, int]]) -> _Order:
        quote, now = cart.row, self._stamp()
        order_id, store_id = self._next_id("sales_order"), quote["store_id"]
        billing, shipping = self._order_addresses(order_id, cart, customer)
        rate = TAX_RATES[shipping["country_id"]]
        discount_rate = self._pick((Decimal("0.10"), Decimal("0.15"))) if self._chance(0.2) else Decimal(0)
        lines = []
        for line in cart.lines:
            quote_item = line.item
            discount = _money(quote_item["base_row_total"] * discount_rate)
            tax = _money((quote_item["base_row_total"] - discount) * rate)
            parent = self._order_item(order_id, None, quote_item, quote_item["qty"], now,
                                      quote_item["base_price"], discount, tax)
            children = [self._order_item(order_id, parent["item_id"], child, child["qty"] * quote_item["qty"], now,
                                         Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
                        for child in line.children]
            lines.append((parent, children))
        subtotal = sum((parent["base_row_total"] for parent, _ in lines), Decimal("0.00"))
        discount = sum((parent["base_discount_amount"] for parent, _ in lines), Decimal("0.00"))
        tax = sum((parent["base_tax_amount"] for parent, _ in lines), Decimal("0.00"))
        qty = sum(parent["qty_ordered"] for parent, _ in lines)
        if subtotal - discount >= 75:  # free shipping threshold
            shipping_amount = Decimal("0.00")
        else:
            shipping_amount = Decimal("5.00") if qty <= 2 else Decimal("8.00")
        grand_total = subtotal - discount + shipping_amount + tax
        row = {
            "entity_id": order_id, "increment_id": self._increment_id(store_id), "state": "new",
            "status": "pending", "store_id": store_id, "customer_id": quote["customer_id"],
            "customer_email": quote["customer_email"], "customer_firstname": quote["customer_firstname"],
            "customer_lastname": quote["customer_lastname"], "customer_group_id": quote["customer_group_id"],
            "customer_is_guest": int(customer is None), "quote_id": quote["entity_id"],
            "base_currency_code": BASE_CURRENCY, "base_grand_total": grand_total, "base_subtotal": subtotal,
            # Magento stores the order's discount as a negative amount (items: positive).
            "base_discount_amount": -discount, "base_shipping_amount": shipping_amount, "base_tax_amount": tax,
            "base_total_paid": None, "base_total_refunded": None, "total_qty_ordered": qty,
            "created_at": now, "updated_at": now,
        }
        method = self._weighted(PAYMENT_CHOICE)
        payment = {"entity_id": self._next_id("sales_order_payment"), "parent_id": order_id, "method": method,
                   "base_amount_ordered": grand_total, "base_amount_paid": None, "base_amount_refunded": None,
                   "base_shipping_amount": shipping_amount, "last_trans_id": None}
        return _Order(row, lines, [billing, shipping], payment, needs)

    def _order_item(self, order_id: int, parent_id: int | None, quote_item: Row, qty: int, now: datetime,
                    price: Decimal, discount: Decimal, tax: Decimal) -> Row:
        return {"item_id": self._next_id("sales_order_item"), "order_id": order_id, "parent_item_id": parent_id,
                "quote_item_id": quote_item["item_id"], "store_id": quote_item["store_id"], "created_at": now,
                "updated_at": now, "product_id": quote_item["product_id"], "product_type": quote_item["product_type"],
                "sku": quote_item["sku"], "name": quote_item["name"], "qty_ordered": qty, "qty_refunded": 0,
                "qty_canceled": 0, "base_price": price, "base_row_total": price * qty,
                "base_discount_amount": discount, "base_tax_amount": tax, "base_amount_refunded": Decimal("0.00")}

    def _order_addresses(self, order_id: int, cart: _Cart, customer: Row | None) -> tuple[Row, Row]:
        """Billing from the customer's default address (or typed in by a guest);
        shipping usually the same, sometimes elsewhere."""
        quote = cart.row
        book = self._addresses.get(customer["default_billing"]) if customer else None
        if book is not None:
            fields, book_id = {key: book[key] for key in PLACE_KEYS}, book["entity_id"]
        else:
            first, last, country = cart.guest or (quote["customer_firstname"], quote["customer_lastname"],
                                                  STORE_COUNTRIES[quote["store_id"]][0])
            fields, book_id = self._address_fields(country, first, last), None
        billing = self._order_address(order_id, "billing", book_id, quote["customer_email"], fields)
        if self._chance(0.85):
            return billing, self._order_address(order_id, "shipping", book_id, quote["customer_email"], fields)
        elsewhere = self._address_fields(fields["country_id"], fields["firstname"], fields["lastname"])
        return billing, self._order_address(order_id, "shipping", None, quote["customer_email"], elsewhere)

    def _order_address(self, order_id: int, kind: str, book_id: int | None, email: str, fields: Row) -> Row:
        return {"entity_id": self._next_id("sales_order_address"), "parent_id": order_id,
                "customer_address_id": book_id, "address_type": kind, "email": email,
                **{key: fields[key] for key in ORDER_ADDRESS_KEYS}}

    def _increment_id(self, store_id: int) -> str:
        """Magento's per-store order number: '000000123' on store 1, '2000000045' on store 2."""
        self._order_numbers[store_id] += 1
        return f"{'' if store_id == 1 else store_id}{self._order_numbers[store_id]:09d}"

    def _send_confirmation(self, order: _Order) -> None:
        """The confirmation email's cron marks the order sent: an update of updated_at only."""
        order.row["updated_at"] = self._stamp()
        self._emit("sales_order", order.row)

    def _save_order(self, order: _Order, state: str, items: Sequence[Row] = (), payment: bool = False) -> None:
        """Moves the order to `state` (its status has the same name), saving the
        touched items first and the payment last, as Magento's services do."""
        now = self._stamp()
        order.row.update(state=state, status=state, updated_at=now)
        for item in items:
            item["updated_at"] = now
            self._emit("sales_order_item", item)
        self._emit("sales_order", order.row)
        if payment:
            self._emit("sales_order_payment", order.payment)

    def _invoice(self, order: _Order) -> None:
        """Payment captured: pending -> processing."""
        if order.row["state"] != "new":
            return
        total = order.row["base_grand_total"]
        order.row["base_total_paid"] = total
        order.payment["base_amount_paid"] = total
        if order.payment["method"] in ("braintree", "paypal_express"):
            order.payment["last_trans_id"] = self._fill("@@##@@##@@##")
        self._save_order(order, "processing", order.items, payment=True)
        self._after(120, 900, partial(self._ship, order))

    def _ship(self, order: _Order) -> None:
        """Shipped: processing -> complete; a few orders are refunded later."""
        self._save_order(order, "complete", order.items)
        if self._chance(0.1):
            self._after(300, 1800, partial(self._refund, order))

    def _cancel(self, order: _Order) -> None:
        """Unpaid order canceled; its stock goes back."""
        if order.row["state"] != "new":
            return
        for unit, qty in order.needs:
            self._move_stock(unit, qty)
        for item in order.items:
            item["qty_canceled"] = item["qty_ordered"]
        self._save_order(order, "canceled", order.items)

    def _refund(self, order: _Order) -> None:
        """A credit memo: the whole order (state closed) or part of one line (state
        stays complete, base_total_refunded below the grand total)."""
        lines = order.lines
        partial_refund = (len(lines) > 1 or lines[0][0]["qty_ordered"] > 1) and self._chance(0.4)
        if partial_refund:
            parent, children = self._pick(lines)
            qty = parent["qty_ordered"] if len(lines) > 1 else 1
            share = Decimal(qty) / parent["qty_ordered"]
            net = _money((parent["base_row_total"] - parent["base_discount_amount"]) * share)
            amount = net + _money(parent["base_tax_amount"] * share)
            refunded = [(parent, qty, net), *((child, child["qty_ordered"] * qty // parent["qty_ordered"],
                                               Decimal("0.00")) for child in children)]
            state = "complete"
        else:
            amount = order.row["base_grand_total"]
            refunded = [(item, item["qty_ordered"], item["base_row_total"] - item["base_discount_amount"])
                        for item in order.items]
            state = "closed"
        for item, qty, net in refunded:
            item["qty_refunded"] = qty
            item["base_amount_refunded"] = net
        order.row["base_total_refunded"] = amount
        order.payment["base_amount_refunded"] = amount
        self._save_order(order, state, [item for item, _, _ in refunded], payment=True)


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
        with _collector_paused(), tempfile.TemporaryDirectory(prefix="magento_cdc_") as folder:
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
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerows([NULL_MARKER if value is None else value for value in row] for row in rows)
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in table.columns + STREAMKAP_COLUMNS)
    con.execute(
        f"insert into {schema}.{table.name} by name select * from read_csv(?, columns = {{{columns}}}, "
        "header = false, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        "new_line = '\\n', nullstr = '\\N')",
        [str(path)],
    )
