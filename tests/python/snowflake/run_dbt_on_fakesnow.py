"""Runs dbt for a Snowflake target against fakesnow, an in-process Snowflake emulator.

Used by tests/python/test_snowflake_sql.py, which starts this script in a subprocess
so that fakesnow's patching of the Snowflake connector never reaches the pytest
process. No Snowflake account is needed or contacted.

Steps, over the emulator harness (magento_warehouse.devtools.emulator), which creates
the landing schema and every landing table and adapts what emulator_gaps.yml lists:
  1. write a first batch of change events to a few landing tables;
  2. `dbt run` of those tables' base models (first build: create table as);
  3. write a second batch (updates, deletes, a late stale event, a new key);
  4. `dbt run` again (incremental: temp table, MERGE, post-hook delete);
  5. `dbt compile` of every base model (incremental for the built ones).

<work>/summary.json (the harness's) adds the current state of the built tables after
each run.

Usage: run_dbt_on_fakesnow.py --project-dir DIR --work-dir DIR --models a,b,c
"""

from __future__ import annotations

import json
import sys
from typing import Any

from magento_warehouse.devtools.emulator import EmulatedSnowflake, chosen_tables, emulated_snowflake, runner_arguments
from magento_warehouse.devtools.emulator.landing import (
    LABEL_COLUMNS,
    LANDING_DATABASE,
    LANDING_SCHEMA,
    RESNAPSHOT_MS,
    first_batch,
    late_event,
    resnapshot_batch,
    second_batch,
)


def snapshot(snowflake: EmulatedSnowflake, phase: str, chosen: list[str], relations: dict[str, str]) -> None:
    """The built tables' rows after `phase`, keyed by table."""
    state = snowflake.summary.setdefault("tables", {}).setdefault(phase, {})
    for name in chosen:
        key = snowflake.tables[name].primary_key
        try:
            if name not in relations:
                relations[name] = snowflake.relation(f"base_magento__{name}")
            rows = snowflake.rows(f"select * from {relations[name]} order by {key}")
            state[name] = {"relation": relations[name], "key": key, "label": LABEL_COLUMNS[name], "rows": rows}
        except Exception as error:  # missing when a run failed
            state[name] = {"relation": relations.get(name), "error": repr(error)}


def repairs(snowflake: EmulatedSnowflake, chosen: list[str], relations: dict[str, str]) -> None:
    """A nightly repair, a re-snapshot, the audit and source freshness."""
    selection = ["--select", *(f"base_magento__{name}" for name in chosen)]
    for name in chosen:
        snowflake.land(name, [late_event(snowflake.tables[name])])
    snowflake.dbt("repair", "run", *selection, extra_vars={"cdc_repair": True})
    snapshot(snowflake, "repair", chosen, relations)
    for name in chosen:
        snowflake.land(name, resnapshot_batch(snowflake.tables[name]))
    snowflake.dbt("resnapshot_run", "run", *selection)
    for name in chosen:
        snowflake.dbt(f"resnapshot_{name}", "run-operation", "cdc_apply_resnapshot", "--args",
                      json.dumps({"table": name, "snapshot_started_at_ms": RESNAPSHOT_MS}))
    snapshot(snowflake, "resnapshot", chosen, relations)
    snowflake.dbt("audit", "test", "--select", *(f"base_magento__{n}" for n in chosen),
                  *(f"source:magento.{n}" for n in chosen))
    snowflake.dbt("freshness", "source", "freshness", "--select", *(f"source:magento.{n}" for n in chosen),
                  "--output", str(snowflake.target_path / "sources.json"))


def main() -> int:
    parser = runner_arguments("comma-separated landing tables to build")
    parser.add_argument("--repairs", action="store_true",
                        help="then a nightly repair, a re-snapshot, the audit and source freshness")
    args = parser.parse_args()
    chosen = chosen_tables(args.models)
    relations: dict[str, str] = {}
    with emulated_snowflake(args.work_dir, args.project_dir, quoted=args.column_case == "quoted-lower") as snowflake:
        snowflake.summary["tables"] = {}
        selection = ["--select", *(f"base_magento__{name}" for name in chosen)]
        for batch, phase in ((first_batch, "run_1"), (second_batch, "run_2")):
            snowflake.land_batch(chosen, batch)
            snowflake.dbt(phase, "run", *selection)
            snapshot(snowflake, phase, chosen, relations)
        # The runner's question for the whole fleet (runner/change_check.py): nothing new now.
        target_database, target_schema = relations[chosen[0]].replace('"', "").split(".")[:2]
        target: dict[str, Any] = {"database": target_database, "schema": target_schema}
        snowflake.dbt("fleet_status", "run-operation", "cdc_fleet_status", "--args", json.dumps(
            {"schemas": [{"database": LANDING_DATABASE, "schema": LANDING_SCHEMA}, target],
             "target_schemas": [target]}))
        if args.repairs:
            repairs(snowflake, chosen, relations)
        snowflake.catalog()
        snowflake.dbt("compile", "compile", "--select", "path:models/staging/magento/base",
                      "--exclude", "resource_type:test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
