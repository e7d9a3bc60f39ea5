"""The shop's configuration: websites, store views, customer groups and EAV
attributes (tables that stay as installed), and facts every domain shares."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .core import Row, weights
from .schema import new_row

PRODUCT_ENTITY_TYPE_ID = 4
BASE_CURRENCY = "USD"  # the one base currency, on every website

# (attribute_id, entity_type_id, attribute_code, backend_type, frontend_input,
#  frontend_label, is_required). Ids are this install's: join on attribute_code and
# entity_type_id, never on ids. Categories (type 3) have a `name` attribute too.
ATTRIBUTE_COLUMNS = ("attribute_id", "entity_type_id", "attribute_code", "backend_type", "frontend_input",
                     "frontend_label", "is_required")
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

STORE_CHOICE = weights((1, 2, 3), (55, 25, 20))  # where shoppers shop
STORE_COUNTRIES = {1: ("US",), 2: ("GB", "FR", "NL"), 3: ("DE",)}
TAX_RATES = {"US": Decimal("0.0825"), "GB": Decimal("0.20"), "DE": Decimal("0.19"),
             "FR": Decimal("0.20"), "NL": Decimal("0.21")}


def configuration_rows() -> dict[str, list[Row]]:
    """The configuration tables' rows, with every Magento column."""
    return {
        "store_website": [new_row("store_website", row) for row in WEBSITES],
        "store": [new_row("store", row) for row in STORES],
        "customer_group": [new_row("customer_group", row) for row in CUSTOMER_GROUPS],
        "eav_attribute": [new_row("eav_attribute", dict(zip(ATTRIBUTE_COLUMNS, attribute)))
                          for attribute in ATTRIBUTES],
    }
