"""Fleet benchmark: N current-state models refreshed every few minutes, against plain dbt.

The shop replicates about a thousand Magento tables, each with a one-line current-state
model, and refreshes them every few minutes. What matters then is less the cost of one
model than the fixed cost of a cycle over the whole fleet, when few change logs (or none)
received anything. This benchmark generates, in a temporary folder, two dbt projects on
the same N change logs (one DuckDB file, 4 threads):

- the project fleet: this project's macros/ and dbt_project.yml, N one-line models
  `{{ streamkap_cdc.cdc_current_state('magento', 't0001', unique_key='entity_id') }}` and a selector
  `fleet`; its cycle is the few-minute job's own command,
  `scripts/run_and_sync.py --selector fleet --only-changed`;
- the baseline: N plain dbt incremental models (merge on entity_id, events newer than
  the target's newest, latest event per key with qualify); its cycle is `dbt run`.

It measures, for both fleets: a full parse (`dbt parse --no-partial-parse`), a partial
parse with nothing changed (`dbt parse`), a cycle with nothing new, and a cycle after 10%
of the change logs received new events; plus the first build of each, once. Every
command runs in its own process, as a scheduler would start it, so process start and
dbt's import count in both fleets alike.

Before reporting, it checks that both fleets hold the same current state (the project
removes a key whose latest event is a delete; the baseline keeps it, flagged), so the
two fleets did the same work. For the cycles it also reports how long dbt's run or build
took (run_results.json): the rest is process start, import, parsing and, for the
project, the query that finds which change logs grew.

Times vary between machines and runs, so each figure is the median of --repeat runs,
the two fleets' runs interleaved (alternating which goes first) so that drift hits
both, and the conclusions are ratios project / baseline of medians taken side by side.
Writes docs/benchmarks/fleet.md and fleet.png; the last line printed is the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from magento_warehouse.devtools.fleet_projects import (
    DBT,
    Fleet,
    REPO,
    append_events,
    land_change_logs,
    make_fleets,
    table_names,
    tables_to_change,
)
from magento_warehouse.devtools.fleet_report import (
    CHANGED,
    CYCLES,
    FIRST_BUILD,
    FULL_PARSE,
    NO_OP,
    PARTIAL_PARSE,
    ROWS,
    markdown,
    median,
    plot,
    ratio,
)


def environment() -> dict[str, str]:
    """This process's environment, without the repository's own dbt settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR")}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def timed(command: list[str], cwd: Path) -> float:
    """Wall seconds of a command in its own process; stops the benchmark if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{tail}")
    return elapsed


def dbt_elapsed(fleet: Fleet) -> float:
    """Seconds the cycle's `dbt run` or `dbt build` spent running nodes (0 when it ran none).

    run_results.json is also written by the run-operation that finds the changed logs:
    that one is not counted.
    """
    results = fleet.root / "target" / "run_results.json"
    if not results.exists():
        return 0.0
    written = json.loads(results.read_text())
    if written.get("args", {}).get("which") not in ("run", "build"):
        return 0.0
    return float(written.get("elapsed_time") or 0.0)


def measure(fleet: Fleet, what: str, command: list[str]) -> float:
    (fleet.root / "target" / "run_results.json").unlink(missing_ok=True)
    seconds = timed(command, fleet.root)
    fleet.times.setdefault(what, []).append(seconds)
    if what in CYCLES:
        fleet.dbt_seconds.setdefault(what, []).append(dbt_elapsed(fleet))
    print(f"  {what:<20} {fleet.name:<8} {seconds:7.2f}s", flush=True)
    return seconds


def parse_command(fleet: Fleet, partial: bool) -> list[str]:
    return [str(DBT), "parse", "--quiet", *([] if partial else ["--no-partial-parse"]), *fleet.dbt_flags()]


def interleaved(fleets: list[Fleet], round_number: int) -> list[Fleet]:
    """Both fleets, the first one alternating between rounds."""
    return fleets if round_number % 2 == 0 else fleets[::-1]


def run_round(fleets: list[Fleet], round_number: int, db: Path, tables: list[str],
              landed: dict[str, int], args: argparse.Namespace) -> None:
    """One measurement of each kind for both fleets."""
    for partial, what in ((False, FULL_PARSE), (True, PARTIAL_PARSE)):
        for fleet in interleaved(fleets, round_number):
            measure(fleet, what, parse_command(fleet, partial))
    for fleet in interleaved(fleets, round_number):
        measure(fleet, NO_OP, fleet.cycle)
    changed = tables_to_change(tables, args.changed_share, round_number)
    append_events(db, changed, landed, args.new_events)
    for fleet in interleaved(fleets, round_number):
        measure(fleet, CHANGED, fleet.cycle)


def check_same_state(db: Path, tables: list[str]) -> None:
    """Both fleets must hold the same current state, else the comparison means nothing."""
    def fingerprint(relation: str, live: str) -> str:
        return (f"select '{relation}' as t, count(*) as n, sum(hash(entity_id, _streamkap_offset)) as h "
                f"from {relation} where {live}")
    with duckdb.connect(str(db), read_only=True) as con:
        for table in tables:
            project = con.execute(fingerprint(f"main_magento.{table}", "true")).fetchone()[1:]
            baseline = con.execute(fingerprint(f"baseline.base_magento__{table}", "__deleted = 'false'")).fetchone()[1:]
            if project != baseline:
                raise SystemExit(f"the fleets disagree on {table}: project {project}, baseline {baseline}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fleet", type=int, default=1000, help="models per fleet (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; medians are reported "
                                                               "(default: %(default)s)")
    parser.add_argument("--events", type=int, default=2000, help="events per change log (default: %(default)s)")
    parser.add_argument("--new-events", type=int, default=50,
                        help="events appended to each changed log (default: %(default)s)")
    parser.add_argument("--changed-share", type=float, default=0.10,
                        help="share of the change logs that receive new events (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=4, help="dbt threads (default: %(default)s)")
    parser.add_argument("--output-dir", type=Path, default=REPO / "docs" / "benchmarks",
                        help="where fleet.md and fleet.png go (default: docs/benchmarks)")
    args = parser.parse_args(argv)
    if args.fleet < 1 or args.repeat < 1 or args.events < 1 or args.new_events < 1 or args.threads < 1:
        parser.error("--fleet, --repeat, --events, --new-events and --threads must be 1 or more")
    if not 0 < args.changed_share <= 1:
        parser.error("--changed-share must be in (0, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cdc_fleet_bench_") as tmp:
        work = Path(tmp)
        db = work / "fleet.duckdb"
        tables = table_names(args.fleet)
        print(f"generating two fleets of {args.fleet} models in {work}...", flush=True)
        project, baseline = make_fleets(work, db, tables, args.threads)
        print(f"landing {args.fleet} change logs of {args.events:,} events...", flush=True)
        land_change_logs(db, tables, args.events)
        landed = dict.fromkeys(tables, args.events)

        print("building both fleets (first build, timed once)...", flush=True)
        for fleet in (project, baseline):
            measure(fleet, FIRST_BUILD, fleet.cycle)
        for round_number in range(args.repeat):
            print(f"measuring, round {round_number + 1} of {args.repeat}...", flush=True)
            run_round([project, baseline], round_number, db, tables, landed, args)
        check_same_state(db, tables)
        print(f"checked: both fleets hold the same current state of {args.fleet} tables", flush=True)

    changed = max(1, round(args.fleet * args.changed_share))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "fleet.md").write_text(markdown(project, baseline, args, changed))
    plot(project, baseline, args, args.output_dir / "fleet.png")
    print(f"wrote {args.output_dir / 'fleet.md'} and fleet.png ({time.perf_counter() - started:.0f}s in all)")
    print(f"\n{'measured':<20} {'project':>9} {'baseline':>9} {'ratio':>6}")
    for what in ROWS:
        print(f"{what:<20} {median(project.times[what]):8.2f}s {median(baseline.times[what]):8.2f}s "
              f"{ratio(project, baseline, what):6.2f}")
    print(f"fleet {args.fleet}: no-op {ratio(project, baseline, NO_OP):.2f} of baseline, "
          f"10% changed {ratio(project, baseline, CHANGED):.2f} of baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
