"""The incremental CRM marts equal a from-scratch build after every cycle.

One warehouse (this repository's project on a DuckDB file) receives, per example,
random batches of changes to the tables the CRM marts read (customers with email
changes and deletes, addresses, subscribers, carts and their lines, carts turned into
orders, orders with cancellations and guest orders, order addresses) and advances of
the clock with nothing landed. After every step the current-state models and the five
marts run incrementally (var as_of moves the clock), and each mart is compared, EXCEPT
ALL both ways, with its full-build SQL (compiled once with --full-refresh) on the same
state and as_of. Examples share the warehouse but not their keys or emails, so one
example's rows never enter another's recompute; the clock only moves forward.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
from dbt.cli.main import dbtRunner
from hypothesis import given
from hypothesis import strategies as st

from conftest import REPO, property_settings

from magento_warehouse.demo.simulator.schema import TABLES, new_row

CRM_TABLES = ["customer_entity", "customer_address_entity", "customer_group", "newsletter_subscriber", "quote",
              "quote_item", "sales_order", "sales_order_address", "store"]
MARTS = ["crm_contacts", "crm_customer_order_summary", "crm_newsletter_subscribers", "crm_abandoned_carts",
         "crm_new_customers"]
# The marts' email index, incremental too: compared with its full build like them.
INDEX = "int_crm__email_keys"
COMPARED = {**{mart: "marts/crm" for mart in MARTS}, INDEX: "intermediate"}
PLACEHOLDER_AS_OF = "2000-01-01 00:00:00"
POOL = 3  # keys per entity and example: small, so changes collide on keys and emails

# How far back from as_of a drawn business time lies: around the marts' limits (new
# customers 60 minutes, idle carts 1 hour, carts at most 30 days old).
AGES = st.one_of(st.integers(0, 180).map(lambda m: timedelta(minutes=m)),
                 st.integers(29 * 24, 31 * 24).map(lambda h: timedelta(hours=h)))
# Clock advances with nothing landed: across the same limits.
ADVANCES = st.sampled_from([timedelta(minutes=m) for m in (1, 20, 45, 61, 150, 24 * 60, 3 * 24 * 60)])


@dataclass
class Warehouse:
    """The project on one DuckDB file, its landing tables and its clock."""

    root: Path
    as_of: datetime = datetime(2026, 3, 1, 12, 0, 0)
    ms: itertools.count = field(default_factory=lambda: itertools.count(1_767_000_000_000, 1000), repr=False)
    examples: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)
    full_sql: dict[str, str] = field(default_factory=dict, repr=False)
    # Parsed once: a change of --vars would otherwise re-parse the project on every run.
    manifest: Any = field(default=None, repr=False)

    @property
    def db(self) -> Path:
        return self.root / "warehouse.duckdb"

    def dbt(self, *args: str, expect_success: bool = True) -> Any:
        result = dbtRunner(manifest=self.manifest).invoke([
            *args, "--vars", json.dumps({"as_of": self.as_of.strftime("%Y-%m-%d %H:%M:%S")}),
            "--project-dir", str(REPO), "--profiles-dir", str(REPO), "--target-path", str(self.root / "target"),
            "--log-path", str(self.root / "logs"), "--quiet", "--no-write-json"])
        assert result.success == expect_success, f"dbt {args[0]}: {result.exception or failed_tests(result)}"
        return result

    def land(self, events: list[tuple[str, dict[str, Any], bool]]) -> None:
        """Appends (table, Magento fields, deleted) events, one millisecond apart."""
        with duckdb.connect(str(self.db)) as con:
            for table, fields, deleted in events:
                # Business times are drawn as ages before the current as_of.
                row = new_row(table, {name: self.as_of - value if isinstance(value, timedelta) else value
                                      for name, value in fields.items()})
                ms = next(self.ms)
                values = [*row.values(), ms, ms, ms, "true" if deleted else "false"]
                names = [*row, "_streamkap_source_ts_ms", "_streamkap_ts_ms", "_streamkap_offset", "__deleted"]
                con.execute(f"insert into streamkap.{table} ({', '.join(names)}) "
                            f"values ({', '.join('?' for _ in names)})", values)

    def run_cycle(self, index: bool = True) -> None:
        """The few-minute cycle; without the index, the marts find their emails' rows by email."""
        self.dbt("run", "--select", *(f"base_magento__{t}" for t in CRM_TABLES), *MARTS, *([INDEX] if index else []))

    def differences(self, index: bool = True) -> dict[str, int]:
        """Per mart (and the index), the rows in one of the incremental and the full build but not the other."""
        as_of = self.as_of.strftime("%Y-%m-%d %H:%M:%S")
        found = {}
        with duckdb.connect(str(self.db)) as con:
            for mart in COMPARED if index else MARTS:
                full = self.full_sql[mart].replace(PLACEHOLDER_AS_OF, as_of)
                count = con.execute(f"""
                    select count(*) from (
                        (select * from main.{mart} except all select * from ({full}) as f)
                        union all
                        (select * from ({full}) as f except all select * from main.{mart})
                    ) as d""").fetchone()[0]
                if count:
                    found[mart] = count
        return found


