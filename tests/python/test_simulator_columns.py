"""Magento's complete column set in the simulator's landing tables: exactly Magento's
columns then Streamkap's, Magento's types and defaults (magento_columns.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from magento_warehouse.demo.simulator.schema import COLUMNS_FILE, STREAMKAP_COLUMNS, TABLES
from magento_warehouse.demo.simulator.simulator import Batch, write_batch

import test_simulator as base
from test_simulator import START_MS, latest, simulate

# The fixture of test_simulator.py (the seed-7 run), built once for this module too.
run = base.run


def magento_columns() -> dict[str, list[dict[str, Any]]]:
    """The committed column definitions, per table, as dicts in Magento's order."""
    spec = json.loads(COLUMNS_FILE.read_text(encoding="utf-8"))
    return {table: [dict(zip(spec["fields"], column)) for column in definition["columns"]]
            for table, definition in spec["tables"].items()}


@pytest.fixture(scope="module")
def warehouse(run: list[Batch], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The snapshot and the first two batches of the seed-7 run, written to DuckDB."""
    db = tmp_path_factory.mktemp("landing") / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        for batch in run[:3]:
            write_batch(con, batch)
    return db


def test_every_landing_table_has_exactly_magentos_columns_then_streamkaps(warehouse: Path) -> None:
    expected = magento_columns()
    assert set(expected) == set(TABLES)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, columns in expected.items():
            landed = [name for (name,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'streamkap'"
                " and table_name = ? order by ordinal_position", [table]).fetchall()]
            assert landed == [c["name"] for c in columns] + [name for name, _ in STREAMKAP_COLUMNS], table
            assert TABLES[table].column_names == [c["name"] for c in columns]
            assert TABLES[table].primary_key == columns[0]["name"] and columns[0]["identity"]


def test_landing_types_follow_magentos_mysql_types(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        types = dict(((table, column), kind) for table, column, kind in con.execute(
            "select table_name, column_name, data_type from information_schema.columns"
            " where table_schema = 'streamkap'").fetchall())
    assert types["sales_order", "base_grand_total"] == "DECIMAL(20,4)"
    assert types["sales_order", "total_qty_ordered"] == "DECIMAL(12,4)"
    assert types["catalog_product_entity_decimal", "value"] == "DECIMAL(20,6)"
    assert types["sales_order", "entity_id"] == "BIGINT"  # int unsigned
    assert types["sales_order", "quote_id"] == "INTEGER"  # int (signed)
    assert types["sales_order", "store_id"] == "INTEGER"  # smallint unsigned
    assert types["sales_order", "email_sent"] == "SMALLINT"  # smallint (signed)
    assert types["customer_entity", "dob"] == "DATE"
    assert types["customer_entity", "rp_token_created_at"] == "TIMESTAMP"  # datetime
    assert types["customer_entity", "created_at"] == "TIMESTAMP"
    assert types["customer_address_entity", "street"] == "VARCHAR"  # text
    assert types["sales_order_item", "product_options"] == "VARCHAR"  # longtext
    assert {kind for (_, column), kind in types.items() if column == "__deleted"} == {"VARCHAR"}
    assert {kind for (_, column), kind in types.items() if column.startswith("_streamkap")} == {"BIGINT"}


def test_column_file_holds_known_magento_facts() -> None:
    columns = {table: {c["name"]: c for c in table_columns} for table, table_columns in magento_columns().items()}
    order = columns["sales_order"]
    assert len(order) >= 130
    assert {"increment_id", "customer_email", "base_grand_total", "grand_total", "order_currency_code",
            "shipping_method", "coupon_code", "gift_message_id", "paypal_ipn_customer_notified"} <= set(order)
    assert (order["base_grand_total"]["type"], order["base_grand_total"]["precision"],
            order["base_grand_total"]["scale"]) == ("decimal", 20, 4)
    assert (order["increment_id"]["type"], order["increment_id"]["length"]) == ("varchar", 50)
    assert order["entity_id"]["identity"] and order["entity_id"]["unsigned"] and not order["entity_id"]["nullable"]
    assert order["created_at"]["default"] == "CURRENT_TIMESTAMP" and not order["created_at"]["nullable"]
    assert order["gift_message_id"]["module"] == "Magento_GiftMessage"
    assert order["paypal_ipn_customer_notified"]["module"] == "Magento_Paypal"
    item = columns["sales_order_item"]
    assert item["free_shipping"]["module"] == "Magento_OfflineShipping"
    assert item["weee_tax_applied"]["module"] == "Magento_Weee"
    assert item["product_options"]["type"] == "longtext"
    assert {"free_shipping", "weee_tax_applied", "gift_message_id"} <= set(columns["quote_item"])
    assert columns["quote"]["is_persistent"]["module"] == "Magento_Persistent"
    assert (columns["customer_address_entity"]["street"]["type"], columns["customer_address_entity"]["street"]["nullable"]) \
        == ("text", False)
    assert {"password_hash", "rp_token", "failures_num", "lock_expires", "session_cutoff"} <= set(columns["customer_entity"])
    assert columns["cataloginventory_stock_item"]["use_config_min_qty"]["default"] == "1"
    assert columns["eav_attribute"]["backend_type"]["default"] == "static"
    assert len(columns["cataloginventory_stock_item"]) == 26 and len(columns["eav_attribute"]) == 17


def test_not_null_columns_are_never_null_in_the_snapshot(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, columns in magento_columns().items():
            required = [c["name"] for c in columns if not c["nullable"]]
            counts = con.execute(
                f"select count(*), {', '.join(f'count(*) filter (where {name} is null)' for name in required)}"
                f" from streamkap.{table} where _streamkap_ts_ms < {START_MS}").fetchone()
            assert counts[0] > 0, table
            assert dict(zip(required, counts[1:])) == dict.fromkeys(required, 0), table


def test_columns_the_shop_does_not_play_hold_magentos_defaults(run: list[Batch]) -> None:
    order = latest(run, "sales_order")
    assert order and all(o["total_item_count"] == 0 and o["grand_total"] is None and o["gift_message_id"] is None
                         for o in order.values())
    stock = latest(run, "cataloginventory_stock_item").values()
    assert all(s["use_config_min_qty"] == 1 and s["min_sale_qty"] == 1 and s["manage_stock"] == 0 for s in stock)
    quotes = latest(run, "quote").values()
    assert all(q["is_virtual"] == 0 and q["customer_note_notify"] == 1 and q["trigger_recollect"] == 0 for q in quotes)
    attributes = latest(run, "eav_attribute").values()
    assert all(a["is_user_defined"] == 0 and a["backend_model"] is None for a in attributes)
    customers = latest(run, "customer_entity").values()
    assert all(c["disable_auto_group_change"] == 0 and c["failures_num"] == 0 for c in customers)


def test_same_seed_gives_the_same_warehouse(warehouse: Path, tmp_path: Path) -> None:
    again = simulate(seed=7, batches=2)
    db = tmp_path / "again.duckdb"
    with duckdb.connect(str(db)) as con:
        for batch in again:
            write_batch(con, batch)
        con.execute(f"attach '{warehouse}' as first (read_only)")
        for table in TABLES:
            differences = con.execute(
                f"select count(*) from ((select * from streamkap.{table} except all select * from first.streamkap.{table})"
                f" union all (select * from first.streamkap.{table} except all select * from streamkap.{table}))"
            ).fetchone()
            assert differences == (0,), table
