"""Benchmarks of the CDC engine, reported as ratios measured in one run.

Times vary between machines and runs, so each figure is the median of several runs
and the conclusions are ratios between figures taken side by side:

1. Cost follows the delta: an incremental run over a change log ten times longer
   takes about as long (ratio near 1), while a full refresh grows with the log.
2. The incremental run against a full refresh of the same log.
3. A queue-like table (every key inserted, then deleted, as Magento's cron_schedule
   or its message queues): its current state stays nearly empty, and an incremental
   run still costs the same at a log ten times longer.

Each case is a current-state model built by the project's own macros and
dbt_project.yml in a temporary project, on a DuckDB file.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from dbt.cli.main import dbtRunner

from magento_warehouse.engine_package import link_engine_package
from magento_warehouse.paths import project_dir

REPO = project_dir()
BATCH = 2_000  # new events per incremental run
KEYS = 50_000


def make_project(root: Path) -> Path:
    (root / "models/staging/magento/base").mkdir(parents=True)
    shutil.copy(REPO / "dbt_project.yml", root / "dbt_project.yml")
    shutil.copytree(REPO / "macros", root / "macros")
    link_engine_package(root)
    (root / "profiles.yml").write_text(
        "magento_warehouse:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: \"{root / 'bench.duckdb'}\"\n      schema: main\n      threads: 1\n"
    )
    (root / "models/staging/magento/_sources.yml").write_text(
        "version: 2\nsources:\n  - name: magento\n    schema: streamkap\n    tables:\n      - name: sales_order\n"
    )
    (root / "models/staging/magento/base/base_magento__sales_order.sql").write_text(
        "{{ streamkap_cdc.cdc_current_state('magento', 'sales_order', unique_key='entity_id') }}\n"
    )
    return root / "bench.duckdb"


def land(db: Path, first: int, count: int, queue: bool = False) -> None:
    """Appends `count` order events, one a second from event number `first` on.

    With `queue`, event i concerns key i // 2 and every second event deletes it."""
    key = "i // 2" if queue else f"(i * 7919) % {KEYS}"
    deleted = "i % 2 = 1" if queue else "i % 97 = 0"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists streamkap")
        con.execute("""
            create table if not exists streamkap.sales_order (
                entity_id integer, state varchar, status varchar, base_grand_total decimal(20, 4),
                customer_email varchar, updated_at timestamp,
                _streamkap_source_ts_ms bigint, _streamkap_ts_ms bigint, _streamkap_offset bigint,
                __deleted varchar)
        """)
        con.execute(f"""
            insert into streamkap.sales_order
            select
                {key}, 'processing', 'processing', (i % 500) + 0.99,
                'customer' || (i % {KEYS}) || '@example.com', timestamp '2026-01-01' + to_seconds(i),
                1767225600000 + i * 1000, 1767225600000 + i * 1000 + 700, i,
                case when {deleted} then 'true' else 'false' end
            from range({first}, {first + count}) as r(i)
        """)


def timed_run(root: Path, *extra: str) -> float:
    started = time.perf_counter()
    result = dbtRunner().invoke(["run", "--project-dir", str(root), "--profiles-dir", str(root), "--quiet", *extra])
    elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"dbt run failed: {result.exception}")
    return elapsed


def measure(history: int, repeats: int, work: Path, queue: bool = False) -> tuple[float, float]:
    """Median seconds of an incremental run (BATCH new events) and of a full refresh."""
    root = work / f"{'queue' if queue else 'orders'}_{history}"
    db = make_project(root)
    land(db, 0, history, queue)
    timed_run(root)
    incremental = []
    for n in range(repeats):
        land(db, history + n * BATCH, BATCH, queue)
        incremental.append(timed_run(root))
    full = [timed_run(root, "--full-refresh") for _ in range(max(1, repeats // 2))]
    return statistics.median(incremental), statistics.median(full)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000,
                        help="events in the smaller change log (default: %(default)s); the larger has 10x")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure; medians are reported")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cdc_bench_") as tmp:
        work = Path(tmp)
        rows = []
        for history in (args.history, args.history * 10):
            print(f"measuring a change log of {history:,} events ({args.repeats} runs each)...", flush=True)
            rows.append((history, *measure(history, args.repeats, work)))

    print(f"\n{'change log':>12} {'incremental':>12} {'full refresh':>13} {'full / incremental':>19}")
    for history, incremental, full in rows:
        print(f"{history:>12,} {incremental:>11.2f}s {full:>12.2f}s {full / incremental:>18.1f}x")
    (small, inc_small, full_small), (large, inc_large, full_large) = rows
    print(f"\nlog {large // small}x longer: incremental run {inc_large / inc_small:.2f}x, "
          f"full refresh {full_large / full_small:.2f}x  (medians of {args.repeats} runs; "
          f"{BATCH:,} new events per incremental run)")

    with tempfile.TemporaryDirectory(prefix="cdc_bench_") as tmp:
        queue = []
        for history in (args.history, args.history * 10):
            print(f"measuring a queue-like change log of {history:,} events, every row deleted...", flush=True)
            queue.append(measure(history, args.repeats, Path(tmp), queue=True)[0])
    print(f"queue-like table, log 10x longer: incremental run {queue[1] / queue[0]:.2f}x "
          f"({queue[0]:.2f}s vs {queue[1]:.2f}s, medians of {args.repeats} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