def new_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("crm_incremental")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_DUCKDB_PATH", str(root / "warehouse.duckdb"))
        shop = Warehouse(root)
        with duckdb.connect(str(shop.db)) as con:
            con.execute("create schema streamkap")
            for table in TABLES.values():
                con.execute(table.ddl("streamkap"))
        # Two websites with a store view each (store 0 is the admin scope); four groups.
        shop.land([("store_website", {"website_id": w, "code": f"w{w}"}, False) for w in (0, 1, 2)]
                  + [("store", {"store_id": s, "website_id": s, "code": f"s{s}"}, False) for s in (0, 1, 2)]
                  + [("customer_group", {"customer_group_id": g, "customer_group_code": f"group {g}"}, False)
                     for g in (0, 1, 2, 3)])
        shop.manifest = shop.dbt("parse").result
        shop.dbt("seed")
        shop.dbt("run", "--select", *(f"+{mart}" for mart in COMPARED))
        saved, shop.as_of = shop.as_of, datetime.fromisoformat(PLACEHOLDER_AS_OF)
        shop.dbt("compile", "--full-refresh", "--select", *COMPARED)
        shop.as_of = saved
        compiled = shop.root / "target/compiled/magento_warehouse/models"
        shop.full_sql = {name: (compiled / folder / f"{name}.sql").read_text() for name, folder in COMPARED.items()}
        yield shop


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The fixed cases' warehouse."""
    yield from new_warehouse(tmp_path_factory)


@pytest.fixture(scope="module")
def property_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The property's own warehouse: a failing example leaves its marts apart from a full build."""
    yield from new_warehouse(tmp_path_factory)


