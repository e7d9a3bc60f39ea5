"""The Magento CDC simulator's own guarantees: deterministic, coherent Magento data,
and the Streamkap realities (redelivery, late events, key changes, deletes) the
current-state models must absorb."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from magento_warehouse.demo.simulator.schema import STREAMKAP_COLUMNS, TABLES
from magento_warehouse.demo.simulator.simulator import (
    PRODUCT_ATTRIBUTE_IDS,
    PRODUCT_ENTITY_TYPE_ID,
    Batch,
    MagentoSimulator,
    default_start,
    write_batch,
)
from magento_warehouse.demo import simulate_cdc

START = datetime(2024, 3, 1, 9, 0)
START_MS = int((START - datetime(1970, 1, 1)).total_seconds() * 1000)
BATCHES = 8
TEN_MINUTES_MS = 10 * 60_000


def simulate(seed: int, batches: int = BATCHES) -> list[Batch]:
    simulator = MagentoSimulator(seed=seed, start=START)
    return [simulator.initial_load(), *(simulator.next_batch() for _ in range(batches))]


def events(batches: list[Batch], table: str) -> list[dict[str, Any]]:
    """The table's landing rows as dicts, with the number of the batch that wrote them."""
    names = TABLES[table].column_names + [name for name, _ in STREAMKAP_COLUMNS]
    return [{**dict(zip(names, row)), "batch": batch.number} for batch in batches for row in batch.rows[table]]


def latest(batches: list[Batch], table: str, before_ms: int | None = None) -> dict[Any, dict[str, Any]]:
    """The table's rows as of `before_ms` (default: all events): the last event of
    each key by commit time, then offset, unless it is a delete."""
    key = TABLES[table].primary_key
    state: dict[Any, dict[str, Any]] = {}
    for event in sorted(events(batches, table), key=lambda e: (e["_streamkap_source_ts_ms"], e["_streamkap_offset"])):
        if before_ms is None or event["_streamkap_source_ts_ms"] < before_ms:
            state[event[key]] = event
    return {k: e for k, e in state.items() if e["__deleted"] == "false"}


def settled(batches: list[Batch]) -> int:
    """Commit time before which every event has been delivered: the start of the
    last batch's window (that batch's own late and in-flight events arrive later)."""
    return int((batches[-1].start - datetime(1970, 1, 1)).total_seconds() * 1000)


def magento_values(event: dict[str, Any], table: str) -> tuple[Any, ...]:
    return tuple(event[name] for name in TABLES[table].column_names)


@pytest.fixture(scope="module")
def run() -> list[Batch]:
    return simulate(seed=7)


def test_same_seed_gives_identical_batches(run: list[Batch]) -> None:
    assert simulate(seed=7, batches=3) == run[:4]


def test_different_seed_gives_different_batches(run: list[Batch]) -> None:
    other = simulate(seed=8, batches=1)
    assert other[0].rows != run[0].rows
    assert other[1].rows != run[1].rows


def test_batch_counts_events_per_table(run: list[Batch]) -> None:
    batch = run[1]
    assert batch.counts == {name: len(rows) for name, rows in batch.rows.items()}
    assert batch.events == sum(batch.counts.values()) > 0
    assert set(batch.counts) == set(TABLES)


def test_default_scale_volumes(run: list[Batch]) -> None:
    assert 3_000 <= run[0].events <= 30_000
    assert all(200 <= batch.events <= 1_500 for batch in run[1:])


def test_size_grows_the_shop_not_its_changes(run: list[Batch]) -> None:
    """Ten times the size, same activity: about ten times the snapshot, new batches of the same order."""
    bigger = MagentoSimulator(seed=7, start=START, size=10, activity=1)
    snapshot = bigger.initial_load()
    batches = [bigger.next_batch() for _ in range(3)]
    assert 8 * run[0].events <= snapshot.events <= 12 * run[0].events
    for table in ("customer_entity", "catalog_product_entity", "sales_order"):
        assert 8 * run[0].counts[table] <= snapshot.counts[table] <= 12 * run[0].counts[table], table
    small, large = sum(b.events for b in run[1:4]), sum(b.events for b in batches)
    assert 0.7 * small <= large <= 1.3 * small


def test_activity_grows_the_changes_not_the_shop(run: list[Batch]) -> None:
    busier = MagentoSimulator(seed=7, start=START, size=1, activity=3)
    snapshot = busier.initial_load()
    batch = busier.next_batch()
    assert busier.size == 1 and busier.activity == 3
    assert snapshot.counts["catalog_product_entity"] == run[0].counts["catalog_product_entity"]
    # Sign-ups during the warm-up add to the seeded customers.
    assert snapshot.counts["customer_entity"] <= 1.3 * run[0].counts["customer_entity"]
    assert 2 * run[1].events <= batch.events <= 4 * run[1].events


