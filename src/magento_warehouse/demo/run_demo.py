"""The few-minute job on a simulated Magento CDC stream, in one local DuckDB file.

Creates the warehouse, lands the simulator's initial snapshot, seeds and builds the
whole project, then for each cycle lands the next micro-batch of changes and runs
`dbt build` again, printing what the cycle applied. It ends by showing a few rows of
each CRM mart as Hightouch sends them to Emarsys (field id: value).

Its first cycles go through what operators do to a pipeline (magento_cdc.operations):
a recreated topic with its re-snapshot, a partition that lags, an outage whose deletes
are lost followed by a re-snapshot, and a redelivery of old events. After a
re-snapshot lands, the demo follows the README's runbook (`cdc_apply_resnapshot`). It
ends by delivering what is still in flight and checking that every current-state
table equals the simulated shop's rows.

With --cadence it runs as a local scheduler instead: every CADENCE seconds it lands
the next micro-batch and runs the CRM job with run_and_sync (selector crm_realtime
with --only-changed: only the current-state models with new events are rebuilt),
then the Hightouch syncs, against a local stand-in for Hightouch unless
HIGHTOUCH_API_KEY is set, and prints the latency from landing to synced marts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from decimal import Decimal
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from dbt.cli.main import dbtRunner

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.demo.simulator.schema import TABLES
from magento_warehouse.demo.simulator.simulator import DEMO_SCHEDULE, MagentoSimulator, default_start, write_batch
from magento_warehouse.environment import temporary_environment
from magento_warehouse.paths import project_dir
from magento_warehouse.runner import run_and_sync
from magento_warehouse.runner.cli_types import non_negative_int, positive_float, positive_int

REPO = project_dir()
DEFAULT_DB = os.environ.get("DBT_DUCKDB_PATH", "warehouse/magento.duckdb")


@dataclass
class BuildResult:
    seconds: float
    statuses: dict[str, int]
    failures: list[str]


@dataclass
class CurrentState:
    rows: int  # rows in all current-state tables
    newest_ts_ms: int  # the newest event applied
    changed: int  # rows written by events newer than a given moment


def dbt(args: list[str]) -> Any:
    """Runs dbt in this process on the project, quietly; returns its result."""
    return dbtRunner().invoke(
        [*args, "--project-dir", str(REPO), "--profiles-dir", str(REPO), "--quiet"]
    )


def build(args: list[str]) -> BuildResult:
    started = time.perf_counter()
    result = dbt(args)
    seconds = time.perf_counter() - started
    if result.result is None:
        raise SystemExit(f"dbt {' '.join(args)} failed: {result.exception}")
    statuses: dict[str, int] = {}
    failures = []
    for node_result in result.result.results:
        status = str(node_result.status)
        statuses[status] = statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            failures.append(f"{node_result.node.name}: {node_result.message}")
    return BuildResult(seconds, statuses, failures)


def current_state(db: Path, since_ts_ms: int) -> CurrentState:
    """Totals over all current-state tables (the `*_magento` schema, without the
    engine's own tables and the history tables beside them)."""
    with duckdb.connect(str(db)) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like '%magento' and table_type = 'BASE TABLE' "
            "and table_name not in ('cdc_watermarks', 'cdc_repairs') and table_name not like 'history\\_%' escape '\\'"
        ).fetchall()
        union = " union all ".join(
            f'select count(*) as n, max(_streamkap_ts_ms) as newest, '
            f'count(*) filter (where _streamkap_ts_ms > {since_ts_ms}) as changed from "{s}"."{t}"'
            for s, t in tables
        )
        rows, newest, changed = con.execute(f"select sum(n), max(newest), sum(changed) from ({union})").fetchone()
    return CurrentState(int(rows or 0), int(newest or 0), int(changed or 0))


def print_cycle(label: str, events: int, result: BuildResult, state: CurrentState) -> None:
    tests = ", ".join(f"{n} {s}" for s, n in sorted(result.statuses.items()))
    print(f"{label:<14} {events:>7,} events landed  {state.changed:>7,} rows upserted  "
          f"{state.rows:>7,} rows current  {result.seconds:5.1f} s  ({tests})", flush=True)
    for failure in result.failures:
        print(f"    ! {failure}")


def apply_resnapshots(resnapshots: dict[str, int]) -> list[str]:
    """The runbook after a re-snapshot has landed and a job has run; errors, if any."""
    failures = []
    for table, started_ms in sorted(resnapshots.items()):
        result = dbtRunner().invoke(["run-operation", "cdc_apply_resnapshot", "--args",
                                     json.dumps({"table": table, "snapshot_started_at_ms": started_ms}),
                                     "--project-dir", str(REPO), "--profiles-dir", str(REPO)])
        if not result.success:
            failures.append(f"cdc_apply_resnapshot {table}: {result.exception}")
    return failures