@st.composite
def steps(draw: st.DrawFn, example: int) -> list[Any]:
    """Batches of changes (lists of (table, fields, deleted)) and clock advances."""
    def key(i: int) -> int:
        return example * 10 + i

    ids = st.integers(1, POOL).map(key)
    emails = st.sampled_from([f"a{example}@shop.test", f"b{example}@shop.test", f" A{example}@Shop.TEST ", None])
    stores = st.sampled_from([1, 2])

    def change(kind: str) -> tuple[str, dict[str, Any], bool]:
        when = draw(AGES)  # an age: landing turns it into as_of minus the age
        deleted = draw(st.booleans()) and draw(st.booleans())  # a quarter of changes delete
        if kind == "customer":
            store = draw(stores)
            return ("customer_entity", {
                "entity_id": draw(ids), "email": draw(emails), "website_id": store, "store_id": store,
                "group_id": draw(st.sampled_from([1, 2])), "firstname": draw(st.sampled_from(["Ann", "Bo"])),
                "default_billing": draw(st.one_of(st.none(), ids)), "created_at": when, "updated_at": when}, deleted)
        if kind == "address":
            return ("customer_address_entity", {
                "entity_id": draw(ids), "parent_id": draw(ids),
                "country_id": draw(st.sampled_from(["DE", "fr"]))}, deleted)
        if kind == "subscriber":
            return ("newsletter_subscriber", {
                "subscriber_id": draw(ids), "store_id": draw(stores), "subscriber_email": draw(emails),
                "customer_id": draw(st.one_of(st.just(0), ids)), "subscriber_status": draw(st.sampled_from([1, 3])),
                "change_status_at": when}, deleted)
        if kind == "quote":
            return ("quote", {
                "entity_id": draw(ids), "store_id": draw(stores), "customer_email": draw(emails),
                "customer_id": draw(st.one_of(st.none(), ids)), "is_active": draw(st.sampled_from([0, 1, 1])),
                "items_count": draw(st.sampled_from([0, 1, 2])), "items_qty": 2, "base_subtotal": 10,
                "base_currency_code": "EUR", "created_at": when + timedelta(hours=1),
                "updated_at": draw(st.sampled_from([when, None]))}, deleted)
        if kind == "quote_item":
            return ("quote_item", {
                "item_id": draw(ids), "quote_id": draw(ids), "sku": draw(st.sampled_from(["S1", "S2"])),
                "name": "Shirt", "qty": draw(st.sampled_from([1, 1.5]))}, deleted)
        if kind == "order":
            return ("sales_order", {
                "entity_id": draw(ids), "store_id": draw(stores), "customer_email": draw(emails),
                "customer_id": draw(st.one_of(st.none(), ids)), "quote_id": draw(st.one_of(st.none(), ids)),
                "state": draw(st.sampled_from(["new", "canceled", "complete"])), "base_grand_total": 20,
                "base_total_refunded": draw(st.sampled_from([None, 5])), "customer_firstname": "Cy",
                "customer_group_id": 0, "created_at": when}, deleted)
        return ("sales_order_address", {
            "entity_id": draw(ids), "parent_id": draw(ids),
            "address_type": draw(st.sampled_from(["billing", "shipping"])),
            "country_id": draw(st.sampled_from(["IT", "NL"]))}, deleted)

    kinds = st.sampled_from(["customer", "address", "subscriber", "quote", "quote_item", "order", "order_address"])
    plan = []
    for number in range(draw(st.integers(1, 3))):
        if number and draw(st.booleans()):
            plan.append(draw(ADVANCES))
        else:
            plan.append([change(draw(kinds)) for _ in range(draw(st.integers(1, 6)))])
    return plan


@property_settings()
@given(data=st.data())
def test_incremental_marts_equal_a_full_build_after_every_cycle(property_warehouse: Warehouse,
                                                                data: st.DataObject) -> None:
    warehouse = property_warehouse
    example = next(warehouse.examples)
    plan = data.draw(steps(example))
    for number, step in enumerate(plan):
        warehouse.as_of += timedelta(minutes=5)
        if isinstance(step, timedelta):
            warehouse.as_of += step
        else:
            warehouse.land(step)
        warehouse.run_cycle()
        differences = warehouse.differences()
        assert not differences, f"step {number} ({step}) of example {example} at {warehouse.as_of}: {differences}"


def rebuilt(warehouse: Warehouse) -> dict[str, bool]:
    """Per mart, whether its last run rebuilt in full (its pending mark says so)."""
    with duckdb.connect(str(warehouse.db)) as con:
        return dict(con.execute("select consumer, pending_rebuild from main.cdc_consumer_marks").fetchall())


def recomputed(warehouse: Warehouse, mart: str) -> int:
    with duckdb.connect(str(warehouse.db)) as con:
        return con.execute(f"select count(*) from main.{mart}__recompute").fetchone()[0]


def test_a_cycle_with_nothing_new_recomputes_nothing(warehouse: Warehouse) -> None:
    warehouse.run_cycle()
    warehouse.run_cycle()
    assert rebuilt(warehouse) == dict.fromkeys(COMPARED, False)
    assert {mart: recomputed(warehouse, mart) for mart in COMPARED} == dict.fromkeys(COMPARED, 0)
    compiled = warehouse.root / "target/compiled/magento_warehouse/models/marts/crm"
    # The inputs are filtered by a constant false, which DuckDB answers without a scan.
    assert all("where 1 = 0" in (compiled / f"{mart}.sql").read_text() for mart in MARTS)
    assert not warehouse.differences()


