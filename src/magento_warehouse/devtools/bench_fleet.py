"""Fleet benchmark: N current-state models refreshed every few minutes, against plain dbt.

The shop replicates about a thousand Magento tables, each with a one-line current-state
model, and refreshes them every few minutes. What matters then is less the cost of one
model than the fixed cost of a cycle over the whole fleet, when few change logs (or none)
received anything. This benchmark generates, in a temporary folder, two dbt projects on
the same N change logs (one DuckDB file, 4 threads):

- the project fleet: this project's macros/ and dbt_project.yml, N one-line models
  `{{ cdc_current_state('magento', 't0001', unique_key='entity_id') }}` and a selector
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
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import duckdb

from magento_warehouse.paths import project_dir

REPO = project_dir()
BIN = REPO / ".venv" / "bin" if (REPO / ".venv" / "bin" / "dbt").exists() else Path(sys.executable).parent
PYTHON, DBT = BIN / "python", BIN / "dbt"

KEYS = 500  # distinct entity_ids per change log: 2,000 events are mostly updates
EVENT_SPACING_MS = 10_000  # one event every 10 s per table
EPOCH_MS = 1_767_225_600_000  # 2026-01-01 UTC
BASE_DIR = Path("models/staging/magento/base")

FULL_PARSE, PARTIAL_PARSE, NO_OP, CHANGED = "full parse", "partial parse", "cycle, nothing new", "cycle, 10% changed"
FIRST_BUILD = "first build (once)"
CYCLES = (FIRST_BUILD, NO_OP, CHANGED)


@dataclass
class Fleet:
    """A generated dbt project and the command of its few-minute cycle."""

    name: str
    root: Path
    cycle: list[str]
    times: dict[str, list[float]] = field(default_factory=dict)
    dbt_seconds: dict[str, list[float]] = field(default_factory=dict)  # run_results.json elapsed_time

    def dbt_flags(self) -> list[str]:
        return ["--project-dir", str(self.root), "--profiles-dir", str(self.root)]


# --- generating the projects ------------------------------------------------------------

def table_names(count: int) -> list[str]:
    width = max(4, len(str(count)))
    return [f"t{i:0{width}d}" for i in range(1, count + 1)]


def write_profile(root: Path, db: Path, schema: str, threads: int) -> None:
    (root / "profiles.yml").write_text(
        "magento_warehouse:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: \"{db}\"\n      schema: {schema}\n      threads: {threads}\n")


def write_sources(models: Path, tables: list[str]) -> None:
    models.mkdir(parents=True, exist_ok=True)
    listed = "".join(f"      - name: {table}\n" for table in tables)
    (models / "_sources.yml").write_text(
        f"version: 2\nsources:\n  - name: magento\n    schema: streamkap\n    tables:\n{listed}")


def write_project_fleet(root: Path, db: Path, tables: list[str], threads: int) -> None:
    """This project's macros and dbt_project.yml, one cdc_current_state line per table."""
    base = root / BASE_DIR
    base.mkdir(parents=True)
    shutil.copy(REPO / "dbt_project.yml", root / "dbt_project.yml")
    shutil.copytree(REPO / "macros", root / "macros")
    write_profile(root, db, "main", threads)
    write_sources(root / "models/staging/magento", tables)
    for table in tables:
        (base / f"base_magento__{table}.sql").write_text(
            f"{{{{ cdc_current_state('magento', '{table}', unique_key='entity_id') }}}}\n")
    (root / "selectors.yml").write_text(
        "selectors:\n  - name: fleet\n    definition:\n      method: path\n"
        f"      value: {BASE_DIR.as_posix()}\n")


BASELINE_MODEL = """\
{{{{ config(materialized='incremental', incremental_strategy='merge', unique_key='entity_id') }}}}

select * from {{{{ source('magento', '{table}') }}}}
{{% if is_incremental() %}}
where _streamkap_ts_ms > (select max(_streamkap_ts_ms) from {{{{ this }}}})
{{% endif %}}
qualify row_number() over (
    partition by entity_id order by _streamkap_source_ts_ms desc, _streamkap_offset desc) = 1
"""