def test_scale_sets_size_and_activity() -> None:
    both = MagentoSimulator(seed=7, start=START, scale=0.5)
    assert (both.size, both.activity) == (0.5, 0.5)
    assert MagentoSimulator(seed=7, start=START, scale=0.5, size=2).size == 2
    assert simulate_cdc.parse_args(["--size", "10", "--activity", "2"]).size == 10
    with pytest.raises(ValueError, match="activity must be positive"):
        MagentoSimulator(activity=0)


def test_every_table_gets_events(run: list[Batch]) -> None:
    assert all(sum(batch.counts[name] for batch in run) > 0 for name in TABLES)
    changing = [name for name in TABLES if name not in ("store_website", "store", "customer_group", "eav_attribute")]
    assert all(sum(batch.counts[name] for batch in run[1:]) > 0 for name in changing)


def test_snapshot_holds_reference_data_and_only_creates(run: list[Batch]) -> None:
    snapshot = run[0]
    assert {e["website_id"] for e in events([snapshot], "store_website")} >= {0, 1, 2}
    stores = {e["store_id"] for e in events([snapshot], "store")}
    assert 0 in stores and 2 <= len(stores - {0}) <= 3
    groups = {e["customer_group_id"]: e["customer_group_code"] for e in events([snapshot], "customer_group")}
    assert groups == {0: "NOT LOGGED IN", 1: "General", 2: "Wholesale", 3: "Retailer"}
    for name in TABLES:
        assert all(row[-1] == "false" and row[-3] < START_MS for row in snapshot.rows[name])


def test_product_attributes_have_install_specific_ids(run: list[Batch]) -> None:
    attributes = {(e["entity_type_id"], e["attribute_code"]): e["attribute_id"] for e in events(run, "eav_attribute")}
    codes = ("name", "price", "status", "visibility")
    product_ids = {code: attributes[(PRODUCT_ENTITY_TYPE_ID, code)] for code in codes}
    assert not set(product_ids.values()) & {1, 2, 3, 4}
    assert not set(attributes.values()) & {1, 2, 3, 4}
    assert product_ids == {code: PRODUCT_ATTRIBUTE_IDS[code] for code in product_ids}
    assert len(attributes) > 4  # unrelated attributes too, e.g. a category `name`
    names = [e for e in events(run, "catalog_product_entity_varchar") if e["attribute_id"] == product_ids["name"]]
    assert {e["store_id"] for e in names} >= {0, 1}
    prices = [e for e in events(run, "catalog_product_entity_decimal") if e["attribute_id"] == product_ids["price"]]
    assert {e["store_id"] for e in prices} >= {0, 1}


def test_redelivered_events_are_exact_copies_processed_later(run: list[Batch]) -> None:
    copies = 0
    for name in TABLES:
        by_offset: dict[int, list[dict[str, Any]]] = {}
        for event in events(run, name):
            by_offset.setdefault(event["_streamkap_offset"], []).append(event)
        for deliveries in by_offset.values():
            first, *again = deliveries
            for copy in again:
                assert magento_values(copy, name) == magento_values(first, name)
                assert copy["_streamkap_source_ts_ms"] == first["_streamkap_source_ts_ms"]
                assert copy["__deleted"] == first["__deleted"]
                assert copy["_streamkap_ts_ms"] > first["_streamkap_ts_ms"]
                assert copy["batch"] > first["batch"]
                copies += 1
    assert copies > 0


def test_late_events_are_older_than_what_was_delivered_but_under_ten_minutes(run: list[Batch]) -> None:
    seen: set[tuple[str, int]] = set()
    newest_delivered = 0
    late = 0
    for batch in run:
        for name, rows in batch.rows.items():
            for row in rows:
                if row[-3] < newest_delivered:
                    late += 1
                    assert newest_delivered - row[-3] < TEN_MINUTES_MS
                    assert (name, row[-2]) not in seen  # a first delivery, not a copy
                seen.add((name, row[-2]))
        assert sum(row[-3] < newest_delivered for rows in batch.rows.values() for row in rows) <= 0.02 * batch.events
        newest_delivered = max(row[-3] for rows in batch.rows.values() for row in rows)
    assert late > 0


def test_streamed_events_carry_commit_and_processing_times(run: list[Batch]) -> None:
    stamped = ("quote", "sales_order", "customer_entity")  # tables whose every save sets updated_at
    for name in TABLES:
        seen = {event["_streamkap_offset"] for event in events(run[:1], name)}  # snapshot redeliveries keep its times
        for event in events(run[1:], name):
            source, ts = event["_streamkap_source_ts_ms"], event["_streamkap_ts_ms"]
            if event["_streamkap_offset"] in seen:
                continue
            seen.add(event["_streamkap_offset"])
            assert source % 1000 == 0  # binlog timestamps have whole seconds
            # Streamkap's latency; commits made while the snapshot ran are streamed once it is done.
            assert 500 <= ts - source < 4_000 or source < START_MS <= ts
            if name in stamped and event["__deleted"] == "false":
                assert event["updated_at"] == datetime(1970, 1, 1) + timedelta(milliseconds=source)


