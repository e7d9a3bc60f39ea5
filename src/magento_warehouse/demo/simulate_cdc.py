"""Writes a simulated Magento shop's Streamkap change logs into a DuckDB file.

The initial snapshot, then --batches micro-batches of --batch-minutes of shop
activity each, appended to the landing tables in --schema. The same --seed,
--size, --activity (or --scale), --start and --batch-minutes always produce the
same events.

Exit codes: 0 done; 1 the database could not be written; 2 bad arguments;
3 the landing tables already hold events (pass --replace to start over).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb

from magento_warehouse.demo.simulator.schema import TABLES
from magento_warehouse.demo.simulator.simulator import (
    DEMO_BATCHES,
    DEMO_SCHEDULE,
    MagentoSimulator,
    default_start,
    write_batch,
)
from magento_warehouse.runner.cli_types import non_negative_int, positive_float, positive_int

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_EMPTY = 0, 1, 2, 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", type=Path, default=Path(os.environ.get("DBT_DUCKDB_PATH", "warehouse/magento.duckdb")),
                        help="DuckDB file to write; its folder is created if missing "
                             "(default: $DBT_DUCKDB_PATH, else warehouse/magento.duckdb)")
    parser.add_argument("--schema", type=_identifier, default="streamkap",
                        help="landing schema (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    parser.add_argument("--scale", type=positive_float, default=1.0,
                        help="sets --size and --activity at once; 1 gives about 16,000 snapshot "
                             "events and 800 per batch (default: %(default)s)")
    parser.add_argument("--size", type=positive_float,
                        help="multiplies the shop: customers, products, and the orders and carts of the "
                             "snapshot (default: --scale)")
    parser.add_argument("--activity", type=positive_float,
                        help="multiplies the changes per simulated minute, so the events per batch "
                             "(default: --scale)")
    parser.add_argument("--batches", type=non_negative_int, default=DEMO_BATCHES,
                        help="micro-batches after the initial load (default: %(default)s)")
    parser.add_argument("--batch-minutes", type=positive_int, default=5,
                        help="simulated minutes per batch (default: %(default)s)")
    parser.add_argument("--start", type=_timestamp,
                        help="when the shop starts streaming, ISO 8601, UTC unless an offset is given "
                             "(default: so that the last batch ends at the current minute)")
    parser.add_argument("--operations", action="store_true",
                        help="play what operators do to a pipeline in the first batches: a recreated topic, a "
                             "lagging partition, an outage with a re-snapshot, redelivered old events (see "
                             "magento_cdc/operations.py)")
    parser.add_argument("--replace", action="store_true",
                        help="drop the landing tables first if they already hold events")
    return parser.parse_args(argv)


def _identifier(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(f"must be a plain SQL identifier, got {text!r}")
    return text


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 timestamp: {text}") from error


def landing_tables_with_events(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """The Magento landing tables in `schema` that already hold rows."""
    existing = {name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_schema = ?", [schema]).fetchall()}
    return [name for name in TABLES
            if name in existing and con.execute(f"select 1 from {schema}.{name} limit 1").fetchone()]


def run(args: argparse.Namespace) -> int:
    start = args.start if args.start is not None else default_start(args.batches, args.batch_minutes)
    simulator = MagentoSimulator(seed=args.seed, scale=args.scale, size=args.size, activity=args.activity,
                                 start=start, batch_minutes=args.batch_minutes,
                                 operations=DEMO_SCHEDULE if args.operations else None)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(args.db)) as con:
        filled = landing_tables_with_events(con, args.schema)
        if filled and not args.replace:
            print(f"{args.db}: {args.schema}.{filled[0]} and {len(filled) - 1} other landing table(s) already "
                  "hold events; pass --replace to drop them and start over.", file=sys.stderr)
            return EXIT_NOT_EMPTY
        for name in filled:
            con.execute(f"drop table {args.schema}.{name}")

        print(f"Simulating seed {args.seed}, size {simulator.size:g}, activity {simulator.activity:g}, from {simulator.start:%Y-%m-%d %H:%M} UTC "
              f"into {args.db} (schema {args.schema})")
        began, total = time.perf_counter(), 0
        for number in range(args.batches + 1):
            step = time.perf_counter()
            batch = simulator.initial_load() if number == 0 else simulator.next_batch()
            generated = time.perf_counter() - step
            write_batch(con, batch, args.schema)
            written = time.perf_counter() - step - generated
            total += batch.events
            label = "initial load" if number == 0 else f"batch {number}/{args.batches}"
            print(f"{label:>14}  {batch.start:%H:%M}-{batch.end:%H:%M}  {batch.events:>10,} events  "
                  f"(simulated {generated:.1f} s, written {written:.1f} s)", flush=True)
        elapsed = time.perf_counter() - began
    print(f"Wrote {total:,} events in {elapsed:.1f} s ({total / max(elapsed, 1e-9):,.0f} events/s).")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (duckdb.Error, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
