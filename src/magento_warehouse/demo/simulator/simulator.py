"""Deterministic simulator of a Magento 2 shop as Streamkap delivers its change logs.

The simulator plays a retailer as a discrete-event simulation driven by one seeded
`random.Random`, and records every insert, update and delete it makes as the change
event Streamkap would land: Magento's columns, then `_streamkap_source_ts_ms`,
`_streamkap_ts_ms`, `_streamkap_offset` and `__deleted` (see `schema.py`). The same
seed, size, activity, start and batch length always give the same events.

`MagentoSimulator` only orchestrates; the shop is played by its domains:

    core        the shared Shop: randomness, simulated clock, ids, change logs
    reference   configuration: websites, store views, customer groups, attributes
    customers   accounts, address books, newsletter subscriptions
    catalog     products, their EAV values, stock
    carts       quotes and their items, up to checkout
    orders      placement, confirmation, invoicing, shipping, cancellation, refunds
    faults      deletes (accounts, the cart cleanup cron) and primary-key changes
    delivery    snapshot and micro-batches, late events, redeliveries, write_batch
    operations  what operators do to a pipeline: topic re-creations, outages with
                re-snapshots, a lagging partition, redeliveries from old offsets

Time model
  * `initial_load()` is the connector's initial snapshot, read during the minute
    before `start`: every row once, `__deleted = 'false'`, in primary-key order.
    The shop has traded for WARM_UP_MINUTES before it (undelivered), so the
    snapshot holds open and abandoned carts and orders in every state; a shop
    larger than its activity trades longer (WARM_UP_MINUTES * size / activity),
    so its snapshot holds that many more orders and carts.
  * Each `next_batch()` covers the next `batch_minutes` of shop activity. A commit's
    `_streamkap_source_ts_ms` has whole seconds (MySQL binlog precision), so events
    share it and only `_streamkap_offset` orders them; Streamkap processes each
    event 0.5-3 s after the commit (`_streamkap_ts_ms`, non-decreasing per table).
    A batch holds the events processed before its end, so ingestion time increases
    from batch to batch, except for late events (see `delivery`).
  * Without `start`, the shop starts `DEMO_BATCHES * batch_minutes` before the
    current minute (UTC), so that the demo's batches end about now and freshness
    checks pass. This is the only place the wall clock is read.
  * Magento timestamps are naive UTC datetimes with whole seconds. Shop processes
    are compressed to fit a demo (see `orders` and `faults`).

Every row carries Magento's complete column set: the columns the shop plays hold
realistic values, the others Magento's declared defaults or NULL.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Callable

from .carts import Carts
from .catalog import Catalog
from .core import DEMO_BATCHES, SNAPSHOT_MS, Row, Shop, collector_paused, default_start, to_datetime, utc_naive
from .customers import Customers
from .delivery import Batch, Delivery, write_batch
from .faults import Faults
from .operations import DEMO_SCHEDULE, Operations
from .orders import Orders
from .reference import PRODUCT_ATTRIBUTE_IDS, PRODUCT_ENTITY_TYPE_ID, configuration_rows
from .schema import TABLES

__all__ = ["DEMO_BATCHES", "DEMO_SCHEDULE", "PRODUCT_ATTRIBUTE_IDS", "PRODUCT_ENTITY_TYPE_ID", "Batch", "MagentoSimulator",
           "default_start", "write_batch"]

WARM_UP_MINUTES = 180  # trading played (not delivered) before the snapshot: carts idle for hours


class MagentoSimulator:
    """A Magento 2 retailer whose database changes come out as Streamkap batches.

    `size` multiplies the shop (customers, products, and the orders and carts of
    its snapshot), `activity` its changes per simulated minute; `scale` sets both
    (each of `size`, `activity` overrides it). `batch_minutes` is the simulated
    time each `next_batch()` covers; `operations` schedules what operators do to the
    pipeline ({batch number: ((operation, table), ...)}, see `operations`; e.g.
    DEMO_SCHEDULE). See the module docstring for the time model.
    """

    def __init__(self, seed: int = 42, scale: float = 1.0, start: datetime | None = None,
                 batch_minutes: int = 5, operations: dict[int, tuple[tuple[str, str], ...]] | None = None,
                 size: float | None = None, activity: float | None = None) -> None:
        size = scale if size is None else size
        activity = scale if activity is None else activity
        for name, value in (("scale", scale), ("size", size), ("activity", activity)):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if batch_minutes < 1:
            raise ValueError(f"batch_minutes must be at least 1, got {batch_minutes}")
        self.seed = seed
        self.size = size
        self.activity = activity
        self.batch_minutes = batch_minutes
        self.start = utc_naive(start) if start is not None else default_start(DEMO_BATCHES, batch_minutes)
        self._batch_number: int | None = None

        shop = self._shop = Shop(seed, size, self.start)
        self._customers = Customers(shop)
        self._catalog = Catalog(shop)
        self._carts = Carts(shop, self._customers, self._catalog)
        self._orders = Orders(shop, self._customers, self._catalog, self._carts)
        self._carts.place_order = self._orders.place_order
        self._faults = Faults(shop, self._customers, self._carts, self._orders)
        self._delivery = Delivery(shop)
        self._operations = Operations(shop, lambda table: self._current_rows()[table], dict(operations or {}))

        # Spontaneous activity: (events per simulated minute at activity 1, action).
        self._activities: tuple[tuple[float, Callable[[], None]], ...] = (
            (12.0, self._carts.open_cart),
            (1.2, self._customers.register),
            (1.0, self._customers.update),
            (0.4, self._customers.update_address),
            (0.2, self._faults.delete_customer),
            (0.2, self._faults.move_customer_address),
            (0.2, self._faults.move_order_address),
            (0.8, self._customers.subscribe),
            (0.4, self._customers.unsubscribe),
            (0.8, self._catalog.change_price),
            (0.2, self._catalog.rename_product),
            (0.1, self._catalog.toggle_status),
            (0.4, self._catalog.restock),
        )

    def initial_load(self) -> Batch:
        """The initial snapshot: every row of the shop as it stands at `start`.

        The shop has traded for WARM_UP_MINUTES before (those events are not
        delivered), so the snapshot holds open carts and orders in every state,
        and the first batch continues their stories.
        """
        if self._batch_number is not None:
            raise RuntimeError("initial_load() runs once, before the first next_batch()")
        self._batch_number = 0
        shop = self._shop
        snapshot_ms = shop.clock - SNAPSHOT_MS
        window_ms = self.batch_minutes * 60_000
        # Whole minutes; never shorter than WARM_UP_MINUTES, so carts idle for hours.
        warm_up_ms = round(WARM_UP_MINUTES * max(1.0, self.size / self.activity)) * 60_000
        with collector_paused():
            self._catalog.seed()
            self._customers.seed()
            shop.recording = False
            for begin in range(snapshot_ms - warm_up_ms, snapshot_ms, window_ms):
                self._play(begin, min(begin + window_ms, snapshot_ms))
            shop.recording = True
            delivered = self._delivery.snapshot(self._current_rows(), snapshot_ms)
        self._operations.first_delivered = delivered
        return Batch(0, to_datetime(snapshot_ms), self.start, delivered)

    def next_batch(self) -> Batch:
        """The next `batch_minutes` of shop activity, as Streamkap delivers it."""
        if self._batch_number is None:
            raise RuntimeError("call initial_load() before next_batch()")
        self._batch_number += 1
        shop = self._shop
        start_ms, end_ms = shop.clock, shop.clock + self.batch_minutes * 60_000
        with collector_paused():
            self._play(start_ms, end_ms)
            resnapshots = self._operations.before_delivery(self._batch_number, end_ms)
            rows = self._delivery.batch(start_ms, end_ms)
            self._operations.after_cut(self._batch_number, start_ms, rows)
        shop.clock = end_ms
        return Batch(self._batch_number, to_datetime(start_ms), to_datetime(end_ms), rows, resnapshots)

    def drain_batch(self) -> Batch:
        """What is still undelivered (late, in flight, a lagging partition's backlog,
        re-snapshot reads), delivered in one last batch with no new activity: after it,
        the landing tables hold every change of the shop."""
        if self._batch_number is None:
            raise RuntimeError("call initial_load() before drain_batch()")
        self._batch_number += 1
        shop = self._shop
        start_ms, end_ms = shop.clock, shop.clock + self.batch_minutes * 60_000
        resnapshots = self._operations.take_pending_resnapshots()
        rows = self._delivery.drain()
        self._operations.drain(start_ms, rows)
        shop.clock = end_ms
        return Batch(self._batch_number, to_datetime(start_ms), to_datetime(end_ms), rows, resnapshots)

    @property
    def operations_played(self) -> list[str]:
        """The operations played so far, one line each."""
        return list(self._operations.played)

    def current_rows(self) -> dict[str, list[Row]]:
        """Magento's tables as they stand now (the truth the current state must match)."""
        return self._current_rows()

    def _play(self, start_ms: int, end_ms: int) -> None:
        """Plays the shop from `start_ms` to `end_ms`: this window's spontaneous
        activity, spread over it, one run of the cart cleanup cron, and the
        follow-ups earlier actions scheduled."""
        shop = self._shop
        minutes = (end_ms - start_ms) / 60_000
        for rate, action in self._activities:
            for _ in range(shop.count(rate * minutes * self.activity)):
                shop.push(shop.randint(start_ms, end_ms - 1), action)
        shop.push(shop.randint(start_ms, end_ms - 1), self._faults.clean_quotes)
        shop.run_until(end_ms)

    def _current_rows(self) -> dict[str, list[Row]]:
        """Every live row of the shop, per table in primary-key order (as a
        snapshot's table scans read them)."""
        rows: dict[str, list[Row]] = {name: [] for name in TABLES}
        for name, table_rows in configuration_rows().items():
            rows[name].extend(table_rows)
        for product in self._catalog.products:
            rows["catalog_product_entity"].append(product.entity)
            rows["cataloginventory_stock_item"].append(product.stock)
            for table, row in product.values:
                rows[table].append(row)
        rows["customer_entity"].extend(self._customers.customers.values())
        rows["customer_address_entity"].extend(self._customers.addresses.values())
        rows["newsletter_subscriber"].extend(self._customers.subscribers.values())
        for cart in self._carts.quotes.values():
            rows["quote"].append(cart.row)
            rows["quote_item"].extend(item for line in cart.lines for item in (line.item, *line.children))
        for order in self._orders.orders:
            rows["sales_order"].append(order.row)
            rows["sales_order_item"].extend(order.items)
            rows["sales_order_address"].extend(order.addresses)
            rows["sales_order_payment"].append(order.payment)
        for name, table_rows in rows.items():
            table_rows.sort(key=itemgetter(TABLES[name].primary_key))
        return rows