@pytest.mark.parametrize("table", ["sales_order_address", "customer_address_entity"])
def test_primary_key_change_is_a_delete_then_a_create(run: list[Batch], table: str) -> None:
    by_offset = {e["_streamkap_offset"]: e for e in events(run[1:], table)}
    pairs = [
        (old, by_offset[offset + 1]) for offset, old in by_offset.items()
        if old["__deleted"] == "true" and offset + 1 in by_offset
        and by_offset[offset + 1]["__deleted"] == "false"
        and by_offset[offset + 1]["_streamkap_source_ts_ms"] == old["_streamkap_source_ts_ms"]
        and by_offset[offset + 1]["parent_id"] == old["parent_id"]  # same customer / order
    ]
    assert pairs
    for old, new in pairs:
        same = [c for c in TABLES[table].column_names if c not in ("entity_id", "updated_at")]
        assert new["entity_id"] > old["entity_id"]
        assert [old[c] for c in same] == [new[c] for c in same]


def test_customer_deletion_deletes_its_addresses(run: list[Batch]) -> None:
    deleted = [e for e in events(run, "customer_entity") if e["__deleted"] == "true"]
    assert deleted
    address_deletes = [e for e in events(run, "customer_address_entity") if e["__deleted"] == "true"]
    for customer in deleted:
        book = latest(run, "customer_address_entity", before_ms=customer["_streamkap_source_ts_ms"])
        owned = {a for a, address in book.items() if address["parent_id"] == customer["entity_id"]}
        gone = {a["entity_id"] for a in address_deletes
                if a["parent_id"] == customer["entity_id"]
                and a["_streamkap_source_ts_ms"] == customer["_streamkap_source_ts_ms"]}
        assert owned <= gone


def test_cart_cleanup_deletes_inactive_quotes_and_their_items(run: list[Batch]) -> None:
    deleted = [e for e in events(run, "quote")
               if e["__deleted"] == "true" and e["_streamkap_source_ts_ms"] < settled(run)]
    assert deleted and all(quote["is_active"] == 0 for quote in deleted)
    item_deletes = Counter(e["quote_id"] for e in events(run, "quote_item") if e["__deleted"] == "true")
    assert all(item_deletes[quote["entity_id"]] > 0 for quote in deleted)


def test_orders_reference_quotes_and_products(run: list[Batch]) -> None:
    quote_created = {}  # snapshot quotes existed from the start
    for quote in events(run, "quote"):
        quote_created.setdefault(quote["entity_id"], 0 if quote["batch"] == 0 else quote["_streamkap_source_ts_ms"])
    products = {e["entity_id"] for e in events(run, "catalog_product_entity")}
    orders = {}
    for order in events(run, "sales_order"):
        orders.setdefault(order["entity_id"], order)
    streamed = [order for order in orders.values() if order["batch"] > 0]
    assert streamed
    for order in streamed:
        assert quote_created[order["quote_id"]] <= order["_streamkap_source_ts_ms"]
    items = events(run, "sales_order_item")
    item_orders = {item["item_id"]: item["order_id"] for item in items}
    for item in (item for item in items if item["_streamkap_source_ts_ms"] < settled(run)):
        assert item["product_id"] in products
        assert item["order_id"] in orders
        if item["parent_item_id"] is not None:
            assert item_orders[item["parent_item_id"]] == item["order_id"]
    assert any(item["parent_item_id"] is not None and item["product_type"] == "simple" for item in items)


def test_guest_orders_have_no_customer_and_messy_emails(run: list[Batch]) -> None:
    orders = latest(run, "sales_order").values()
    guests = [o for o in orders if o["customer_is_guest"] == 1]
    registered = [o for o in orders if o["customer_is_guest"] == 0]
    assert guests and registered
    assert all(o["customer_id"] is None for o in guests)
    assert all(o["customer_id"] is not None for o in registered)
    assert any(o["customer_email"] != o["customer_email"].strip().lower() for o in guests)
    assert all(o["increment_id"].isdigit() and len(o["increment_id"]) >= 9 for o in orders)


