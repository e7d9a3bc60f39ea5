"""make snowflake-check: every resource of the project, for a snowflake target, in an emulator.

No Snowflake account is reachable, so the project runs against fakesnow (an in-process
Snowflake emulator on DuckDB) in a subprocess (fakesnow patches the Snowflake connector),
once per landing shape, the two in parallel: landing columns UPPERCASE unquoted
(Streamkap's default, `upper`) and "quoted lowercase" (`quoted-lower`, with var
magento_landing_quoted_columns: true). In each:

  1. the landing schema of the simulator (demo/simulator/schema.py), a first batch of change events
     in a few change logs (the others empty);
  2. `dbt seed`, `dbt build` (every model, data test and unit test), `dbt source freshness`;
  3. a second batch, then `dbt run` of the current-state and history models: the
     incremental path (the MERGE), which must execute;
  4. `scripts/scaffold_cdc.py --check` against the same target.

The emulated runs use the emulator harness (devtools/emulator), in a subprocess each.

Every statement dbt sends (the SQLQuery events of its JSON debug logs) is then parsed
with sqlglot's Snowflake dialect (errors raise) and scanned for functions Snowflake
lacks (DENIED, by function name in the parsed tree, and by regex as a fallback). The
emulator (DuckDB) resolves names in any letter case, so each statement's column
references are also resolved against the emulator's catalog by Snowflake's rules
(devtools/identifiers.py): unquoted upper-case, quoted as written.

Where the emulator cannot run a statement as Snowflake would, the statement is run as
devtools/emulator/emulator_gaps.yml says and its resource listed as "parsed only"
with the reason. A statement the emulator fails on that matches no entry fails the
check; an entry that matched nothing is reported as stale.

Prints a table: resource, landing shapes -> executed / parsed only (why); a resource
whose outcome differs between the shapes has a line per shape. Exit 0 when both shapes
are clean, 1 otherwise.

Usage: .venv/bin/python scripts/snowflake_check.py [--work-dir DIR] [--project-dir DIR] [--shapes SHAPE...]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from magento_warehouse.engine_package import link_engine_package
from magento_warehouse.devtools.emulator import emulated_snowflake
from magento_warehouse.devtools.emulator.gaps import load_gaps
from magento_warehouse.devtools.emulator.landing import LABEL_COLUMNS, TARGET, first_batch, second_batch
from magento_warehouse.devtools.snowflake_statements import check_shape
from magento_warehouse.paths import project_dir as project_dir_default
from magento_warehouse.scaffold import scaffold_cdc
from magento_warehouse.scaffold.landing import operation_project

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its notes on `show ...` commands

# Landing shape -> whether Streamkap quotes the columns (var magento_landing_quoted_columns).
SHAPES = {"upper": False, "quoted-lower": True}
TIMEOUT_SECONDS = 900


# --- inside the emulator (subprocess) ------------------------------------------------


def scaffold_check(work: Path, project_dir: Path, profiles_dir: Path, dbt_vars: str) -> dict:
    """`scaffold_cdc.py --check` in this process, through the same emulated connection."""
    started = time.monotonic()
    # Its own target path: the other shape's scaffold may run at the same time.
    os.environ.update(DBT_LOG_PATH=str(work / "logs" / "scaffold"), DBT_LOG_FORMAT_FILE="json",
                      DBT_TARGET_PATH=str(work / "target_scaffold"))
    try:
        code = scaffold_cdc.main(["--check", "--project-dir", str(project_dir), "--profiles-dir",
                                  str(profiles_dir), "--target", TARGET, "--vars", dbt_vars])
        return {"success": code == 0, "exception": None if code == 0 else f"exit {code}",
                "results": [], "seconds": round(time.monotonic() - started, 1)}
    except SystemExit as exit_:
        return {"success": exit_.code == 0, "exception": f"exit {exit_.code}", "results": []}
    except Exception:
        return {"success": False, "exception": traceback.format_exc(), "results": []}


def emulate(work: Path, project_dir: Path, select: list[str], shape: str) -> int:
    with emulated_snowflake(work, project_dir, quoted=SHAPES[shape], write_json=False) as snowflake:
        snowflake.summary.update(select=select, shape=shape)
        snowflake.land_batch(list(LABEL_COLUMNS), first_batch)  # a few change logs with events; the others empty
        if select:  # a quick check of a few resources
            snowflake.dbt("build", "build", "--select", *select)
            snowflake.catalog()
            return 0
        snowflake.dbt("seed", "seed")
        snowflake.dbt("build", "build", "--exclude", "resource_type:seed")
        snowflake.dbt("freshness", "source", "freshness", "--output", str(work / "target" / "sources.json"))
        snowflake.land_batch(list(LABEL_COLUMNS), second_batch)
        snowflake.dbt("merge_run", "run", "--select", "path:models/staging/magento/base",
                      "path:models/staging/magento/history")
        snowflake.summary["phases"]["scaffold"] = scaffold_check(work, project_dir, snowflake.profiles_dir,
                                                                 snowflake.dbt_vars())
        snowflake.catalog()
    return 0


# --- the check (this process) --------------------------------------------------------


def check(works: dict[str, Path]) -> int:
    """Checks each landing shape's run; prints one table of resources with the shapes."""
    gaps = load_gaps()
    results = {shape: check_shape(work, gaps) for shape, work in works.items()}
    nodes = sorted({node for result in results.values() for node in result["outcomes"]})
    width = max(len(", ".join(results)), len("shapes"))
    print(f"{'resource':<100} {'shapes':<{width}} outcome")
    for node in nodes:
        by_outcome: dict[str, list[str]] = {}
        for shape, result in results.items():  # a test named after a quoted column exists in one shape
            if node in result["outcomes"]:
                by_outcome.setdefault(result["outcomes"][node], []).append(shape)
        for outcome, shapes in by_outcome.items():
            print(f"{node:<100} {', '.join(shapes):<{width}} {outcome}")
    print()
    for shape, result in results.items():
        seconds = ", ".join(f"{phase} {s} s" for phase, s in result["seconds"].items())
        print(f"{shape}: {result['statements']} statements parsed as Snowflake SQL; resources: {result['counts']}; "
              f"{seconds}")
    select = any(result["select"] for result in results.values())
    stale = [] if select else sorted({gap["id"] for gap in gaps} - set().union(*(r["gaps_used"] for r in results.values())))
    if stale:
        print(f"\nemulator gap entries that matched nothing (stale, remove them): {', '.join(stale)}")
    problems = [f"[{shape}] {problem}" for shape, result in results.items() for problem in result["problems"]]
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)\n")
        print("\n\n".join(problems))
        return 1
    print(f"\nsnowflake-check: OK ({', '.join(results)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=None)  # target/snowflake_check of the project
    parser.add_argument("--project-dir", type=Path, default=None)  # $DBT_PROJECT_DIR, else the current folder's
    parser.add_argument("--select", nargs="+", default=[],
                        help="only `dbt build --select` these (no seeds, freshness, merge run or scaffold)")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES),
                        help="landing column shapes to run (default: all)")
    parser.add_argument("--shape", choices=list(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--emulate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    project_dir = (args.project_dir or project_dir_default()).resolve()
    work = (args.work_dir or project_dir / "target" / "snowflake_check").resolve()
    link_engine_package(project_dir)  # a copy without dbt_packages/ gets the engine as `dbt deps` installs it
    if args.emulate:
        return emulate(work, project_dir, args.select, args.shape)
    if work.exists():
        import shutil

        shutil.rmtree(work)
    works = {shape: work / shape for shape in dict.fromkeys(args.shapes)}
    if not args.select:
        # The scaffold's operation project is shared by the shapes: set it up before they run.
        operation_project(project_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "MAGENTO_LANDING_", "SNOWFLAKE_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    processes = {}
    for shape, shape_work in works.items():
        shape_work.mkdir(parents=True)
        command = [sys.executable, "-m", __name__, "--emulate", "--shape", shape, "--work-dir", str(shape_work),
                   "--project-dir", str(project_dir), *(["--select", *args.select] if args.select else [])]
        # Output to a file: a pipe read only after the other shape's run would fill and
        # stall this one until then.
        with open(shape_work / "output.txt", "w") as output:
            processes[shape] = subprocess.Popen(command, cwd=shape_work, env=env, stdout=output,
                                                stderr=subprocess.STDOUT)
    failed = False
    deadline = time.monotonic() + TIMEOUT_SECONDS
    for shape, process in processes.items():
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode != 0 or not (works[shape] / "summary.json").exists():
            output = (works[shape] / "output.txt").read_text(errors="replace")
            print(f"the emulated run of landing shape {shape} failed (exit {process.returncode}):\n{output[-8000:]}")
            failed = True
    return 1 if failed else check(works)


if __name__ == "__main__":
    sys.exit(main())