def waiting_tables(db: Path) -> list[str]:
    """Current-state tables whose last run left events for the next (no row count recorded)."""
    with duckdb.connect(str(db)) as con:
        schemas = [schema for (schema,) in con.execute(
            "select table_schema from information_schema.tables where table_name = 'cdc_watermarks'").fetchall()]
        return [name for schema in schemas for (name,) in con.execute(
            f'select table_name from "{schema}".cdc_watermarks where landed_rows is null').fetchall()]


def _comparable(value: Any) -> Any:
    """A value as both the simulator and DuckDB give it, for comparison."""
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, float):
        return Decimal(repr(value)).normalize()
    return None if value is None else str(value) if not isinstance(value, int) else value


def differences_from_magento(db: Path, simulator: MagentoSimulator) -> list[str]:
    """Per table, how the current state differs from the simulated shop's rows (empty: equal)."""
    problems = []
    truth = simulator.current_rows()
    with duckdb.connect(str(db)) as con:
        schema = con.execute("select table_schema from information_schema.tables "
                             "where table_name = 'cdc_watermarks' and table_schema like '%magento'").fetchone()[0]
        for name, table in TABLES.items():
            columns = [column for column, _ in table.columns]
            quoted = ", ".join(f'"{column}"' for column in columns)
            actual = {tuple(map(_comparable, row))
                      for row in con.execute(f'select {quoted} from "{schema}"."{name}"').fetchall()}
            expected = {tuple(_comparable(row[column]) for column in columns) for row in truth[name]}
            if actual != expected:
                problems.append(f"{name}: {len(expected - actual)} row(s) of Magento missing or different, "
                                f"{len(actual - expected)} row(s) not in Magento")
    return problems