def test_order_amounts_add_up(run: list[Batch]) -> None:
    subtotals: Counter[int] = Counter()
    for item in latest(run, "sales_order_item", before_ms=settled(run)).values():
        if item["parent_item_id"] is None:
            subtotals[item["order_id"]] += item["base_row_total"]
    orders = latest(run, "sales_order", before_ms=settled(run)).values()
    assert orders
    for order in orders:
        assert order["base_discount_amount"] <= 0  # Magento stores order discounts as negative amounts
        assert order["base_grand_total"] == (order["base_subtotal"] + order["base_discount_amount"]
                                             + order["base_shipping_amount"] + order["base_tax_amount"])
        assert order["base_subtotal"] == subtotals[order["entity_id"]]
        assert (order["base_total_refunded"] or 0) <= order["base_grand_total"]


def test_orders_progress_through_magento_states(run: list[Batch]) -> None:
    seen = {(e["state"], e["status"]) for e in events(run, "sales_order")}
    assert {("new", "pending"), ("processing", "processing"), ("complete", "complete"),
            ("canceled", "canceled")} <= seen
    refunded = [o for o in latest(run, "sales_order").values() if (o["base_total_refunded"] or 0) > 0]
    assert refunded
    assert all(o["state"] in ("closed", "complete") for o in refunded)
    assert all((o["state"] == "closed") == (o["base_total_refunded"] == o["base_grand_total"]) for o in refunded)


def test_newsletter_lifecycle(run: list[Batch]) -> None:
    history: dict[int, list[int]] = {}
    for event in events(run, "newsletter_subscriber"):
        history.setdefault(event["subscriber_id"], []).append(event["subscriber_status"])
    assert any(statuses[:1] == [1] and 3 in statuses for statuses in history.values())
    guests = [e for e in events(run, "newsletter_subscriber") if e["customer_id"] == 0]
    assert guests and any(e["subscriber_status"] == 4 for e in guests)


def test_customers_look_like_magento_customers(run: list[Batch]) -> None:
    customers = list(latest(run, "customer_entity", before_ms=settled(run)).values())
    assert {c["gender"] for c in customers} <= {1, 2, 3, None} and None in {c["gender"] for c in customers}
    assert any(c["dob"] is None for c in customers) and any(c["dob"] is not None for c in customers)
    addresses = latest(run, "customer_address_entity", before_ms=settled(run))
    with_address = [c for c in customers if c["default_billing"] is not None]
    assert with_address and all(c["default_billing"] in addresses for c in with_address)


def test_default_start_ends_the_demo_batches_at_the_current_minute() -> None:
    assert default_start(12, 5, now=datetime(2024, 3, 1, 10, 7, 30)) == datetime(2024, 3, 1, 9, 7)


def test_next_batch_needs_the_initial_load() -> None:
    with pytest.raises(RuntimeError):
        MagentoSimulator(start=START).next_batch()


def test_write_batch_round_trips_every_value(run: list[Batch], tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for batch in run[:3]:
            assert write_batch(con, batch) == batch.counts
        for name in TABLES:
            stored = con.execute(f"select * from streamkap.{name}").fetchall()
            assert Counter(stored) == Counter(row for batch in run[:3] for row in batch.rows[name]), name
        nulls = con.execute("select count(*) filter (where dob is null), count(*) filter (where middlename is null),"
                            " count(*) filter (where middlename = '') from streamkap.customer_entity").fetchone()
        assert nulls[0] > 0 and nulls[1] > 0 and nulls[2] == 0
        tricky = con.execute(
            "select count(*) filter (where street like '%' || chr(10) || '%'),"
            " count(*) filter (where company like '%,%' or company like '%\"%')"
            " from streamkap.customer_address_entity").fetchone()
        assert all(count > 0 for count in tricky)


def test_write_batch_keeps_empty_strings_and_appends(tmp_path: Path) -> None:
    names = TABLES["store"].column_names
    row = {name: None for name in names} | {"store_id": 9, "code": "", "name": 'Shop, "B"'}
    batch = Batch(1, START, START, {"store": [tuple(row[n] for n in names) + (START_MS, START_MS, 1, "false")]})
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        write_batch(con, batch, schema="landing")
        write_batch(con, batch, schema="landing")
        stored = con.execute("select code, name, website_id from landing.store").fetchall()
        assert stored == [("", 'Shop, "B"', None)] * 2
        assert con.execute("select count(*) from landing.sales_order").fetchone() == (0,)


def test_cli_writes_then_refuses_to_append_unless_replacing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "nested" / "magento.duckdb"
    arguments = ["--db", str(db), "--batches", "1", "--scale", "0.2", "--start", "2024-03-01T09:00:00"]
    count = "select count(*) from streamkap.sales_order"
    assert simulate_cdc.main(arguments) == 0
    assert "batch 1/1" in capsys.readouterr().out
    with duckdb.connect(str(db), read_only=True) as con:
        first = con.execute(count).fetchone()
    assert simulate_cdc.main(arguments) == 3
    assert "--replace" in capsys.readouterr().err
    assert simulate_cdc.main([*arguments, "--replace"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(count).fetchone() == first != (0,)