def write_baseline_fleet(root: Path, db: Path, tables: list[str], threads: int) -> None:
    """N plain dbt incremental models on the same change logs, in schema `baseline`."""
    models = root / "models"
    models.mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: fleet_baseline\nversion: '1.0.0'\nconfig-version: 2\nprofile: magento_warehouse\n"
        "model-paths: ['models']\n")
    write_profile(root, db, "baseline", threads)
    write_sources(models, tables)
    for table in tables:
        (models / f"base_magento__{table}.sql").write_text(BASELINE_MODEL.format(table=table))


# --- the change logs ------------------------------------------------------------------------

EVENTS_SQL = """
select
    ((i * 7919 + {t}) % {keys})::integer as entity_id,
    'SKU-' || {t} || '-' || ((i * 7919 + {t}) % {keys}) as sku,
    'Item ' || (i % 977) as name,
    (i % 3)::smallint as status,
    ((i % 500) + 0.99)::decimal(12, 4) as price,
    (i % 40)::integer as qty,
    to_timestamp(({epoch} + i * {spacing}) / 1000)::timestamp as updated_at,
    {epoch} + i * {spacing} as _streamkap_source_ts_ms,
    {epoch} + i * {spacing} + 700 as _streamkap_ts_ms,
    i::bigint as _streamkap_offset,
    case when i % 50 = 49 then 'true' else 'false' end as __deleted
from range({first}, {last}) as r(i)
"""


def events_sql(table_number: int, first: int, count: int) -> str:
    return EVENTS_SQL.format(t=table_number, keys=KEYS, epoch=EPOCH_MS, spacing=EVENT_SPACING_MS,
                             first=first, last=first + count)


def land_change_logs(db: Path, tables: list[str], events: int) -> None:
    """One change log of `events` events per table, in schema streamkap."""
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists streamkap")
        con.execute("begin")
        for number, table in enumerate(tables, start=1):
            con.execute(f"create or replace table streamkap.{table} as {events_sql(number, 0, events)}")
        con.execute("commit")


def append_events(db: Path, tables: list[str], landed: dict[str, int], count: int) -> None:
    """Appends `count` later events to each of `tables`; `landed` counts each log's events."""
    with duckdb.connect(str(db)) as con:
        con.execute("begin")
        for table in tables:
            number = int(table[1:])
            con.execute(f"insert into streamkap.{table} {events_sql(number, landed[table], count)}")
            landed[table] += count
        con.execute("commit")


def tables_to_change(tables: list[str], share: float, round_number: int) -> list[str]:
    """A different `share` of the tables each round."""
    count = max(1, round(len(tables) * share))
    start = round_number * count
    return [tables[(start + i) % len(tables)] for i in range(count)]


# --- running and timing ---------------------------------------------------------------------

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


# --- reporting ----------------------------------------------------------------------------

ROWS = (FULL_PARSE, PARTIAL_PARSE, NO_OP, CHANGED, FIRST_BUILD)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(project: Fleet, baseline: Fleet, what: str) -> float:
    return median(project.times[what]) / median(baseline.times[what])


def machine_facts() -> list[str]:
    return [
        f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}, dbt-core {version('dbt-core')}, dbt-duckdb {version('dbt-duckdb')}, "
        f"duckdb {version('duckdb')}",
    ]


