"""Runs CRM cycles for a Snowflake target against fakesnow, over the emulator harness.

Used by tests/python/test_snowflake_noop_cycle.py, in a subprocess (fakesnow patches
the Snowflake connector process-wide). Steps, each with dbt's JSON debug log under
<work>/logs/<phase>/dbt.log:
  setup         `dbt seed`, then `dbt run` of every model (the deploy job and a first
                build), over a first batch of change events;
  cycle_changed a second batch lands in the CRM change logs, then
                run_and_sync --selector crm_realtime --only-changed (Hightouch: a
                local stand-in);
  cycle_noop    the same, with nothing new;
  build_noop    `dbt build --selector crm_realtime`, with nothing new;
  cycle_after_resnapshot  a re-snapshot of the first table lands and is applied, then
                recorded (cdc_apply_resnapshot), then a runner cycle.
<work>/summary.json (the harness's) adds each runner cycle's exit code ("cycles").

Usage: run_noop_cycle_on_fakesnow.py --project-dir DIR --work-dir DIR --models a,b,c
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.devtools.emulator import EmulatedSnowflake, chosen_tables, emulated_snowflake, runner_arguments
from magento_warehouse.devtools.emulator.landing import (
    RESNAPSHOT_MS,
    TARGET,
    first_batch,
    resnapshot_batch,
    second_batch,
)
from magento_warehouse.environment import temporary_environment
from magento_warehouse.runner import run_and_sync


def runner_cycle(snowflake: EmulatedSnowflake, phase: str, stub: HightouchStub) -> int:
    """One cycle of the CRM job, its dbt log under <work>/logs/<phase> (set by environment:
    the runner passes dbt only the project's flags)."""
    environment = {
        "DBT_TARGET_PATH": str(snowflake.target_path), "DBT_LOG_PATH": str(snowflake.work / "logs" / phase),
        "DBT_LOG_FORMAT_FILE": "json", "DBT_LOG_LEVEL_FILE": "debug", "DBT_LOG_FILE_MAX_BYTES": "0",
        "HIGHTOUCH_API_URL": stub.url, "HIGHTOUCH_API_KEY": "stub",
    }
    with temporary_environment(environment):
        return run_and_sync.main([
            "--selector", "crm_realtime", "--only-changed", "--project-dir", str(snowflake.project_dir),
            "--profiles-dir", str(snowflake.profiles_dir), "--target", TARGET, "--vars", snowflake.dbt_vars(),
            "--poll-interval", "0.05"])


def main() -> int:
    args = runner_arguments("comma-separated landing tables that receive events").parse_args()
    chosen = chosen_tables(args.models)
    with emulated_snowflake(Path(args.work_dir), Path(args.project_dir)) as snowflake, HightouchStub() as stub:
        cycles = snowflake.summary.setdefault("cycles", {})
        snowflake.land_batch(chosen, first_batch)
        snowflake.dbt("seed", "seed")
        snowflake.dbt("setup", "run")
        snowflake.land_batch(chosen, second_batch)
        for phase in ("cycle_changed", "cycle_noop"):
            cycles[phase] = runner_cycle(snowflake, phase, stub)
        snowflake.dbt("build_noop", "build", "--selector", "crm_realtime")
        # A re-snapshot, applied, then recorded: the cycle after it runs that table's model.
        table = chosen[0]
        snowflake.land(table, resnapshot_batch(snowflake.tables[table]))
        snowflake.dbt("resnapshot_run", "run", "--select", f"base_magento__{table}")
        snowflake.dbt("resnapshot", "run-operation", "cdc_apply_resnapshot", "--args",
                      json.dumps({"table": table, "snapshot_started_at_ms": RESNAPSHOT_MS}))
        cycles["cycle_after_resnapshot"] = runner_cycle(snowflake, "cycle_after_resnapshot", stub)
    return 0


if __name__ == "__main__":
    sys.exit(main())
