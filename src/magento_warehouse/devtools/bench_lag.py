"""Benchmark: what a lagging partition costs the few-minute runs, in rows of change log read.

Two streams of one table, equal in every event and every ingestion time: in one, all
partitions are current; in the other, partition 1 of 2 is two hours behind (its events
are committed two hours before Streamkap delivers them) for the two measured hours, after
two hours of warm-up in the same state. Each 5-minute cycle lands the cycle's events and
runs the table's current-state model (lookback 15 minutes). The statements a run sent are
then replayed, in order, on a copy of the warehouse as it was before the run, with
DuckDB's profiler on. Each scan of the change log counts the rows its bounds on
ingestion time select: what a log stored in ingestion order, as Snowflake's
micro-partitions of an append-only table are, reads for it (DuckDB's own row groups are
too coarse to show it). A scan without such a bound counts the whole log.

Rows read per cycle are reported as the median and the worst cycle of each stream, and
their ratios; the target is 2.00 or less for both. The last line reads
`lag: rows read per cycle X.XX of no lag (worst cycle Y.YY)`; the table is written to
docs/benchmarks/lag.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import duckdb
from dbt.cli.main import dbtRunner

# the single-table benchmark's project: one current-state model of sales_order
from magento_warehouse.devtools.bench import make_project
from magento_warehouse.devtools.dbt_log import node_id, sql_queries
from magento_warehouse.paths import project_dir

REPO = project_dir()
MINUTE = 60_000
HOUR = 60 * MINUTE
CYCLE_MS = 5 * MINUTE
LAG_MS = 2 * HOUR
T0 = 1_767_000_000_000
TRANSACTION_CONTROL = {"begin", "commit", "rollback", "begin transaction"}


def stream(cycles: int, events_per_cycle: int, seed: int) -> list[list[tuple[int, int, int, int, str]]]:
    """Per cycle, the events (key, partition offset, ingestion ms, status, deleted) of a
    shop's orders: new orders, updates of open ones, now and then a deletion. The
    partition of a key is key % 2; each partition numbers its events."""
    rng = random.Random(seed)
    next_key, live = 1, []
    offsets = [0, 0]
    batches = []
    for cycle in range(cycles):
        batch = []
        for i in range(events_per_cycle):
            ts = T0 + cycle * CYCLE_MS + i * CYCLE_MS // events_per_cycle
            roll = rng.random()
            if roll < 0.25 or len(live) < 100:
                key, next_key, deleted = next_key, next_key + 1, "false"
                live.append(key)
            elif roll < 0.97:
                key, deleted = rng.choice(live), "false"
            else:
                key, deleted = live.pop(rng.randrange(len(live))), "true"
            offsets[key % 2] += 1
            batch.append((key, offsets[key % 2], ts, rng.randrange(1, 9), deleted))
        batches.append(batch)
    return batches


def land(db: Path, batch: list[tuple[int, int, int, int, str]], lagging: bool) -> None:
    """Appends one cycle's events; with `lagging`, partition 1's were committed two hours
    before delivery. """
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists streamkap")
        con.execute("create table if not exists streamkap.sales_order (entity_id bigint, status integer, "
                    "_streamkap_source_ts_ms bigint, _streamkap_ts_ms bigint, _streamkap_offset bigint, "
                    "__deleted varchar)")
        rows = [(key, status, ts - (LAG_MS if lagging and key % 2 else 500), ts, offset, deleted)
                for key, offset, ts, status, deleted in batch]
        con.executemany("insert into streamkap.sales_order values (?, ?, ?, ?, ?, ?)", rows)


def statements(log: Path) -> Iterator[str]:
    """The statements dbt sent for the model (SQLQuery events of its JSON log)."""
    for query in sql_queries(log):
        if (node_id(query) or "").startswith("model."):
            yield query["sql"]


def landing_scans(profile: Any) -> Iterator[tuple[str, str]]:
    """(table, pushed-down filters) of every scan of a landing table in a DuckDB JSON profile."""
    if isinstance(profile, list):
        for item in profile:
            yield from landing_scans(item)
    elif isinstance(profile, dict):
        info = profile.get("extra_info") or {}
        table = str(info.get("Table") or "")
        if profile.get("type", profile.get("operator_type")) == "TABLE_SCAN" and ".streamkap." in f".{table.lower()}":
            filters = info.get("Filters") or ""
            yield table, " AND ".join(filters) if isinstance(filters, list) else str(filters)
        for key in ("children", "operator"):
            yield from landing_scans(profile.get(key))


BOUND = re.compile(r'_streamkap_ts_ms"?\)?\s*(>=|>|<=|<|=)\s*(\d+)')


def rows_in_range(con: duckdb.DuckDBPyConnection, table: str, filters: str) -> int:
    """The rows a scan's bounds on ingestion time select: what a log stored in ingestion
    order (Snowflake's micro-partitions, in time order) reads for it, whatever its other
    predicates. A scan without such a bound reads the whole table."""
    bounds = [f"_streamkap_ts_ms {op} {value}" for op, value in BOUND.findall(filters)]
    return con.execute(f"select count(*) from {table} where {' and '.join(bounds) or 'true'}").fetchone()[0]


def replay(db: Path, sqls: list[str]) -> int:
    """Runs the statements in order on `db` (a copy of the warehouse before the run),
    profiler on; the change-log rows their scans' ingestion-time bounds select."""
    total = 0
    with duckdb.connect(str(db)) as con:
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{db.parent / 'profile.json'}'")
        for sql in sqls:
            for part in duckdb.extract_statements(sql):
                text = part.query.strip().rstrip(";").strip()
                bare = " ".join(re.sub(r"/\*.*?\*/", "", text, flags=re.S).lower().split())
                if not text or bare in TRANSACTION_CONTROL:
                    continue
                con.execute(text)
                profile = json.loads(con.get_profiling_information(format="json"))
                scans = list(landing_scans(profile)) if profile.get("result") != "error" else []
                con.execute("pragma disable_profiling")
                total += sum(rows_in_range(con, table, filters) for table, filters in scans)
                con.execute("pragma enable_profiling = 'json'")
    return total


def run_stream(root: Path, batches: list, lagging: bool, warmup: int) -> list[int]:
    """Lands the stream cycle by cycle; the landing rows each measured cycle's run read."""
    db = make_project(root)
    read = []
    for cycle, batch in enumerate(batches):
        land(db, batch, lagging)
        before = root / "before" / db.name
        before.parent.mkdir(exist_ok=True)
        for path in (db, db.with_name(db.name + ".wal")):  # with what is not checkpointed yet
            copy = before.with_name(path.name)
            copy.unlink(missing_ok=True)
            if path.exists():
                shutil.copy(path, copy)
        logs = root / "logs" / str(cycle)
        result = dbtRunner().invoke(["run", "--project-dir", str(root), "--profiles-dir", str(root), "--quiet",
                                     "--log-path", str(logs), "--log-format-file", "json", "--log-level-file", "debug",
                                     "--log-file-max-bytes", "0",
                                     "--vars", "{cdc_lookback_minutes: 15}"])
        if not result.success:
            raise SystemExit(f"bench-lag: dbt run failed at cycle {cycle}: {result.exception}")
        if cycle >= warmup:
            read.append(replay(before, list(statements(logs / "dbt.log"))))
        print(f"  {'lag' if lagging else 'no lag'}: cycle {cycle + 1}/{len(batches)}"
              + (f", {read[-1]:,} rows read" if cycle >= warmup else " (warm-up)"), flush=True)
    return read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events-per-cycle", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hours", type=float, default=LAG_MS / HOUR,
                        help="hours of warm-up, then hours measured (default: %(default)g, the lag)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks" / "lag.md")
    args = parser.parse_args(argv)
    warmup = measured = max(1, round(args.hours * HOUR / CYCLE_MS))
    batches = stream(warmup + measured, args.events_per_cycle, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench_lag_") as tmp:
        current = run_stream(Path(tmp) / "current", batches, False, warmup)
        lagging = run_stream(Path(tmp) / "lagging", batches, True, warmup)
    median = statistics.median(lagging) / statistics.median(current)
    worst = max(lagging) / max(current)
    table = "\n".join([
        "| stream | median rows read per cycle | worst cycle |",
        "|---|---:|---:|",
        f"| all partitions current | {statistics.median(current):,.0f} | {max(current):,} |",
        f"| partition 1 of 2 two hours behind | {statistics.median(lagging):,.0f} | {max(lagging):,} |",
        f"| ratio | {median:.2f} | {worst:.2f} |",
    ])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        "# Lag benchmark\n\n`make bench-lag` (`scripts/bench_lag.py`): rows of change log read per 5-minute cycle "
        f"over {args.hours:g} hours ({measured} cycles, {args.events_per_cycle:,} events each), after as long a warm-up, "
        "by the current-state model of one table whose partition 1 of 2 is two hours behind, against the same "
        "stream with every partition current. Target: 2.00 or less for both ratios.\n\n" + table + "\n")
    print(table)
    print(f"lag: rows read per cycle {median:.2f} of no lag (worst cycle {worst:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
