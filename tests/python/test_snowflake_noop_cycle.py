"""On Snowflake, a CRM cycle in which nothing landed sends nothing that needs a warehouse.

Snowflake's cloud services answer SHOW and DESCRIBE, DDL (a `create ... if not exists`
of what exists changes nothing) and session and transaction statements without a
running warehouse; any SELECT (INFORMATION_SCHEMA's included), DML, MERGE or CREATE
TABLE AS resumes the session's warehouse, billed 60 seconds at least. The emulator
(snowflake/run_noop_cycle_on_fakesnow.py, in a subprocess) runs a cycle that applies a
batch, then one with nothing new, through run_and_sync --only-changed, then a plain
`dbt build --selector crm_realtime`; every statement dbt sent is read from its JSON
debug log and classified. A warehouse statement in the no-op cycle fails the test,
named; under plain dbt build only the marts and their tests may send one (the
engine's models and hooks may not): that remaining cost is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO
from test_snowflake_sql import helper_env
from warehouse_statements import COMMENT, needs_warehouse

HELPER = Path(__file__).resolve().parent / "snowflake" / "run_noop_cycle_on_fakesnow.py"
CHANGED = ("customer_group", "sales_order", "newsletter_subscriber")
HELPER_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Sent:
    """One statement dbt sent, from its JSON log."""

    sql: str
    node: str  # unique id of the node that sent it, '' for dbt's own and run-operations

    @property
    def text(self) -> str:
        return " ".join(COMMENT.sub(" ", self.sql).split()).rstrip(";").strip()

    @property
    def label(self) -> str:
        """'crm_contacts: create or replace ...' (a test's id ends with a hash: its name is third)."""
        parts = self.node.split(".")
        return f"{parts[2] if len(parts) > 2 else '(no node)'}: {self.text[:140]}"


def read_sent(log: Path) -> list[Sent]:
    sent = []
    for line in log.read_text().splitlines():
        event = json.loads(line) if line.strip() else {}
        if event.get("info", {}).get("name") == "SQLQuery":
            data = event["data"]
            sent.append(Sent(data["sql"], (data.get("node_info") or {}).get("unique_id") or ""))
    return sent


@dataclass
class Cycles:
    work: Path
    stdout: str
    summary: dict

    def sent(self, phase: str) -> list[Sent]:
        log = self.work / "logs" / phase / "dbt.log"
        assert log.exists(), f"{phase} wrote no dbt log: {self.summary['phases'].get(phase)}"
        return read_sent(log)


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> Cycles:
    work = tmp_path_factory.mktemp("snowflake_noop")
    process = subprocess.run(
        [sys.executable, str(HELPER), "--project-dir", str(REPO), "--work-dir", str(work),
         "--models", ",".join(CHANGED)],
        cwd=work, env=helper_env(), capture_output=True, text=True, timeout=HELPER_TIMEOUT_SECONDS)
    summary_file = work / "summary.json"
    if process.returncode != 0 or not summary_file.exists():
        pytest.fail(f"the fakesnow helper failed (exit {process.returncode}):\n"
                    f"{process.stdout[-4000:]}\n{process.stderr[-4000:]}")
    summary = json.loads(summary_file.read_text())
    assert summary["emulator_failures"] == [], summary["emulator_failures"]
    for phase in ("seed", "setup", "build_noop", "resnapshot_run", "resnapshot"):
        assert summary["phases"][phase]["success"], (phase, summary["phases"][phase]["exception"])
    assert summary["cycles"] == {"cycle_changed": 0, "cycle_noop": 0, "cycle_after_resnapshot": 0}, \
        summary["cycles"]
    return Cycles(work, process.stdout, summary)


@pytest.mark.parametrize("sql, warehouse", [
    ("show tables like 'SALES_ORDER' in schema ANALYTICS.STREAMKAP /* {\"app\": \"dbt\"} */", False),
    ("/* dbt */ create table if not exists A.B.cdc_repairs (table_name varchar, kind varchar)", False),
    ("alter table A.B.cdc_watermarks add column if not exists held_to_ms bigint", False),
    ("alter table A.B.quote set comment = '[streamkap_cdc landed_rows=12]'", False),
    ("select column_name, ordinal_position from ANALYTICS.information_schema.columns where table_name = 'QUOTE'", True),
    ("select row_count from ANALYTICS.information_schema.tables", True),
    ("create table if not exists A.B.t as (select 1 as x)", True),
    ("create or replace transient table A.B.crm_contacts as (select 1 as x)", True),
    ("grant select on A.B.crm_contacts to HIGHTOUCH", False),
    ("merge into A.B.quote as t using (select 1 as id) as s on t.id = s.id when matched then delete", True),
])
def test_the_classification_of_statements(sql: str, warehouse: bool) -> None:
    assert needs_warehouse(sql) == warehouse


def test_the_changed_cycle_applies_the_batch_with_the_warehouse(cycles: Cycles) -> None:
    """The measure sees a warehouse when there is one: the changed cycle's MERGE of each table."""
    merges = {s.node.split("__")[-1] for s in cycles.sent("cycle_changed")
              if needs_warehouse(s.sql) and s.text.lower().startswith("merge into") and "base_magento__" in s.node}
    assert merges >= set(CHANGED), merges


def test_a_cycle_with_nothing_new_needs_no_warehouse(cycles: Cycles) -> None:
    sent = cycles.sent("cycle_noop")
    assert any(s.text.lower().startswith("show tables") for s in sent), "the fleet check sent no SHOW TABLES"
    warehouse = [s.label for s in sent if needs_warehouse(s.sql)]
    assert warehouse == [], "statements of the no-op cycle that resume the warehouse:\n" + "\n".join(warehouse)
    assert "Nothing to build" in cycles.stdout


def test_plain_dbt_build_leaves_the_warehouse_to_the_marts(cycles: Cycles) -> None:
    """Under `dbt build --selector crm_realtime`, the engine's models and hooks send only
    cloud-services statements; the marts, their tests and the commit of the marts' marks
    (on-run-end, only when a mart ran) still need it."""
    sent = cycles.sent("build_noop")
    engine = [s.label for s in sent if needs_warehouse(s.sql)
              and (s.node == "" or ".base_magento__" in s.node or "on-run-start" in s.node)]
    assert engine == [], "engine statements that resume the warehouse:\n" + "\n".join(engine)
    remaining = [s for s in sent if needs_warehouse(s.sql)]
    others = {s.node for s in remaining if s.node.split(".")[0] not in ("model", "test") and "on-run-end" not in s.node}
    assert not others, others
    print(f"\nplain dbt build, nothing new: {len(remaining)} of {len(sent)} statements need the warehouse:")
    for s in remaining:
        print(f"  {s.label[:110]}")


def test_a_recorded_resnapshot_makes_the_next_cycle_run_the_table(cycles: Cycles) -> None:
    """cdc_apply_resnapshot removes the landed-rows mark: the table's model runs in the next
    cycle, though its change log did not grow, and reads the re-snapshot; the others do not."""
    ran = {s.node.split(".")[-1] for s in cycles.sent("cycle_after_resnapshot") if ".base_magento__" in s.node}
    assert ran == {f"base_magento__{CHANGED[0]}"}, ran