def test_a_rebuilt_current_state_makes_its_readers_rebuild(warehouse: Warehouse) -> None:
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([("sales_order", {"entity_id": 9_999_001, "store_id": 1, "customer_email": "rebuild@shop.test",
                                     "state": "new", "base_grand_total": 7, "created_at": timedelta(minutes=3)},
                     False)])
    warehouse.dbt("run", "--full-refresh", "--select", "base_magento__sales_order")
    warehouse.run_cycle()
    # The marts reading sales_order rebuild; the others recompute from their feeds.
    assert rebuilt(warehouse) == {"crm_contacts": True, "crm_customer_order_summary": True,
                                  "crm_abandoned_carts": True, "crm_newsletter_subscribers": False,
                                  "crm_new_customers": False, INDEX: True}
    assert not warehouse.differences()


def test_a_mark_older_than_the_retention_rebuilds(warehouse: Warehouse) -> None:
    warehouse.run_cycle()
    with duckdb.connect(str(warehouse.db)) as con:
        con.execute("update main.cdc_consumer_marks set read_through = read_through - interval 73 hour "
                    "where consumer = 'crm_new_customers'")
    warehouse.run_cycle()
    assert rebuilt(warehouse)["crm_new_customers"] is True
    assert rebuilt(warehouse)["crm_contacts"] is False
    assert not warehouse.differences()


def test_an_email_change_removes_the_old_email(warehouse: Warehouse) -> None:
    customer = {"entity_id": 9_999_101, "website_id": 1, "store_id": 1, "group_id": 1, "created_at": timedelta(0)}
    for email in ("old@shop.test", "new@shop.test"):
        warehouse.as_of += timedelta(minutes=5)
        warehouse.land([("customer_entity", {**customer, "email": email}, False)])
        warehouse.run_cycle()
        assert not warehouse.differences()
    with duckdb.connect(str(warehouse.db)) as con:
        rows = con.execute("select email from main.crm_contacts where customer_id = 9999101").fetchall()
        emails = {row[0] for row in rows}
    # Only the before image names the old email: without it the old row would stay.
    assert emails == {"new@shop.test"}


def test_a_changed_default_billing_address_updates_every_customer_naming_it(warehouse: Warehouse) -> None:
    """The mart joins a customer's default billing address by its id alone, so a change to an
    address owned by another customer (or by none) still reaches the customer naming it."""
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([
        ("customer_entity", {"entity_id": 9_999_201, "email": "owner@shop.test", "website_id": 1, "store_id": 1,
                             "group_id": 1, "created_at": timedelta(days=2)}, False),
        ("customer_entity", {"entity_id": 9_999_202, "email": "namer@shop.test", "website_id": 1, "store_id": 1,
                             "group_id": 1, "default_billing": 9_999_211, "created_at": timedelta(days=2)}, False),
        ("customer_address_entity", {"entity_id": 9_999_211, "parent_id": 9_999_201, "country_id": "DE"}, False)])
    warehouse.run_cycle()
    assert not warehouse.differences()
    for country in ("FR", None):
        warehouse.as_of += timedelta(minutes=5)
        warehouse.land([("customer_address_entity", {"entity_id": 9_999_211, "parent_id": 9_999_201,
                                                     "country_id": country or "FR"}, country is None)])
        warehouse.run_cycle()
        assert not warehouse.differences(), f"after the address became {country or 'deleted'}"
        with duckdb.connect(str(warehouse.db)) as con:
            (found,) = con.execute("select country_code from main.crm_contacts where customer_id = 9999202").fetchone()
        assert found == country


def mark(warehouse: Warehouse, mart: str) -> Any:
    with duckdb.connect(str(warehouse.db)) as con:
        return con.execute("select read_through from main.cdc_consumer_marks where consumer = ?", [mart]).fetchone()[0]


def failed_tests(result: Any) -> set[str]:
    return {r.node.name for r in result.result if r.node.resource_type == "test" and r.status in ("fail", "error")}


