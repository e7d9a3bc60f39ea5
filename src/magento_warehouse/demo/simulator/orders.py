"""Orders: placement from a cart (sales_order, sales_order_item,
sales_order_address, sales_order_payment) and their life after it: the
confirmation email, invoicing, shipping, cancellation and refunds.

Magento conventions kept
  * sales_order.base_discount_amount is negative (items carry positive discounts):
    base_grand_total = base_subtotal + base_discount_amount + shipping + tax.
  * Only the parent line of a configurable or bundle item carries amounts; its
    children (parent_item_id set) carry 0. Order numbers are per store view
    ('000000123' on store 1, '2000000045' on store 2).
  * base_total_paid and base_total_refunded are NULL until paid or refunded. Amounts
    are in the one base currency, USD, on every website.
  * Processes are compressed to fit a demo: orders are invoiced, shipped and
    refunded within minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Sequence

from .carts import Cart, Carts
from .catalog import Catalog, Product
from .core import Domain, Row, Shop, money, weights
from .customers import PLACE_KEYS, Customers
from .reference import BASE_CURRENCY, STORE_COUNTRIES, TAX_RATES
from .schema import new_row

PAYMENT_CHOICE = weights(("braintree", "paypal_express", "checkmo", "banktransfer"), (50, 30, 12, 8))
ORDER_ADDRESS_KEYS = ("firstname", "lastname", "street", "city", "region", "postcode", "country_id", "telephone")
FREE_SHIPPING_FROM = 75  # net of discounts


@dataclass(eq=False)
class Order:
    row: Row
    lines: list[tuple[Row, list[Row]]]  # parent item row, child item rows
    addresses: list[Row]
    payment: Row
    needs: list[tuple[Product, int]]  # simple products and the units the order took

    @property
    def items(self) -> list[Row]:
        return [row for parent, children in self.lines for row in (parent, *children)]


class Orders(Domain):
    """Placed orders, in placement order (`orders`), and the per-store order
    number sequences."""

    def __init__(self, shop: Shop, customers: Customers, catalog: Catalog, carts: Carts) -> None:
        super().__init__(shop)
        self._customers = customers
        self._catalog = catalog
        self._carts = carts
        self.orders: list[Order] = []
        self._order_numbers = dict.fromkeys((1, 2, 3), 0)

    def place_order(self, cart: Cart) -> None:
        """Order placement in one transaction: stock deducted, order, items,
        addresses and payment written, the quote deactivated."""
        quote = cart.row
        needs: dict[int, tuple[Product, int]] = {}
        for line in cart.lines:
            for unit in line.units:
                _, qty = needs.get(unit.id, (unit, 0))
                needs[unit.id] = (unit, qty + line.item["qty"])
        if any(unit.stock["qty"] < qty or not unit.enabled for unit, qty in needs.values()):
            self._carts.abandon(cart)
            return
        customer = self._customers.customers.get(quote["customer_id"]) if quote["customer_id"] else None
        if customer is not None:
            quote.update(customer_email=customer["email"], customer_firstname=customer["firstname"],
                         customer_lastname=customer["lastname"], customer_group_id=customer["group_id"])
        for unit, qty in needs.values():
            self._catalog.move_stock(unit, -qty)
        order = self._new_order(cart, customer, list(needs.values()))
        self._emit("sales_order", order.row)
        for item in order.items:
            self._emit("sales_order_item", item)
        for address in order.addresses:
            self._emit("sales_order_address", address)
        self._emit("sales_order_payment", order.payment)
        self._carts.convert(cart, order.row, customer["entity_id"] if customer is not None else None)
        self.orders.append(order)
        self._after(2, 60, partial(self._send_confirmation, order))
        if self._chance(0.07):
            self._after(300, 1200, partial(self._cancel, order))
        else:
            self._after(60, 600, partial(self._invoice, order))

    def _new_order(self, cart: Cart, customer: Row | None, needs: list[tuple[Product, int]]) -> Order:
        quote, now = cart.row, self._stamp()
        order_id, store_id = self._next_id("sales_order"), quote["store_id"]
        billing, shipping = self._order_addresses(order_id, cart, customer)
        rate = TAX_RATES[shipping["country_id"]]
        discount_rate = self._pick((Decimal("0.10"), Decimal("0.15"))) if self._chance(0.2) else Decimal(0)
        lines = []
        for line in cart.lines:
            quote_item = line.item
            discount = money(quote_item["base_row_total"] * discount_rate)
            tax = money((quote_item["base_row_total"] - discount) * rate)
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
        if subtotal - discount >= FREE_SHIPPING_FROM:
            shipping_amount = Decimal("0.00")
        else:
            shipping_amount = Decimal("5.00") if qty <= 2 else Decimal("8.00")
        grand_total = subtotal - discount + shipping_amount + tax
        row = new_row("sales_order", {
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
        })
        method = self._weighted(PAYMENT_CHOICE)
        payment = new_row("sales_order_payment", {
            "entity_id": self._next_id("sales_order_payment"), "parent_id": order_id, "method": method,
            "base_amount_ordered": grand_total, "base_amount_paid": None, "base_amount_refunded": None,
            "base_shipping_amount": shipping_amount, "last_trans_id": None})
        return Order(row, lines, [billing, shipping], payment, needs)

    def _order_item(self, order_id: int, parent_id: int | None, quote_item: Row, qty: int, now: datetime,
                    price: Decimal, discount: Decimal, tax: Decimal) -> Row:
        return new_row("sales_order_item", {
            "item_id": self._next_id("sales_order_item"), "order_id": order_id, "parent_item_id": parent_id,
            "quote_item_id": quote_item["item_id"], "store_id": quote_item["store_id"], "created_at": now,
            "updated_at": now, "product_id": quote_item["product_id"], "product_type": quote_item["product_type"],
            "sku": quote_item["sku"], "name": quote_item["name"], "qty_ordered": qty, "qty_refunded": 0,
            "qty_canceled": 0, "base_price": price, "base_row_total": price * qty,
            "base_discount_amount": discount, "base_tax_amount": tax, "base_amount_refunded": Decimal("0.00")})

    def _order_addresses(self, order_id: int, cart: Cart, customer: Row | None) -> tuple[Row, Row]:
        """Billing from the customer's default address (or typed in by a guest);
        shipping usually the same, sometimes elsewhere."""
        customers = self._customers
        quote = cart.row
        book = customers.addresses.get(customer["default_billing"]) if customer else None
        if book is not None:
            fields, book_id = {key: book[key] for key in PLACE_KEYS}, book["entity_id"]
        else:
            first, last, country = cart.guest or (quote["customer_firstname"], quote["customer_lastname"],
                                                  STORE_COUNTRIES[quote["store_id"]][0])
            fields, book_id = customers.address_fields(country, first, last), None
        billing = self._order_address(order_id, "billing", book_id, quote["customer_email"], fields)
        if self._chance(0.85):
            return billing, self._order_address(order_id, "shipping", book_id, quote["customer_email"], fields)
        elsewhere = customers.address_fields(fields["country_id"], fields["firstname"], fields["lastname"])
        return billing, self._order_address(order_id, "shipping", None, quote["customer_email"], elsewhere)

    def _order_address(self, order_id: int, kind: str, book_id: int | None, email: str, fields: Row) -> Row:
        return new_row("sales_order_address", {
            "entity_id": self._next_id("sales_order_address"), "parent_id": order_id,
            "customer_address_id": book_id, "address_type": kind, "email": email,
            **{key: fields[key] for key in ORDER_ADDRESS_KEYS}})

    def _increment_id(self, store_id: int) -> str:
        """Magento's per-store order number: '000000123' on store 1, '2000000045' on store 2."""
        self._order_numbers[store_id] += 1
        return f"{'' if store_id == 1 else store_id}{self._order_numbers[store_id]:09d}"

    # ---------------------------------------------------------- lifecycle

    def _send_confirmation(self, order: Order) -> None:
        """The confirmation email's cron marks the order sent: an update of updated_at only."""
        order.row["updated_at"] = self._stamp()
        self._emit("sales_order", order.row)

    def _save_order(self, order: Order, state: str, items: Sequence[Row] = (), payment: bool = False) -> None:
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

    def _invoice(self, order: Order) -> None:
        """Payment captured: pending -> processing."""
        if order.row["state"] != "new":
            return
        total = order.row["base_grand_total"]
        order.row["base_total_paid"] = total
        order.payment["base_amount_paid"] = total
        if order.payment["method"] in ("braintree", "paypal_express"):
            order.payment["last_trans_id"] = self._customers.fill("@@##@@##@@##")
        self._save_order(order, "processing", order.items, payment=True)
        self._after(120, 900, partial(self._ship, order))

    def _ship(self, order: Order) -> None:
        """Shipped: processing -> complete; a few orders are refunded later."""
        self._save_order(order, "complete", order.items)
        if self._chance(0.1):
            self._after(300, 1800, partial(self._refund, order))

    def _cancel(self, order: Order) -> None:
        """Unpaid order canceled; its stock goes back."""
        if order.row["state"] != "new":
            return
        for unit, qty in order.needs:
            self._catalog.move_stock(unit, qty)
        for item in order.items:
            item["qty_canceled"] = item["qty_ordered"]
        self._save_order(order, "canceled", order.items)

    def _refund(self, order: Order) -> None:
        """A credit memo: the whole order (state closed) or part of one line (state
        stays complete, base_total_refunded below the grand total)."""
        lines = order.lines
        partial_refund = (len(lines) > 1 or lines[0][0]["qty_ordered"] > 1) and self._chance(0.4)
        if partial_refund:
            parent, children = self._pick(lines)
            qty = parent["qty_ordered"] if len(lines) > 1 else 1
            share = Decimal(qty) / parent["qty_ordered"]
            net = money((parent["base_row_total"] - parent["base_discount_amount"]) * share)
            amount = net + money(parent["base_tax_amount"] * share)
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
