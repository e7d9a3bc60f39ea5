"""Carts: quotes and their items (quote, quote_item), from the first product added
to checkout, where `orders` takes over, or to an idle, abandoned cart.

Magento saves the quote after every change (its totals recollected), so a cart's
life is a run of quote events: items added or re-quantified, a guest's email
typed at checkout, the shipping step, then conversion (is_active = 0,
reserved_order_id set; converted_at stays NULL, as in Magento 2) or abandonment
(the quote stays active).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Callable

from .catalog import Catalog, Product
from .core import Domain, Row, Shop
from .customers import Customers
from .reference import BASE_CURRENCY, STORE_CHOICE, STORE_COUNTRIES
from .schema import new_row


@dataclass(eq=False)
class Line:
    """A visible cart line, its child rows (configurable/bundle), and the simple
    products whose stock one unit of it takes."""

    item: Row
    children: list[Row]
    units: list[Product]


@dataclass(eq=False)
class Cart:
    row: Row
    lines: list[Line]
    steps_left: int
    converts: bool
    guest: tuple[str, str, str] | None = None  # first name, last name, country at checkout


class Carts(Domain):
    """Shoppers' carts.

    State: `quotes` (every quote not yet purged, by id), `shopping` (customers
    with a cart in progress), `abandoned` (customer id -> their open, idle cart,
    resumed when they shop again) and `converted` ((conversion ms, cart), oldest
    first, for the cleanup cron). `place_order` is the orders domain's checkout,
    wired in by the simulator.
    """

    def __init__(self, shop: Shop, customers: Customers, catalog: Catalog) -> None:
        super().__init__(shop)
        self._customers = customers
        self._catalog = catalog
        self.quotes: dict[int, Cart] = {}
        self.shopping: set[int] = set()
        self.abandoned: dict[int, Cart] = {}
        self.converted: deque[tuple[int, Cart]] = deque()
        self.place_order: Callable[[Cart], None] = _no_checkout

    def open_cart(self) -> None:
        """A shopper adds a first product: quote, its item rows, then the quote's
        totals. Registered customers resume their idle cart if they have one."""
        customer = self._pick_shopper()
        if customer is not None and customer["entity_id"] in self.abandoned:
            cart = self.abandoned.pop(customer["entity_id"])
            self.shopping.add(customer["entity_id"])
            cart.steps_left, cart.converts = 1, self._chance(0.4)
            self._step(cart)
            return
        store_id = customer["store_id"] if customer else self._weighted(STORE_CHOICE)
        choice = self._catalog.choose_product(store_id)
        if choice is None:
            return
        now = self._stamp()
        quote = new_row("quote", {
            "entity_id": self._next_id("quote"), "store_id": store_id, "created_at": now, "updated_at": now,
            "converted_at": None, "is_active": 1, "items_count": 0, "items_qty": 0,
            "base_currency_code": BASE_CURRENCY, "base_grand_total": Decimal("0.00"),
            "base_subtotal": Decimal("0.00"), "customer_id": customer["entity_id"] if customer else None,
            "customer_email": customer["email"] if customer else None,
            "customer_firstname": customer["firstname"] if customer else None,
            "customer_lastname": customer["lastname"] if customer else None,
            "customer_group_id": customer["group_id"] if customer else 0, "customer_is_guest": 0,
            "reserved_order_id": None,
        })
        self._emit("quote", quote)
        cart = Cart(quote, [], steps_left=self._int(0, 2), converts=self._chance(0.45 if customer else 0.3))
        self.quotes[quote["entity_id"]] = cart
        if customer:
            self.shopping.add(customer["entity_id"])
        self._add_line(cart, *choice)
        self._emit("quote", self._total(cart))
        self._after(20, 240, partial(self._step, cart))

    def _pick_shopper(self) -> Row | None:
        """A registered customer not already shopping (60%), else a guest (None)."""
        if not self._chance(0.6):
            return None
        customer_id = self._customers.pool.pick(self._random())
        return None if customer_id is None or customer_id in self.shopping else self._customers.customers[customer_id]

    def _add_line(self, cart: Cart, product: Product, units: list[Product], qty: int) -> None:
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
        cart.lines.append(Line(item, children, units))

    def _quote_item(self, cart: Cart, product: Product, parent_id: int | None, qty: int,
                    price: Decimal, now: datetime) -> Row:
        store_id = cart.row["store_id"]
        return new_row("quote_item", {
            "item_id": self._next_id("quote_item"), "quote_id": cart.row["entity_id"], "created_at": now,
            "updated_at": now, "product_id": product.id, "store_id": store_id, "parent_item_id": parent_id,
            "sku": product.entity["sku"], "name": product.name_in(store_id),
            "product_type": product.entity["type_id"], "qty": qty, "price": price, "base_price": price,
            "row_total": price * qty, "base_row_total": price * qty})

    def _total(self, cart: Cart) -> Row:
        """Recollects the quote's totals (Magento saves the quote after each change)."""
        quote = cart.row
        quote["items_count"] = len(cart.lines)
        quote["items_qty"] = sum(line.item["qty"] for line in cart.lines)
        quote["base_subtotal"] = quote["base_grand_total"] = sum(
            (line.item["base_row_total"] for line in cart.lines), Decimal("0.00"))
        quote["updated_at"] = self._stamp()
        return quote

    def _step(self, cart: Cart) -> None:
        """Browsing goes on (another product or a new quantity), then the shopper
        heads to checkout or leaves the cart active and idle."""
        if cart.steps_left > 0:
            cart.steps_left -= 1
            if cart.lines and self._chance(0.3):
                self._change_qty(cart, self._pick(cart.lines))
            elif (choice := self._catalog.choose_product(cart.row["store_id"])) is not None:
                self._add_line(cart, *choice)
            self._emit("quote", self._total(cart))
            self._after(20, 240, partial(self._step, cart))
        elif cart.converts:
            self._after(60, 480, partial(self._checkout, cart))
        else:
            self.abandon(cart)

    def _change_qty(self, cart: Cart, line: Line) -> None:
        item = line.item
        item["qty"] = max(1, item["qty"] + self._pick((-1, 1, 1)))
        item["row_total"] = item["base_row_total"] = item["price"] * item["qty"]
        item["updated_at"] = self._stamp()
        self._emit("quote_item", item)

    def _checkout(self, cart: Cart) -> None:
        """Checkout starts: guests give their email first. Each step saves the quote."""
        if cart.row["customer_id"] is None:
            self._identify_guest(cart)
            self._emit("quote", cart.row)
        self._after(30, 180, partial(self._choose_shipping, cart))

    def _choose_shipping(self, cart: Cart) -> None:
        """The shipping step; some shoppers leave here, their email already known."""
        cart.row["updated_at"] = self._stamp()
        self._emit("quote", cart.row)
        if self._chance(0.15):
            self.abandon(cart)
        else:
            self._after(30, 240, partial(self.place_order, cart))

    def abandon(self, cart: Cart) -> None:
        """The cart stays active; some guests had typed their email first."""
        customer_id = cart.row["customer_id"]
        if customer_id is None:
            if cart.guest is None and self._chance(0.35):
                self._identify_guest(cart)
                self._emit("quote", cart.row)
            return
        self.shopping.discard(customer_id)
        if customer_id in self._customers.customers:
            self.abandoned[customer_id] = cart

    def convert(self, cart: Cart, order: Row, customer_id: int | None) -> None:
        """The placed order's side of the quote: deactivated, the order number
        reserved; the cart waits for the cleanup cron."""
        cart.row.update(is_active=0, reserved_order_id=order["increment_id"],
                        base_grand_total=order["base_grand_total"], updated_at=self._stamp())
        self._emit("quote", cart.row)
        self.converted.append((self._shop.now, cart))
        if customer_id is not None:
            self.shopping.discard(customer_id)

    def _identify_guest(self, cart: Cart) -> None:
        """Who the guest is: a returning guest, a registered customer checking out
        as a guest, or someone new; the email is stored as typed."""
        customers = self._customers
        quote = cart.row
        roll = self._random()
        customer = customers.pick() if roll < 0.15 else None
        if customer is not None:
            identity = (customer["email"].strip().lower(), customer["firstname"], customer["lastname"],
                        customers.country_of(customer))
        elif roll < 0.3 and customers.guests:
            identity = self._pick(customers.guests)
        else:
            country = self._pick(STORE_COUNTRIES[quote["store_id"]])
            first, last = customers.person()
            identity = (customers.email(first, last, country), first, last, country)
            customers.guests.append(identity)
        email, first, last, country = identity
        cart.guest = (first, last, country)
        quote.update(customer_email=customers.as_typed(email), customer_firstname=first, customer_lastname=last,
                     customer_is_guest=1, updated_at=self._stamp())


def _no_checkout(cart: Cart) -> None:
    raise RuntimeError("Carts.place_order is not wired to the orders domain")