def test_a_cycle_tests_the_rows_it_recomputed_and_a_test_run_tests_all(warehouse: Warehouse) -> None:
    """A row the cycle did not recompute is not read by the cycle's tests; `dbt test` reads it."""
    warehouse.as_of += timedelta(minutes=5)
    warehouse.run_cycle()
    with duckdb.connect(str(warehouse.db)) as con:
        # A row with no website, written as if by an earlier run: outside any unit of the next cycle.
        con.execute("insert into main.crm_new_customers (customer_id, email, website_id, registered_at) "
                    "values (9999301, 'unseen@shop.test', null, timestamp '2026-01-01')")
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([("customer_entity", {"entity_id": 9_999_302, "email": "seen@shop.test", "website_id": 1,
                                         "store_id": 1, "group_id": 1, "created_at": timedelta(minutes=1)}, False)])
    warehouse.dbt("run", "--select", *(f"base_magento__{t}" for t in CRM_TABLES))
    warehouse.dbt("build", "--select", "crm_new_customers", "--exclude", "test_type:unit")
    assert recomputed(warehouse, "crm_new_customers") >= 1
    result = warehouse.dbt("test", "--select", "crm_new_customers", "--exclude", "test_type:unit",
                           expect_success=False)
    assert "not_null_crm_new_customers_website_id" in failed_tests(result)
    # A rebuild reads every row too.
    warehouse.dbt("build", "--full-refresh", "--select", "crm_new_customers", "--exclude", "test_type:unit")
    with duckdb.connect(str(warehouse.db)) as con:
        assert con.execute("select count(*) from main.crm_new_customers where customer_id = 9999301").fetchone()[0] == 0


def test_a_failed_test_holds_the_mark_back_until_its_rows_pass(warehouse: Warehouse) -> None:
    """Rows that fail a test are recomputed and tested again by every run until they pass."""
    twins = [{"entity_id": 9_999_401 + i, "email": email, "website_id": 1, "store_id": 1, "group_id": 1,
              "created_at": timedelta(minutes=2)} for i, email in enumerate(["twin@shop.test", " Twin@Shop.test"])]
    warehouse.as_of += timedelta(minutes=5)
    warehouse.run_cycle()
    held = mark(warehouse, "crm_new_customers")
    warehouse.land([("customer_entity", twin, False) for twin in twins])
    for _ in range(2):
        warehouse.dbt("run", "--select", *(f"base_magento__{t}" for t in CRM_TABLES))
        result = warehouse.dbt("build", "--select", "crm_new_customers", "--exclude", "test_type:unit",
                               expect_success=False)
        assert any(name.startswith("emarsys_sync_key_crm_new_customers") for name in failed_tests(result))
        assert mark(warehouse, "crm_new_customers") == held
        warehouse.as_of += timedelta(minutes=1)
    warehouse.land([("customer_entity", {**twins[1], "email": "twin.2@shop.test"}, False)])
    warehouse.dbt("run", "--select", *(f"base_magento__{t}" for t in CRM_TABLES))
    warehouse.dbt("build", "--select", "crm_new_customers", "--exclude", "test_type:unit")
    assert mark(warehouse, "crm_new_customers") > held
    warehouse.run_cycle()
    assert not warehouse.differences()


