"""`make demo`'s script end to end: a snapshot and one cycle on a fresh warehouse file,
with the history models and the reports built from them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_lands_builds_and_counts_the_current_state(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_TARGET_PATH": str(tmp_path / "target"),
           "DBT_LOG_PATH": str(tmp_path / "logs"), "DBT_PROFILES_DIR": str(REPO), "DBT_PROJECT_DIR": str(REPO)}
    done = subprocess.run([sys.executable, str(REPO / "scripts/run_demo.py"), "--db", str(db), "--cycles", "1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cycles = re.findall(r"^(snapshot|cycle 1|in flight) .*?([\d,]+) rows current", done.stdout, re.M)
    assert [label for label, _ in cycles] == ["snapshot", "cycle 1", "in flight"], done.stdout[-3000:]
    # Its first cycle recreates the customers' topic; the runbook follows the re-snapshot.
    assert "operation: recreate_topic customer_entity" in done.stdout
    assert "cdc_apply_resnapshot: customer_entity: removed" in done.stdout
    assert "The current state equals the simulated shop's rows in every table." in done.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        built = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
    assert {"history_magento__sales_order", "rpt_stockouts", "fct_order_state_durations",
            "rpt_customer_status_changes", "crm_contacts"} <= built
