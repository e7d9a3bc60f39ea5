"""Benchmark: what the few-minute runs cost against the shop's size and the history's length.

CRM cycle: two simulated shops, one ten times the other's size (customers, products,
orders, carts) with the same change rate, each streamed past the lookback, built once,
then given new batches of the same size; each batch is followed by one cycle of the
CRM job (run_and_sync --selector crm_realtime --only-changed).

History run: one shop whose change logs hold a history of old events, and the same
shop with ten times the landing rows in those change logs, both built after the
snapshot; each new batch is followed by a run of the history models (the trading
job's history part).

Each first measured run's statements are replayed on a copy of the warehouse taken
just before it, with DuckDB's profiler on (`statement_replay`): rows read are rows
scanned from the change logs plus rows selected from the current-state, history and
CRM mart tables (docs/benchmarks/scale.md). Seconds are the median over the runs.
The last line reads `scale 10x: crm cycle rows read X.XX, history run rows read Y.YY`,
the 10x figures over the 1x ones.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.demo.simulator.simulator import MagentoSimulator
from magento_warehouse.devtools.cost_warehouse import (
    CRM_UPSTREAM,
    HISTORY_MODELS,
    Warehouse,
    build_warehouse,
    crm_cycle,
    history_run,
    layout_faults,
    write_snapshot,
)
from magento_warehouse.devtools.statement_replay import LANDING_SCHEMA, Measured, Statement, breakdown, replay, rows_read, total

FACTOR = 10
# An hour streamed before the measured batches: past the 15-minute lookback and the two
# margins before it read for redeliveries (45 minutes), so the runs no longer reach the snapshot.
STREAMED_BATCHES = 12
# Old events in the change logs the history models read, at 1x history.
HISTORY = {"sales_order": 30_000, "customer_entity": 30_000, "newsletter_subscriber": 5_000, "store": 5_000,
           "cataloginventory_stock_item": 5_000}


@dataclass
class Result:
    """One warehouse's measured runs: the first run's replayed statements and every run's seconds."""

    measured: list[Measured]
    seconds: list[float]

    @property
    def rows(self) -> int:
        return total(self.measured, rows_read)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)


def measure(warehouse: Warehouse, batches: list, run: Callable[[Warehouse, str], tuple[list[Statement], float]],
            label: str) -> Result:
    """Lands each batch and runs `run` after it; replays the first run on a copy taken before it."""
    measured: list[Measured] = []
    seconds = []
    for number, batch in enumerate(batches, 1):
        warehouse.land(batch)
        replica = warehouse.replica(f"before_{number}") if number == 1 else None
        if replica is not None and (faults := layout_faults(warehouse, replica)):
            raise RuntimeError(f"bench-scale: loads share row groups in {warehouse.root}: {faults}")
        statements, elapsed = run(warehouse, f"run_{number}")
        seconds.append(elapsed)
        if replica is not None:
            measured = replay(replica, statements)
        print(f"  {label}: run {number}/{len(batches)} {elapsed:.1f} s"
              + (f", {total(measured, rows_read):,} rows read" if replica is not None else ""), flush=True)
    return Result(measured, seconds)


def crm_results(work: Path, seed: int, runs: int) -> dict[str, Result]:
    results = {}
    with HightouchStub() as stub:
        for size in (1, FACTOR):
            label = f"{size}x shop"
            shop = MagentoSimulator(seed=seed, size=size, activity=1)
            print(f"{label}: simulating and building the CRM models", flush=True)
            began = time.perf_counter()
            initial = shop.initial_load()
            streamed = [shop.next_batch() for _ in range(STREAMED_BATCHES)]
            snapshot = write_snapshot(work / f"snapshot_{size}x.duckdb", initial)
            warehouse = build_warehouse(work / f"crm_{size}x", snapshot, initial, {}, CRM_UPSTREAM, streamed)
            print(f"  {label}: {initial.events:,} snapshot events, built in {time.perf_counter() - began:.0f} s",
                  flush=True)
            batches = [shop.next_batch() for _ in range(runs)]
            results[f"{size}x"] = measure(warehouse, batches, lambda w, phase: crm_cycle(w, stub.url, phase), label)
    return results


def history_results(work: Path, seed: int, runs: int) -> dict[str, Result]:
    shop = MagentoSimulator(seed=seed)
    initial = shop.initial_load()
    # No batch streamed before: what lands after the old events stays smaller than their
    # last row group, so they keep row groups of their own (cost_warehouse.build_warehouse).
    batches = [shop.next_batch() for _ in range(runs)]
    snapshot = write_snapshot(work / "snapshot_history.duckdb", initial)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        landed = {t: con.execute(f"select count(*) from {LANDING_SCHEMA}.{t}").fetchone()[0] for t in HISTORY}
    histories = {"1x": HISTORY,
                 f"{FACTOR}x": {t: FACTOR * (landed[t] + rows) - landed[t] for t, rows in HISTORY.items()}}
    results = {}
    for name, history in histories.items():
        label = f"{name} history"
        print(f"{label}: landing {sum(history.values()):,} old events and building the history models", flush=True)
        began = time.perf_counter()
        warehouse = build_warehouse(work / f"history_{name}", snapshot, initial, history, HISTORY_MODELS)
        print(f"  {label}: built in {time.perf_counter() - began:.0f} s", flush=True)
        results[name] = measure(warehouse, batches, history_run, label)
    return results


def report(title: str, results: dict[str, Result]) -> float:
    """Prints the per-statement breakdown and the totals; returns the rows-read ratio, 10x over 1x."""
    small, large = results["1x"], results[f"{FACTOR}x"]
    ratio = large.rows / max(1, small.rows)
    print(f"\n{title}\n{breakdown({name: r.measured for name, r in results.items()}, rows_read, 'rows read')}")
    print(f"rows read: {small.rows:,} vs {large.rows:,} ({ratio:.2f}x); median seconds: "
          f"{small.median_seconds:.1f} vs {large.median_seconds:.1f} "
          f"({large.median_seconds / max(small.median_seconds, 1e-9):.2f}x)")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per warehouse (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=11, help="simulator seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        work = Path(tmp)
        crm = crm_results(work, args.seed, args.runs)
        history = history_results(work, args.seed, args.runs)
    crm_ratio = report(f"CRM cycle, shop of size 1 vs {FACTOR}, same change rate:", crm)
    history_ratio = report(f"History run, 1 vs {FACTOR} times the history:", history)
    print(f"scale {FACTOR}x: crm cycle rows read {crm_ratio:.2f}, history run rows read {history_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