def markdown(project: Fleet, baseline: Fleet, args: argparse.Namespace, changed: int) -> str:
    lines = [
        "# Fleet benchmark",
        "",
        f"`make bench` (or `make bench FLEET={args.fleet}`) writes this file with `scripts/bench_fleet.py`.",
        "",
        f"- **{args.fleet} change logs** of {args.events:,} events each (a small Magento table: 7 columns and",
        "  Streamkap's 4), one DuckDB file, dbt with "
        f"**{args.threads} threads**.",
        f"- **project**: {args.fleet} one-line `cdc_current_state` models with this project's macros and",
        "  `dbt_project.yml`; its cycle is the few-minute job's command,",
        f"  `{' '.join(project_cycle_label())}`.",
        f"- **baseline**: {args.fleet} plain dbt incremental models (`incremental_strategy='merge'`, "
        "`unique_key='entity_id'`,",
        "  events newer than the target's newest, latest per key with `qualify`); its cycle is `dbt run`.",
        f"- **10% changed**: {args.new_events} new events appended to each of {changed} change logs before the cycle.",
        f"- Medians of {args.repeat} runs in seconds, wall time of each command in its own process",
        "  (process start and dbt's import included); the two fleets' runs interleaved. The ratio",
        "  is project / baseline; lower is better for the project.",
        "",
        "| measured | project (s) | baseline (s) | project / baseline | project: dbt run/build (s) "
        "| baseline: dbt run/build (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for what in ROWS:
        cells = [what, f"{median(project.times[what]):.2f}", f"{median(baseline.times[what]):.2f}",
                 f"{ratio(project, baseline, what):.2f}"]
        for fleet in (project, baseline):
            inside = fleet.dbt_seconds.get(what)
            cells.append(f"{median(inside):.2f}" if inside else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "\"dbt run/build\" is `elapsed_time` of the cycle's `run_results.json`: the time `dbt run` (baseline)",
        "or `dbt build` (project) spent running the selected nodes, hooks included (0 when the cycle built",
        "nothing). The rest of a cycle's wall time is process start, dbt's import, parsing and, for the",
        "project, the selector's answer (`dbt ls`) and the query that finds which change logs grew; the",
        "project's runner keeps the parsed manifest and the selector's answer while the project is unchanged.",
        "",
        *[f"- {fact}" for fact in machine_facts()],
        "",
        "![Fleet benchmark](fleet.png)",
        "",
    ]
    return "\n".join(lines)


def plot(project: Fleet, baseline: Fleet, args: argparse.Namespace, path: Path) -> None:
    """Horizontal bars of the medians, the two fleets side by side, the ratio under each label."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = range(len(ROWS))
    height = 0.38
    figure, axes = plt.subplots(figsize=(9, 5))
    for offset, fleet, colour in ((-height / 2, project, "#1f77b4"), (height / 2, baseline, "#aaaaaa")):
        values = [median(fleet.times[what]) for what in ROWS]
        bars = axes.barh([p + offset for p in positions], values, height, label=fleet.name, color=colour)
        axes.bar_label(bars, labels=[f"{v:.1f}s" for v in values], padding=3, fontsize=8)
    axes.set_yticks(list(positions), [f"{what}\nproject / baseline {ratio(project, baseline, what):.2f}"
                                      for what in ROWS], fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel(f"seconds, median of {args.repeat} runs (first build: one run)")
    axes.set_title(f"{args.fleet} current-state models vs {args.fleet} plain dbt incremental models\n"
                   f"{args.events:,} events per change log, {args.threads} dbt threads, "
                   f"{os.cpu_count()} cores", fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    axes.margins(x=0.12)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def project_cycle_label() -> list[str]:
    return ["scripts/run_and_sync.py", "--selector", "fleet", "--only-changed"]


# --- main ----------------------------------------------------------------------------------

def make_fleets(work: Path, db: Path, tables: list[str], threads: int) -> tuple[Fleet, Fleet]:
    """Both projects, and a copy of this project's scripts/ taken now, like its macros/."""
    project_root, baseline_root = work / "project", work / "baseline"
    write_project_fleet(project_root, db, tables, threads)
    write_baseline_fleet(baseline_root, db, tables, threads)
    scripts = shutil.copytree(REPO / "scripts", work / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    project = Fleet("project", project_root, [])
    project.cycle = [str(PYTHON), str(scripts / "run_and_sync.py"), "--selector", "fleet", "--only-changed",
                     *project.dbt_flags()]
    baseline = Fleet("baseline", baseline_root, [])
    baseline.cycle = [str(DBT), "run", "--quiet", *baseline.dbt_flags()]
    return project, baseline


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