def test_marts_run_without_their_index_find_the_rows_by_email(warehouse: Warehouse) -> None:
    """Run without int_crm__email_keys (stale then), the marts read their emails' rows by email,
    and equal a full build; the index catches up on its next run."""
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([("customer_entity", {"entity_id": 9_999_501, "email": "alone@shop.test", "website_id": 1,
                                         "store_id": 1, "group_id": 1, "created_at": timedelta(days=1)}, False),
                    ("sales_order", {"entity_id": 9_999_511, "store_id": 1, "customer_email": " Alone@Shop.test",
                                     "customer_id": 9_999_501, "state": "new", "base_grand_total": 9,
                                     "created_at": timedelta(minutes=3)}, False)])
    warehouse.run_cycle(index=False)
    compiled = warehouse.root / "target/compiled/magento_warehouse/models/marts/crm/crm_contacts.sql"
    lookup = f"select key_id from \"warehouse\".\"main\".\"{INDEX}\""
    assert lookup not in compiled.read_text()
    assert not warehouse.differences(index=False)
    with duckdb.connect(str(warehouse.db)) as con:
        assert con.execute("select count(*) from main.crm_customer_order_summary "
                           "where email = 'alone@shop.test'").fetchone()[0] == 1
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([("sales_order", {"entity_id": 9_999_512, "store_id": 1, "customer_email": "alone@shop.test",
                                     "customer_id": 9_999_501, "state": "new", "base_grand_total": 4,
                                     "created_at": timedelta(minutes=1)}, False)])
    warehouse.run_cycle()
    assert lookup in compiled.read_text()
    assert not warehouse.differences()
    # A change outside the index's tables leaves it current: the marts use it without running it.
    cart = {"entity_id": 9_999_521, "store_id": 1, "customer_email": "cart@shop.test", "customer_id": None,
            "is_active": 1, "items_count": 1, "items_qty": 1, "base_subtotal": 10, "base_currency_code": "EUR",
            "created_at": timedelta(hours=3), "updated_at": timedelta(hours=2)}
    line = {"item_id": 9_999_531, "quote_id": 9_999_521, "sku": "S1", "name": "Shirt", "qty": 1}
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([("quote", cart, False), ("quote_item", line, False)])
    warehouse.run_cycle()
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([("quote_item", {**line, "qty": 2}, False)])
    warehouse.run_cycle(index=False)
    carts = warehouse.root / "target/compiled/magento_warehouse/models/marts/crm/crm_abandoned_carts.sql"
    assert lookup in carts.read_text()
    assert not warehouse.differences()
    with duckdb.connect(str(warehouse.db)) as con:
        assert con.execute("select count(*) from main.crm_abandoned_carts where quote_id = 9999521").fetchone()[0] == 1


def test_a_rebuild_that_failed_a_test_rebuilds_again(warehouse: Warehouse) -> None:
    """After a rebuild whose tests failed, the next run rebuilds and tests every row again,
    rather than testing only its units and syncing the failing rows unseen."""
    twins = [{"entity_id": 9_999_601 + i, "email": email, "website_id": 1, "store_id": 1, "group_id": 1,
              "created_at": timedelta(minutes=2)} for i, email in enumerate(["pair@shop.test", " Pair@Shop.test"])]
    warehouse.as_of += timedelta(minutes=5)
    warehouse.land([("customer_entity", twin, False) for twin in twins])
    warehouse.dbt("run", "--select", *(f"base_magento__{t}" for t in CRM_TABLES))
    warehouse.dbt("build", "--full-refresh", "--select", "crm_new_customers", "--exclude", "test_type:unit",
                  expect_success=False)
    warehouse.as_of += timedelta(minutes=1)
    result = warehouse.dbt("build", "--select", "crm_new_customers", "--exclude", "test_type:unit",
                           expect_success=False)
    assert rebuilt(warehouse)["crm_new_customers"] is True
    assert any(name.startswith("emarsys_sync_key_crm_new_customers") for name in failed_tests(result))
    warehouse.land([("customer_entity", {**twins[1], "email": "pair.2@shop.test"}, False)])
    warehouse.dbt("run", "--select", *(f"base_magento__{t}" for t in CRM_TABLES))
    warehouse.dbt("build", "--select", "crm_new_customers", "--exclude", "test_type:unit")
    warehouse.dbt("build", "--select", "crm_new_customers", "--exclude", "test_type:unit")
    assert rebuilt(warehouse)["crm_new_customers"] is False
    warehouse.run_cycle()
    assert not warehouse.differences()


def test_the_marts_and_their_tests_compile_before_any_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dbt compile` runs no hook: on a warehouse never built, with no marks table, the marts'
    tests compile to read every row."""
    db = tmp_path / "new.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema streamkap")
        for table in TABLES.values():
            con.execute(table.ddl("streamkap"))
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(db))
    result = dbtRunner().invoke(["compile", "--select", *(f"{name}+" for name in COMPARED), "--exclude",
                                 "test_type:unit", "--project-dir", str(REPO), "--profiles-dir", str(REPO),
                                 "--target-path", str(tmp_path / "target"), "--quiet"])
    assert result.success, result.exception
    compiled = tmp_path / "target/compiled/magento_warehouse/models/marts/crm/_crm__models.yml"
    tests = [path.read_text() for path in compiled.rglob("*.sql")]
    assert tests and not any("recompute_value" in sql for sql in tests)
