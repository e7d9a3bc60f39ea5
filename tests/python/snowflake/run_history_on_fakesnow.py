"""Runs the history models for a Snowflake target against fakesnow, over the emulator
harness (magento_warehouse.devtools.emulator) and its landing events.

Steps, in one emulated Snowflake: the first batch of events; `dbt run` of the history
models (create table as); the second batch (updates, deletes, a late event older than
its key's newest); `dbt run` (incremental: temporary table, MERGE); `dbt run` with
cdc_repair (every key through the MERGE); `cdc_write_states_as_of`; `dbt compile` of
the history models and the reports that read them. Each command writes its JSON log
under <work>/logs/<phase>/dbt.log; <work>/summary.json has each command's outcome and
the history rows after each run.

Usage: run_history_on_fakesnow.py --project-dir DIR --work-dir DIR --models a,b
"""

from __future__ import annotations

import json
import sys

from magento_warehouse.devtools.emulator import EmulatedSnowflake, chosen_tables, emulated_snowflake, runner_arguments
from magento_warehouse.devtools.emulator.landing import LABEL_COLUMNS, first_batch, second_batch

REPORTS = ["rpt_stockouts", "fct_order_state_durations", "rpt_customer_status_changes"]


def snapshot(snowflake: EmulatedSnowflake, phase: str, chosen: list[str]) -> None:
    for name in chosen:
        try:
            rows = snowflake.rows(f"select * from {snowflake.relation(f'history_magento__{name}')}")
            snowflake.summary["tables"].setdefault(phase, {})[name] = {
                "key": snowflake.tables[name].primary_key, "label": LABEL_COLUMNS[name], "rows": rows}
        except Exception as error:  # missing when a run failed
            snowflake.summary["tables"].setdefault(phase, {})[name] = {"error": repr(error)}


def main() -> int:
    parser = runner_arguments("comma-separated landing tables whose history to build")
    args = parser.parse_args()
    chosen = chosen_tables(args.models)
    with emulated_snowflake(args.work_dir, args.project_dir, quoted=args.column_case == "quoted-lower") as snowflake:
        snowflake.summary["tables"] = {}
        selection = ["--select", "path:models/staging/magento/history"]
        for batch, phase in ((first_batch, "run_1"), (second_batch, "run_2")):
            snowflake.land_batch(chosen, batch)
            snowflake.dbt(phase, "run", *selection)
            snapshot(snowflake, phase, chosen)
        snowflake.dbt("repair", "run", *selection, extra_vars={"cdc_repair": True})
        snapshot(snowflake, "repair", chosen)
        snowflake.dbt("as_of", "run-operation", "cdc_write_states_as_of",
                      "--args", json.dumps({"at": "2023-11-14 22:13:40", "schema": "PIT_MAGENTO"}))
        snowflake.catalog()
        snowflake.dbt("compile", "compile", "--select", "path:models/staging/magento/history", *REPORTS,
                      "--exclude", "resource_type:test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