def print_emarsys_preview(db: Path, target_path: Path, rows_per_sync: int) -> None:
    """A few rows of each synced mart, keyed by Emarsys field id as Hightouch sends them.

    One preview per mart: its per-website syncs send the same columns, each its own
    website's rows (their Hightouch models filter website_id)."""
    manifest = json.loads((target_path / "manifest.json").read_text())
    by_mart: dict[str, list[dict]] = {}
    for exposure in sorted(manifest["exposures"].values(), key=lambda e: e["name"]):
        hightouch = (exposure.get("meta") or {}).get("hightouch") or {}
        if hightouch.get("field_mapping") and exposure["depends_on"]["nodes"]:
            by_mart.setdefault(exposure["depends_on"]["nodes"][0], []).append(hightouch)
    print("\nWhat Hightouch sends to Emarsys (field id: value), a few rows per synced mart:")
    with duckdb.connect(str(db)) as con:
        for mart, syncs in by_mart.items():
            model = manifest["nodes"][mart]
            mapping = syncs[0]["field_mapping"]
            relation = f'"{model["schema"]}"."{model["alias"]}"'
            columns = ", ".join(f'"{c}"' for c in mapping)
            rows = con.execute(f"select {columns} from {relation} order by all limit {rows_per_sync}").fetchall()
            count = con.execute(f"select count(*) from {relation}").fetchone()[0]
            names = "; ".join(f"{sync.get('sync_name')} (sync {sync.get('sync_id')})" for sync in syncs)
            print(f"\n  {model['name']} ({count:,} rows), synced by {names}")
            print("    " + ", ".join(f"{column} → {field}" for column, field in mapping.items()))
            for row in rows:
                payload = {str(field): _plain(value) for field, value in zip(mapping.values(), row)}
                print("    " + json.dumps(payload, ensure_ascii=False))


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def run_scheduler(simulator: MagentoSimulator, db: Path, args: argparse.Namespace) -> bool:
    """Cycles of: land a micro-batch, run the CRM job and its syncs. True if one failed."""
    job = ["--selector", "crm_realtime", "--only-changed", "--project-dir", str(REPO),
           "--profiles-dir", str(REPO), "--poll-interval", "0.5"]
    with ExitStack() as stack:
        if os.environ.get("HIGHTOUCH_API_KEY"):
            print("\nSyncing with Hightouch at", os.environ.get("HIGHTOUCH_API_URL", "https://api.hightouch.com"))
        else:
            stub = stack.enter_context(HightouchStub())
            stack.enter_context(temporary_environment({"HIGHTOUCH_API_URL": stub.url,
                                                        "HIGHTOUCH_API_KEY": "local-stand-in"}))
            print(f"\nSyncing with a local stand-in for Hightouch at {stub.url} (set HIGHTOUCH_API_KEY for the real one)")
        print(f"A cycle every {args.cadence:g} s: land a micro-batch, run the CRM job, trigger the syncs.\n")
        failed = False
        for cycle in range(1, args.cycles + 1):
            started = time.monotonic()
            batch = simulator.next_batch()
            with duckdb.connect(str(db)) as con:
                write_batch(con, batch)
            landed = time.monotonic()
            output = io.StringIO()
            with redirect_stdout(output):
                code = run_and_sync.main(job)
            latency = time.monotonic() - landed
            failed |= code != 0
            built = next((line for line in output.getvalue().splitlines() if line.startswith("current-state models")), "")
            print(f"cycle {cycle} {batch.end:%H:%M}  {batch.events:>6,} events landed  "
                  f"landing → marts built and synced: {latency:5.1f} s  "
                  f"({'ok' if code == 0 else f'exit code {code}'})", flush=True)
            print(f"    {built}", flush=True)
            if code != 0:
                print(output.getvalue())
            if cycle < args.cycles:
                time.sleep(max(0.0, args.cadence - (time.monotonic() - started)))
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Starts from an empty warehouse each time: the DuckDB file at --db is replaced.",
    )
    parser.add_argument("--db", type=Path, default=Path(DEFAULT_DB),
                        help="DuckDB warehouse file (default: $DBT_DUCKDB_PATH, else %(default)s)")
    parser.add_argument("--cycles", type=non_negative_int, default=6, help="micro-batches to land and build (default: 6)")
    parser.add_argument("--seed", type=int, default=42, help="simulator seed (default: 42)")
    parser.add_argument("--scale", type=positive_float, default=1.0, help="simulator scale (default: 1)")
    parser.add_argument("--batch-minutes", type=positive_int, default=5, help="simulated minutes per cycle (default: 5)")
    parser.add_argument("--preview-rows", type=non_negative_int, default=3, help="mart rows shown per sync (default: 3)")
    parser.add_argument("--no-operations", dest="operations", action="store_false",
                        help="leave out the operations on the pipeline (re-creations, lag, outages, redeliveries)")
    parser.add_argument("--cadence", type=positive_float, metavar="SECONDS",
                        help="run as a scheduler: a cycle every SECONDS, the CRM job and its Hightouch syncs")
    args = parser.parse_args(argv)

    db = args.db.resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    os.environ["DBT_DUCKDB_PATH"] = str(db)
    # Where dbt writes its manifest: DBT_TARGET_PATH when set (relative to the project), else target/.
    target_path = REPO / os.environ.get("DBT_TARGET_PATH", "target")

    simulator = MagentoSimulator(seed=args.seed, scale=args.scale, batch_minutes=args.batch_minutes,
                                 start=default_start(args.cycles, args.batch_minutes),
                                 operations=DEMO_SCHEDULE if args.operations else None)
    print(f"Warehouse {db}: simulated Magento shop (seed {args.seed}, scale {args.scale:g}), "
          f"{args.cycles} cycles of {args.batch_minutes} minutes\n", flush=True)

    snapshot = simulator.initial_load()
    with duckdb.connect(str(db)) as con:
        write_batch(con, snapshot)
    seeded = build(["seed"])
    if seeded.failures:
        print("\n".join(seeded.failures))
        return 1
    result = build(["build"])
    state = current_state(db, 0)
    print_cycle("snapshot", snapshot.events, result, state)

    failed = bool(result.failures)
    played: list[str] = []
    if args.cadence:
        failed |= run_scheduler(simulator, db, args)
        print_emarsys_preview(db, target_path, args.preview_rows)
        return 1 if failed else 0
    for cycle in range(1, args.cycles + 2):
        # A last cycle delivers what is still in flight, so the shop can be compared.
        batch = simulator.next_batch() if cycle <= args.cycles else simulator.drain_batch()
        with duckdb.connect(str(db)) as con:
            write_batch(con, batch)
        result = build(["build"])
        failed |= bool(result.failures)
        state = current_state(db, state.newest_ts_ms)
        label = f"cycle {cycle} {batch.end:%H:%M}" if cycle <= args.cycles else "in flight"
        print_cycle(label, batch.events, result, state)
        for line in simulator.operations_played[len(played):]:
            print(f"    operation: {line.split(': ', 1)[1]}")
        played = simulator.operations_played
        if batch.resnapshots:
            problems = apply_resnapshots(batch.resnapshots)
            failed |= bool(problems)
            for problem in problems:
                print(f"    ! {problem}")
    if waiting_tables(db):
        # Events that wait a run (their originals were not read) land with the next one.
        result = build(["build"])
        failed |= bool(result.failures)
        print_cycle("settled", 0, result, current_state(db, state.newest_ts_ms))

    differences = differences_from_magento(db, simulator)
    failed |= bool(differences)
    print("\nThe current state equals the simulated shop's rows in every table." if not differences
          else "\nThe current state differs from the simulated shop's rows:\n  " + "\n  ".join(differences))
    print_emarsys_preview(db, target_path, args.preview_rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
