"""The catalog: products (catalog_product_entity), their EAV values per store view
(catalog_product_entity_varchar/_decimal/_int) and stock (cataloginventory_stock_item).

Simple products, configurable apparel with size/color children and fixed-price
bundles of simple products; admins change prices, rename products, disable them
for a while, and receive stock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from .core import CENT, MICRO, Domain, Row, Shop, Weighted, money, plain_ascii, weights
from .reference import PRODUCT_ATTRIBUTE_IDS
from .schema import new_row

LOW_STOCK_QTY = 5
QTY_CHOICE = weights((1, 2, 3), (80, 15, 5))  # units per cart line

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

VARCHAR, DECIMAL, INTEGER = ("catalog_product_entity_varchar", "catalog_product_entity_decimal",
                             "catalog_product_entity_int")


@dataclass(eq=False)
class Product:
    entity: Row
    base_name: str
    names: dict[int, Row]  # store_id -> varchar row of `name`
    prices: dict[int, Row]  # store_id -> decimal row of `price`; configurables have none
    status: Row
    stock: Row
    values: list[tuple[str, Row]]  # every EAV value row, as (table, row)
    children: list[Product] = field(default_factory=list)
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
        return money((self.prices.get(store_id) or self.prices[0])["value"])


class Catalog(Domain):
    """Products with their EAV values and stock.

    State: `products` (every product), `priced` (those with a price row),
    `sellable` (what shoppers add to carts: simple, configurable and bundle
    products, in popularity order) and `sell_choice` (their weights).
    """

    def __init__(self, shop: Shop) -> None:
        super().__init__(shop)
        self.products: list[Product] = []
        self.priced: list[Product] = []
        self.sellable: list[Product] = []
        self.sell_choice: Weighted[Product] = ((), [])

    def seed(self) -> None:
        """Simple products, configurable apparel with size/color children, and
        fixed-price bundles of simple products."""
        rng = self._rng
        standalone = []
        for i in range(self._shop.scaled(140)):
            noun = self._pick(GEAR)
            price = Decimal(self._int(8, 150)) - CENT
            standalone.append(self._new_product("simple", f"24-{plain_ascii(noun)[:2].upper()}{i + 1:03d}",
                                                f"{self._pick(ADJECTIVES)} {noun}", price, noun=noun))
        configurables = []
        for i in range(self._shop.scaled(25)):
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
        for i in range(self._shop.scaled(10)):
            parts = rng.sample(standalone, min(len(standalone), self._int(2, 3)))
            price = money(sum(part.price_in(0) for part in parts) * Decimal("0.85"))
            bundle = self._new_product("bundle", f"BNDL-{i + 1:03d}", f"{self._pick(ADJECTIVES)} Starter Kit", price)
            bundle.children = parts
            bundles.append(bundle)
        self.sellable = standalone + configurables + bundles
        rng.shuffle(self.sellable)  # popularity (Zipf-like) is independent of type
        self.sell_choice = weights(self.sellable, [1 / (rank + 1) ** 0.8 for rank in range(len(self.sellable))])

    def _new_product(self, type_id: str, sku: str, name: str, price: Decimal | None, *, visible: bool = True,
                     attribute_set_id: int = 4, noun: str = "") -> Product:
        """A product with its EAV values (default scope, plus some store-view
        overrides) and stock item, created some time before the snapshot."""
        created = self._shop.past(30, 3 * 365)
        entity = new_row("catalog_product_entity", {
            "entity_id": self._next_id("catalog_product_entity"), "attribute_set_id": attribute_set_id,
            "type_id": type_id, "sku": sku, "has_options": int(type_id != "simple"),
            "required_options": int(type_id != "simple"), "created_at": created,
            "updated_at": created + timedelta(days=self._int(0, 29))})
        product_id = entity["entity_id"]
        names = {0: self._value(VARCHAR, "name", 0, product_id, name)}
        if visible and self._chance(0.08):
            names[1] = self._value(VARCHAR, "name", 1, product_id, f"{name} - Online Exclusive")
        if noun in GERMAN and self._chance(0.5):
            names[3] = self._value(VARCHAR, "name", 3, product_id, name.replace(noun, GERMAN[noun]))
        values = [(VARCHAR, row) for row in names.values()]
        values.append((VARCHAR, self._value(VARCHAR, "url_key", 0, product_id,
                                            f"{'-'.join(plain_ascii(word) for word in name.split())}-{sku.lower()}")))
        prices: dict[int, Row] = {}
        if price is not None:
            prices[0] = self._value(DECIMAL, "price", 0, product_id, price.quantize(MICRO))
            if visible and self._chance(0.06):
                prices[1] = self._value(DECIMAL, "price", 1, product_id, money(price * Decimal("0.9")).quantize(MICRO))
            values.extend((DECIMAL, row) for row in prices.values())
        if type_id == "simple":
            values.append((DECIMAL, self._value(DECIMAL, "weight", 0, product_id, Decimal(self._int(1, 400)) / 100)))
        status = self._value(INTEGER, "status", 0, product_id, 2 if self._chance(0.03) else 1)
        values.extend((INTEGER, row) for row in (
            status,
            self._value(INTEGER, "visibility", 0, product_id, 4 if visible else 1),
            self._value(INTEGER, "tax_class_id", 0, product_id, 2),
        ))
        qty = (0 if self._chance(0.05) else self._int(1, 400)) if type_id == "simple" else 0
        stock = new_row("cataloginventory_stock_item", {
            "item_id": self._next_id("cataloginventory_stock_item"), "product_id": product_id, "stock_id": 1,
            "qty": qty, "min_qty": 0, "is_in_stock": int(qty > 0 or type_id != "simple"), "backorders": 0,
            "low_stock_date": self._shop.past(0, 20) if type_id == "simple" and qty < LOW_STOCK_QTY else None,
            "website_id": 0})
        product = Product(entity, name, names, prices, status, stock, values)
        self.products.append(product)
        if prices:
            self.priced.append(product)
        return product

    def _value(self, table: str, code: str, store_id: int, product_id: int, value: Any) -> Row:
        return new_row(table, {"value_id": self._next_id(table), "attribute_id": PRODUCT_ATTRIBUTE_IDS[code],
                               "store_id": store_id, "entity_id": product_id, "value": value})

    def choose_product(self, store_id: int) -> tuple[Product, list[Product], int] | None:
        """A popular, enabled product in stock, for a cart line: (product, the
        simple products one unit of it takes, qty)."""
        for _ in range(5):
            product = self._weighted(self.sell_choice)
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

    # ------------------------------------------------------------ admin

    def _touch(self, product: Product) -> None:
        """An admin save also bumps the product's updated_at."""
        product.entity["updated_at"] = self._stamp()
        self._emit("catalog_product_entity", product.entity)

    def change_price(self) -> None:
        product = self._pick(self.priced)
        store_id = 1 if 1 in product.prices and self._chance(0.5) else 0
        row = product.prices[store_id]
        new = Decimal(max(2, round(float(row["value"]) * (0.8 + 0.35 * self._random())))) - CENT
        row["value"] = new.quantize(MICRO)
        self._emit(DECIMAL, row)
        self._touch(product)

    def rename_product(self) -> None:
        product = self._pick(self.products)
        product.names[0]["value"] = f"{product.base_name} ({self._pick(RENAMES)})"
        self._emit(VARCHAR, product.names[0])
        self._touch(product)

    def toggle_status(self) -> None:
        """A product is disabled for a while (status 2), then enabled again."""
        product = self._pick(self.sellable)
        if not product.enabled:
            return
        self._set_status(product, 2)
        self._after(600, 3600, partial(self._set_status, product, 1))

    def _set_status(self, product: Product, status: int) -> None:
        product.status["value"] = status
        self._emit(INTEGER, product.status)
        self._touch(product)

    # ------------------------------------------------------------ stock

    def restock(self) -> None:
        """A delivery for the emptiest of a few products."""
        candidates = [product for product in self._rng.sample(self.products, min(5, len(self.products)))
                      if product.entity["type_id"] == "simple"]
        if candidates:
            product = min(candidates, key=lambda p: p.stock["qty"])
            self.move_stock(product, self._int(20, 200))

    def _restock_product(self, product: Product) -> None:
        product.restock_pending = False
        self.move_stock(product, self._int(50, 200))

    def move_stock(self, product: Product, delta: int) -> None:
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
