"""Rows the few-minute jobs read follow the new events, not the history nor the shop's size.

Warehouses hold a simulated shop and receive a new micro-batch; one cycle of the CRM
job (run_and_sync --selector crm_realtime --only-changed) and then a run of the
history models run on each, with dbt's JSON debug log capturing every statement they
send. Each statement is then replayed, in order, on a copy of the warehouse taken
just before, with DuckDB's profiler on (magento_warehouse.devtools.statement_replay).

  * History: two warehouses hold the same shop and batch, but the Streamkap change
    logs of one hold ten times the history of the other. The CRM cycle over the
    longer history must read at most 1.2 times the landing rows (rows scanned from
    the change logs), and far fewer rows than the history holds.
  * Shop size: a shop ten times larger, with the same change rate, must cost the CRM
    cycle at most 1.3 times the rows read (the change logs' rows within the scans'
    bounds on ingestion time, plus the rows selected from the current-state, history,
    intermediate and CRM mart tables: docs/benchmarks/scale.md).
  * History length: the history models' run over ten times the history must read at
    most 1.2 times the rows.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from conftest import LANDING_SCHEMA

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.demo.simulator.simulator import MagentoSimulator
from magento_warehouse.devtools.cost_warehouse import (
    CRM_UPSTREAM,
    HISTORY_MODELS,
    build_warehouse,
    crm_cycle,
    history_run,
    layout_faults,
    write_snapshot,
)
from magento_warehouse.devtools.statement_replay import (
    Measure,
    Measured,
    Statement,
    breakdown,
    landing_rows,
    replay,
    rows_read,
    total,
)

pytestmark = pytest.mark.slow

# Old events landed in each CRM change log (and each history model's) of the
# short-history warehouse (about 125,000 in all); the long-history warehouse holds ten
# times the landing rows of each of these change logs.
SHORT_HISTORY = {
    "sales_order": 30_000, "quote": 30_000, "customer_entity": 30_000,
    "quote_item": 5_000, "sales_order_address": 5_000, "customer_address_entity": 5_000,
    "newsletter_subscriber": 5_000, "customer_group": 5_000, "store": 5_000,
    "cataloginventory_stock_item": 5_000,
}
HISTORY_FACTOR = 10
MAX_RATIO = 1.2
SIZE_FACTOR = 10
MAX_SIZE_RATIO = 1.3
MAX_HISTORY_RUN_RATIO = 1.2
BUILT = f"{CRM_UPSTREAM} {HISTORY_MODELS}"
# Batches streamed before the measured one: an hour, past the 15-minute lookback and the
# two margins before it that a run reads for redeliveries (45 minutes in all), so the
# measured runs no longer reach the snapshot (the steady state).
STREAMED_BATCHES = 12


def ratio(small: list[Measured], large: list[Measured], measure: Measure = landing_rows) -> float:
    """Rows the run read on the larger warehouse, per row read on the smaller one."""
    return total(large, measure) / max(1, total(small, measure))


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The warehouses, and for each, its replica as the replayed runs left it, and the measures of
    its CRM cycle and of its history run.

    short, long: the small shop and one new batch, after the short and the long history.
    small, large: the small shop and the one ten times larger, streamed for an hour before the
    new batch, without old events (the rows they read from change logs are those within
    the runs' bounds, whatever the layout).
    """
    work = tmp_path_factory.mktemp("cycle_cost")
    shops = {"small": MagentoSimulator(seed=11), "large": MagentoSimulator(seed=11, size=SIZE_FACTOR, activity=1)}
    initial = {name: shop.initial_load() for name, shop in shops.items()}
    snapshots = {name: write_snapshot(work / f"snapshot_{name}.duckdb", batch) for name, batch in initial.items()}
    streamed = {name: [shop.next_batch() for _ in range(STREAMED_BATCHES)] for name, shop in shops.items()}
    first_batch = streamed["small"][0]
    new_events = {name: shop.next_batch() for name, shop in shops.items()}
    with duckdb.connect(str(snapshots["small"]), read_only=True) as con:
        landed = {t: con.execute(f"select count(*) from {LANDING_SCHEMA}.{t}").fetchone()[0] for t in SHORT_HISTORY}
    # Ten times the landing rows of each change log, snapshot included.
    long_history = {t: HISTORY_FACTOR * (landed[t] + rows) - landed[t] for t, rows in SHORT_HISTORY.items()}
    # name: (shop, old events per change log, models built, batches streamed before the new one, the new one)
    plan = {"short": ("small", SHORT_HISTORY, BUILT, [], first_batch),
            "long": ("small", long_history, BUILT, [], first_batch),
            "small": ("small", {}, CRM_UPSTREAM, streamed["small"], new_events["small"]),
            "large": ("large", {}, CRM_UPSTREAM, streamed["large"], new_events["large"])}

    result: dict[str, Any] = {"warehouses": {}}
    with HightouchStub() as stub:
        for name, (shop, history, built, before, batch) in plan.items():
            warehouse = build_warehouse(work / name, snapshots[shop], initial[shop], history, built, before)
            warehouse.land(batch)
            replica = warehouse.replica("before_cycle")
            faults = layout_faults(warehouse, replica)
            assert not faults, f"the history shares row groups with recent events: {faults}"
            cycle = replay(replica, crm_cycle(warehouse, stub.url)[0])
            # The replica now holds the state the cycle left, as the warehouse does.
            history_measures = replay(replica, history_run(warehouse)[0]) if built == BUILT else []
            result["warehouses"][name] = warehouse
            result[name] = (replica, cycle, history_measures)
    return result


