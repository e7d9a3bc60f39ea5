"""`make snowflake-check` (scripts/snowflake_check.py), which `make test` runs on the whole
project after pytest, in both landing shapes: here, that the check fails on a DuckDB-only
function and, in the quoted lowercase shape only, on a source test naming a landing column
bare; its deny-list and gap list."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from magento_warehouse.devtools import snowflake_check, snowflake_statements
from magento_warehouse.devtools.emulator import gaps as emulator_gaps

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "snowflake_check.py"


def run_check(work: Path, project_dir: Path, shapes: tuple[str, ...], *select: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(CHECK), "--work-dir", str(work), "--project-dir", str(project_dir),
            "--shapes", *shapes]
    return subprocess.run([*argv, *(["--select", *select] if select else [])], capture_output=True, text=True,
                          timeout=snowflake_check.TIMEOUT_SECONDS + 60)


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(REPO, project, ignore=shutil.ignore_patterns(".venv", ".git", "target", "logs", "warehouse",
                                                                  "dbt_packages", "node_modules", ".pytest_cache"))
    return project


def test_the_check_fails_on_a_duckdb_only_function(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    model = project / "models" / "staging" / "magento" / "stg_magento__customer_groups.sql"
    sql = model.read_text()
    injected = sql.replace("select", "select\n        epoch_ms(0) as injected_at,", 1)
    assert injected != sql
    model.write_text(injected)
    process = run_check(tmp_path / "check", project, ("upper",), "+stg_magento__customer_groups")
    # The emulator (DuckDB) runs epoch_ms; the deny-list does not let it through.
    assert process.returncode == 1, process.stdout[-4000:]
    assert "functions Snowflake lacks ['epoch_ms']" in process.stdout
    assert "stg_magento__customer_groups" in process.stdout


KEY_TEST = "source_not_null_magento_customer_group_customer_group_id"  # the column unquoted
# The source, and the current-state model its change-log audit also reads.
SELECTION = ("source:magento.customer_group", "base_magento__customer_group")


def test_quoted_lowercase_landing_columns_need_the_sources_column_quoting(tmp_path: Path) -> None:
    """Without `quoting: column:` the key's not_null test names "customer_group_id" bare,
    which Snowflake resolves upper-case: fine on UPPERCASE columns, unresolved on quoted
    lowercase ones. The emulator itself resolves any case; the check must not. (With the
    quoting, `make snowflake-check` runs the same tests in both shapes, and passes.)"""
    project = copy_project(tmp_path)
    sources = project / "models" / "staging" / "magento" / "_magento__sources.yml"
    text = sources.read_text()
    quoting = "    quoting:\n      column: \"{{ var('magento_landing_quoted_columns', false) | string | lower == 'true' }}\"\n"
    assert quoting in text
    sources.write_text(text.replace(quoting, ""))
    process = run_check(tmp_path / "check", project, ("upper", "quoted-lower"), *SELECTION)
    assert process.returncode == 1, process.stdout[-4000:]
    failed = process.stdout[process.stdout.index("FAILED"):]
    assert "[quoted-lower] columns Snowflake would not resolve in this landing shape" in failed, failed[:4000]
    assert KEY_TEST in failed and "CUSTOMER_GROUP_ID" in failed
    assert "[upper]" not in failed, failed[:4000]
    # The table names the shapes per resource.
    assert any(line.startswith("test.magento_warehouse." + KEY_TEST) and "upper, quoted-lower" in line
               for line in process.stdout.splitlines()), process.stdout[:4000]


@pytest.mark.parametrize("sql, denied", [
    ("select epoch_ms(1) as t", ["epoch_ms"]),
    ("select strftime(x, '%Y') from t", ["strftime"]),
    ("select * from range(3)", ["range"]),
    ("select list_contains(a, 1) from t", ["list_contains"]),
    ("select regexp_matches(a, 'x') from t", ["regexp_matches"]),
    ("select today()", ["today"]),
    ("select to_timestamp_ntz(x, 3), 'epoch_ms(' as s from t", []),  # a string literal is no call
    ("select sum(x) over (order by y range between unbounded preceding and current row) from t", []),
])
def test_the_deny_list(sql: str, denied: list[str]) -> None:
    assert snowflake_statements.denied_functions(sql) == denied


def test_the_gap_list_is_applied_before_the_emulator_runs_a_statement() -> None:
    gaps = emulator_gaps.load_gaps()
    runs, gap = emulator_gaps.emulated("create or replace temporary table a.b.c__dbt_tmp as (select 1)", gaps)
    assert gap == "temporary_table_catalog" and runs.startswith("create or replace table")
    assert emulator_gaps.emulated("grant select on table a.b.c to role r", gaps) == ("select 1", "grants")
    assert emulator_gaps.emulated("merge into a.b.c as t using (select 1 as x) as s on t.x = s.x "
                                  "when matched then delete", gaps)[1] is None


def test_a_seed_insert_dbt_logged_abridged_is_checked_as_far_as_the_log_holds_it() -> None:
    comment = '/* {"app": "dbt", "node_id": "seed.magento_warehouse.a_long_seed_name", "pad": "' + "x" * 600 + '"} */'
    insert = "insert into analytics.dbt_seeds.a_long_seed_name (a, b) values " + ",".join(["(%s,%s)"] * 80)
    cut_in_comment = (comment + "\n" + insert)[:snowflake_statements.ABRIDGED] + "..."
    assert snowflake_statements.bound(cut_in_comment) == ""
    cut_in_rows = ('/* {"node_id": "seed.x"} */\n' + insert)[:snowflake_statements.ABRIDGED] + "..."
    assert snowflake_statements.bound(cut_in_rows) == (
        '/* {"node_id": "seed.x"} */\ninsert into analytics.dbt_seeds.a_long_seed_name values (?)')
    assert snowflake_statements.parse_error(cut_in_comment) is None
    assert snowflake_statements.parse_error(cut_in_rows) is None
    # A statement logged whole is parsed whole.
    assert snowflake_statements.parse_error(insert[:200] + " values") is not None
