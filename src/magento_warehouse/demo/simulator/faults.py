"""The shop's changes that are hardest on a current-state model: deletes and
primary-key changes.

  * Account deletion: the subscription, the address book and the customer go, each
    a delete event carrying the row's last values.
  * Cart cleanup (Magento's cron): converted quotes past their lifetime are
    deleted with their items.
  * Primary-key changes: a customer or order address whose entity_id changes
    arrives as a delete of the old key then a create of the new one, with the
    same `_streamkap_source_ts_ms` and consecutive offsets.

(Delivery's own faults, redeliveries and late events, are in `delivery`.)
"""

from __future__ import annotations

from .carts import Carts
from .core import Domain, Row, Shop
from .customers import Customers
from .orders import Orders

QUOTE_LIFETIME_MS = 20 * 60_000  # 30 days in Magento, compressed for the demo


class Faults(Domain):
    def __init__(self, shop: Shop, customers: Customers, carts: Carts, orders: Orders) -> None:
        super().__init__(shop)
        self._customers = customers
        self._carts = carts
        self._orders = orders

    def delete_customer(self) -> None:
        """Account deletion (never of a customer in the middle of shopping)."""
        customers = self._customers
        customer_id = customers.pool.pick(self._random())
        if customer_id is None or customer_id in self._carts.shopping:
            return
        customer = customers.customers.pop(customer_id)
        customers.pool.discard(customer_id)
        self._carts.abandoned.pop(customer_id, None)
        customers.taken_emails.discard((customer["website_id"], customer["email"].lower()))
        subscriber_id = customers.subscriber_of.pop(customer_id, None)
        if subscriber_id is not None:
            customers.subscribed.discard(subscriber_id)
            self._emit("newsletter_subscriber", customers.subscribers.pop(subscriber_id), deleted=True)
        for address_id in customers.books.pop(customer_id):
            customers.address_pool.discard(address_id)
            self._emit("customer_address_entity", customers.addresses.pop(address_id), deleted=True)
        self._emit("customer_entity", customer, deleted=True)

    def clean_quotes(self) -> None:
        """Cron: converted carts past their lifetime are deleted with their items."""
        carts = self._carts
        cutoff = self._shop.now - QUOTE_LIFETIME_MS
        while carts.converted and carts.converted[0][0] < cutoff:
            _, cart = carts.converted.popleft()
            del carts.quotes[cart.row["entity_id"]]
            self._emit("quote", cart.row, deleted=True)
            for line in cart.lines:
                for item in (line.item, *line.children):
                    self._emit("quote_item", item, deleted=True)

    def move_customer_address(self) -> None:
        """An address re-keyed in MySQL: delete of the old id, create of the new one.
        The customer's default address pointers follow in the same transaction."""
        customers = self._customers
        old_id = customers.address_pool.pick(self._random())
        if old_id is None:
            return
        address = customers.addresses.pop(old_id)
        new_id = self._rekey("customer_address_entity", address)
        customers.addresses[new_id] = address
        customers.address_pool.discard(old_id)
        customers.address_pool.add(new_id)
        customer = customers.customers[address["parent_id"]]
        book = customers.books[customer["entity_id"]]
        book[book.index(old_id)] = new_id
        if old_id in (customer["default_billing"], customer["default_shipping"]):
            for key in ("default_billing", "default_shipping"):
                if customer[key] == old_id:
                    customer[key] = new_id
            customer["updated_at"] = self._stamp()
            self._emit("customer_entity", customer)

    def move_order_address(self) -> None:
        """One of a recent order's addresses re-keyed."""
        orders = self._orders.orders
        if not orders:
            return
        order = orders[-self._int(1, min(500, len(orders)))]
        self._rekey("sales_order_address", self._pick(order.addresses))

    def _rekey(self, table: str, row: Row) -> int:
        """Emits a primary-key change of `row` (delete old, create new) and returns the new id."""
        self._emit(table, row, deleted=True)
        row["entity_id"] = self._next_id(table)
        if "updated_at" in row:
            row["updated_at"] = self._stamp()
        self._emit(table, row)
        return row["entity_id"]