def test_landing_rows_read_per_cycle_follow_new_events_not_history(cycles) -> None:
    short, long = cycles["warehouses"]["short"], cycles["warehouses"]["long"]
    (_, a, _), (_, b, _) = cycles["short"], cycles["long"]
    report = breakdown({"short": a, "long": b}, landing_rows, "rows read from landing tables")
    print(f"\nlanding rows read by one CRM cycle, history of {short.history_rows} vs {long.history_rows} rows:\n"
          f"{report}\nratio {ratio(a, b):.2f}")
    assert total(a, landing_rows) > 0, f"the cycle read no landing row: the new events were not applied\n{report}"
    assert ratio(a, b) <= MAX_RATIO, f"ten times the history made the cycle read {ratio(a, b):.2f}x the rows\n{report}"
    # Far below the history: under a twentieth of the rows the long history holds.
    assert total(b, landing_rows) < 0.05 * long.history_rows, f"the cycle reads whole change logs\n{report}"


def test_the_measure_catches_a_full_scan(cycles) -> None:
    """A statement reading a whole change log counts all its rows, and added to both cycles, breaks the ratio."""
    table = f"{LANDING_SCHEMA}.sales_order"
    full_scan = Statement(f"select count(distinct entity_id) from {table} where _streamkap_ts_ms >= 0", "")
    scans, cycles_with_scan = [], []
    for name in ("short", "long"):
        replica, cycle, _ = cycles[name]
        # The replica holds the state its replayed runs left: the scan runs as the last statement.
        scan = replay(replica, [full_scan])
        with duckdb.connect(str(replica)) as con:
            (landed,) = con.execute(f"select count(*) from {table}").fetchone()
        assert total(scan, landing_rows) == landed, f"a scan of all of {table} read {total(scan, landing_rows)} rows"
        scans.append(scan)
        cycles_with_scan.append([*cycle, *scan])
    assert ratio(*scans) > 0.9 * HISTORY_FACTOR, breakdown(dict(zip(("short", "long"), scans)), landing_rows, "")
    assert ratio(*cycles_with_scan) > MAX_RATIO


def test_rows_read_per_cycle_follow_new_events_not_shop_size(cycles) -> None:
    (_, small, _), (_, large, _) = cycles["small"], cycles["large"]
    report = breakdown({"1x": small, f"{SIZE_FACTOR}x": large}, rows_read, "rows read")
    measured = ratio(small, large, rows_read)
    print(f"\nrows read by one CRM cycle, shop of size 1 vs {SIZE_FACTOR}:\n{report}\nratio {measured:.2f}")
    assert total(small, rows_read) > 0, report
    assert measured <= MAX_SIZE_RATIO, f"a shop {SIZE_FACTOR} times larger made the cycle read {measured:.2f}x\n{report}"


def test_rows_read_per_history_run_follow_new_events_not_history(cycles) -> None:
    (_, _, short), (_, _, long) = cycles["short"], cycles["long"]
    report = breakdown({"short": short, "long": long}, rows_read, "rows read")
    measured = ratio(short, long, rows_read)
    print(f"\nrows read by one run of the history models, {HISTORY_FACTOR} times the history:\n{report}\n"
          f"ratio {measured:.2f}")
    assert total(short, rows_read) > 0, report
    assert measured <= MAX_HISTORY_RUN_RATIO, (f"{HISTORY_FACTOR} times the history made the history run read "
                                               f"{measured:.2f}x the rows\n{report}")
