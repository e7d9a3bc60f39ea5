"""The few-minute CRM job's wall time, against an earlier definition of the same job.

Both jobs run side by side on copies of one simulated warehouse at demo scale, each
cycle landing the same micro-batch in both, then running each job's own command as
cron would (a new process, the Hightouch syncs against a local stand-in):

- this checkout: `run_and_sync.py --selector crm_realtime --only-changed`;
- the baseline, a git revision of this repository checked out in a temporary
  worktree (`--baseline`, by default the definition before the job ran only changed
  current-state models through watermarks): its `--baseline-args`.

Times are medians over the cycles, and the result is their ratio, so the machine's
speed cancels out. Needs the repository's git history.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch
from magento_warehouse.paths import project_dir

REPO = project_dir()

BASELINE = "e224bd1"
BASELINE_ARGS = "--selector crm_realtime_changed --state-dir {work}/baseline_state"
CURRENT_ARGS = "--selector crm_realtime --only-changed"


def job(project: Path, db: Path, args: str, work: Path, env: dict[str, str]) -> float:
    """Runs one CRM job cycle in a new process; returns its wall time in seconds."""
    command = [sys.executable, str(project / "scripts/run_and_sync.py"), *shlex.split(args.format(work=work)),
               "--project-dir", str(project), "--profiles-dir", str(project), "--poll-interval", "0.1"]
    started = time.perf_counter()
    result = subprocess.run(command, env={**env, "DBT_DUCKDB_PATH": str(db)}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=5, help="measured cycles (default: %(default)s)")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the baseline (default: %(default)s)")
    parser.add_argument("--baseline-args", default=BASELINE_ARGS, help="the baseline job's run_and_sync arguments")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="crm_cycle_") as tmp, HightouchStub() as stub:
        work = Path(tmp)
        baseline = work / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(baseline),
                        args.baseline], check=True)
        try:
            env = {**os.environ, "HIGHTOUCH_API_URL": stub.url, "HIGHTOUCH_API_KEY": "local-stand-in",
                   "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
            projects = {"baseline": (baseline, args.baseline_args), "current": (REPO, CURRENT_ARGS)}
            simulator = MagentoSimulator(seed=args.seed)
            first = work / "snapshot.duckdb"
            with duckdb.connect(str(first)) as con:
                write_batch(con, simulator.initial_load())
            dbs = {}
            for name, (project, job_args) in projects.items():
                dbs[name] = work / f"{name}.duckdb"
                shutil.copy(first, dbs[name])
                print(f"{name}: first build of the whole project...", flush=True)
                subprocess.run([str(Path(sys.executable).parent / "dbt"), "build", "--quiet", "--project-dir",
                                str(project), "--profiles-dir", str(project)],
                               env={**env, "DBT_DUCKDB_PATH": str(dbs[name])}, check=True)
                job(project, dbs[name], job_args, work, env)  # settles the job's own state
            times: dict[str, list[float]] = {name: [] for name in projects}
            for cycle in range(1, args.cycles + 1):
                batch = simulator.next_batch()
                for name, (project, job_args) in projects.items():
                    with duckdb.connect(str(dbs[name])) as con:
                        write_batch(con, batch)
                    times[name].append(job(project, dbs[name], job_args, work, env))
                print(f"cycle {cycle}: " + ", ".join(f"{n} {t[-1]:.2f}s" for n, t in times.items()), flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], check=False)

    base, current = (statistics.median(times[name]) for name in ("baseline", "current"))
    print(f"\nCRM job per cycle, medians of {args.cycles}: baseline ({args.baseline}) {base:.2f}s, "
          f"current {current:.2f}s")
    print(f"crm cycle: {current / base:.2f} of baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
