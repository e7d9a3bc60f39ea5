"""Magento 2 tables replicated by Streamkap, as they land in the warehouse.

Column names, primary keys and types follow Magento 2's db_schema.xml files (a
subset of the columns: the ones reports and CRM feeds read). Every landing table
adds Streamkap's metadata columns after Magento's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STREAMKAP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_streamkap_source_ts_ms", "bigint"),
    ("_streamkap_ts_ms", "bigint"),
    ("_streamkap_offset", "bigint"),
    ("__deleted", "varchar"),
)


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def ddl(self, schema: str) -> str:
        cols = ",\n    ".join(f"{n} {t}" for n, t in self.columns + STREAMKAP_COLUMNS)
        return f"create table if not exists {schema}.{self.name} (\n    {cols}\n)"


def _table(name: str, primary_key: str, columns: str) -> Table:
    # Split on the commas between columns, not those inside decimal(p,s).
    parts = re.split(r",(?![^()]*\))", columns)
    parsed = tuple(tuple(part.split(None, 1)) for part in parts if part.strip())
    return Table(name, primary_key, parsed)  # type: ignore[arg-type]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _table("store_website", "website_id", """
            website_id integer, code varchar, name varchar, sort_order integer,
            default_group_id integer, is_default smallint"""),
        _table("store", "store_id", """
            store_id integer, code varchar, website_id integer, group_id integer,
            name varchar, sort_order integer, is_active smallint"""),
        _table("customer_group", "customer_group_id", """
            customer_group_id integer, customer_group_code varchar, tax_class_id integer"""),
        _table("customer_entity", "entity_id", """
            entity_id integer, website_id integer, email varchar, group_id integer,
            store_id integer, created_at timestamp, updated_at timestamp, is_active smallint,
            created_in varchar, prefix varchar, firstname varchar, middlename varchar,
            lastname varchar, suffix varchar, dob date, gender integer,
            default_billing integer, default_shipping integer"""),
        _table("customer_address_entity", "entity_id", """
            entity_id integer, increment_id varchar, parent_id integer,
            created_at timestamp, updated_at timestamp, is_active smallint, city varchar,
            company varchar, country_id varchar, firstname varchar, lastname varchar,
            postcode varchar, region varchar, street varchar, telephone varchar"""),
        _table("newsletter_subscriber", "subscriber_id", """
            subscriber_id integer, store_id integer, change_status_at timestamp,
            customer_id integer, subscriber_email varchar, subscriber_status integer,
            subscriber_confirm_code varchar"""),
        _table("eav_attribute", "attribute_id", """
            attribute_id integer, entity_type_id integer, attribute_code varchar,
            backend_type varchar, frontend_input varchar, frontend_label varchar,
            is_required smallint"""),
        _table("catalog_product_entity", "entity_id", """
            entity_id integer, attribute_set_id integer, type_id varchar, sku varchar,
            has_options smallint, required_options smallint, created_at timestamp,
            updated_at timestamp"""),
        _table("catalog_product_entity_varchar", "value_id", """
            value_id integer, attribute_id integer, store_id integer, entity_id integer,
            value varchar"""),
        _table("catalog_product_entity_decimal", "value_id", """
            value_id integer, attribute_id integer, store_id integer, entity_id integer,
            value decimal(20,6)"""),
        _table("catalog_product_entity_int", "value_id", """
            value_id integer, attribute_id integer, store_id integer, entity_id integer,
            value integer"""),
        _table("cataloginventory_stock_item", "item_id", """
            item_id integer, product_id integer, stock_id integer, qty decimal(12,4),
            min_qty decimal(12,4), is_in_stock smallint, backorders smallint,
            low_stock_date timestamp, website_id integer"""),
        _table("quote", "entity_id", """
            entity_id integer, store_id integer, created_at timestamp, updated_at timestamp,
            converted_at timestamp, is_active smallint, items_count integer,
            items_qty decimal(12,4), base_currency_code varchar, base_grand_total decimal(20,4),
            base_subtotal decimal(20,4), customer_id integer, customer_email varchar,
            customer_firstname varchar, customer_lastname varchar, customer_group_id integer,
            customer_is_guest smallint, reserved_order_id varchar"""),
        _table("quote_item", "item_id", """
            item_id integer, quote_id integer, created_at timestamp, updated_at timestamp,
            product_id integer, store_id integer, parent_item_id integer, sku varchar,
            name varchar, product_type varchar, qty decimal(12,4), price decimal(20,4),
            base_price decimal(20,4), row_total decimal(20,4), base_row_total decimal(20,4)"""),
        _table("sales_order", "entity_id", """
            entity_id integer, increment_id varchar, state varchar, status varchar,
            store_id integer, customer_id integer, customer_email varchar,
            customer_firstname varchar, customer_lastname varchar, customer_group_id integer,
            customer_is_guest smallint, quote_id integer, base_currency_code varchar,
            base_grand_total decimal(20,4), base_subtotal decimal(20,4),
            base_discount_amount decimal(20,4), base_shipping_amount decimal(20,4),
            base_tax_amount decimal(20,4), base_total_paid decimal(20,4),
            base_total_refunded decimal(20,4), total_qty_ordered decimal(12,4),
            created_at timestamp, updated_at timestamp"""),
        _table("sales_order_item", "item_id", """
            item_id integer, order_id integer, parent_item_id integer, quote_item_id integer,
            store_id integer, created_at timestamp, updated_at timestamp, product_id integer,
            product_type varchar, sku varchar, name varchar, qty_ordered decimal(12,4),
            qty_refunded decimal(12,4), qty_canceled decimal(12,4), base_price decimal(20,4),
            base_row_total decimal(20,4), base_discount_amount decimal(20,4),
            base_tax_amount decimal(20,4), base_amount_refunded decimal(20,4)"""),
        _table("sales_order_address", "entity_id", """
            entity_id integer, parent_id integer, customer_address_id integer,
            address_type varchar, email varchar, firstname varchar, lastname varchar,
            street varchar, city varchar, region varchar, postcode varchar,
            country_id varchar, telephone varchar"""),
        _table("sales_order_payment", "entity_id", """
            entity_id integer, parent_id integer, method varchar,
            base_amount_ordered decimal(20,4), base_amount_paid decimal(20,4),
            base_amount_refunded decimal(20,4), base_shipping_amount decimal(20,4),
            last_trans_id varchar"""),
    )
}
