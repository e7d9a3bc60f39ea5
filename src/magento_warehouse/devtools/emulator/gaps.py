"""What the emulator cannot run as Snowflake would, and what it runs instead.

Every adaptation of a statement in the emulator is an entry of emulator_gaps.yml (next
to this module); the harness installs them all in fakesnow's cursor and records each
statement an entry matched (`gap_hits`) and each statement the emulator failed on
(`emulator_failures`). dbt logs a statement before the connector sees it, so the logged
SQL is always dbt's own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

GAPS_FILE = Path(__file__).resolve().with_name("emulator_gaps.yml")


def load_gaps(path: Path = GAPS_FILE) -> list[dict[str, Any]]:
    gaps = yaml.safe_load(path.read_text())["gaps"]
    for gap in gaps:
        gap["regex"] = re.compile(gap["match"], re.IGNORECASE | re.DOTALL)
    return gaps


def without_column_list(sql: str) -> str | None:
    """`create table t (columns) as (select ...)` as `create table t as (select ...)` (a
    temporary table's also without `temporary`)."""
    head = re.match(r"^\s*create\s+or\s+replace\s+(transient\s+|temporary\s+)?table\s+\S+\s*", sql, re.IGNORECASE)
    if not head or sql[head.end():head.end() + 1] != "(":
        return None
    depth = 0
    for position in range(head.end(), len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[position], 0)
        if depth == 0:
            rest = sql[position + 1:]
            # A temporary one also loses `temporary` (gap temporary_table_catalog).
            start = re.sub(r"\btemporary\s+", "", sql[:head.end()], count=1, flags=re.IGNORECASE)
            return start + rest if re.match(r"\s*as\s*\(", rest, re.IGNORECASE) else None
    return None


def emulated(command: str, gaps: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(what the emulator runs, the gap's id or None) for a statement dbt sent."""
    for gap in gaps:
        if not gap["regex"].match(command):
            continue
        action = gap["emulate"]
        if action == "noop":
            return "select 1", gap["id"]
        if action == "answer":
            return gap["sql"], gap["id"]
        if action == "rewrite":
            return re.sub(gap["pattern"], gap["replacement"], command, count=1, flags=re.IGNORECASE), gap["id"]
        if action == "drop_column_list":
            rewritten = without_column_list(command)
            if rewritten is not None:
                return rewritten, gap["id"]
            continue
        raise ValueError(f"unknown emulate action {action!r} in {GAPS_FILE}")
    return command, None


def install(gaps: list[dict[str, Any]], hits: list[dict[str, str]], failures: list[dict[str, str]]) -> None:
    """Runs each statement in fakesnow as its gap entry says; records hits and failures."""
    import fakesnow.cursor

    original = fakesnow.cursor.FakeSnowflakeCursor.execute

    def execute(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        gap = None
        if isinstance(command, str):
            runs, gap = emulated(command, gaps)
            if gap:
                hits.append({"gap": gap, "sql": command})
            command_to_run = runs
        else:
            command_to_run = command
        try:
            return original(self, command_to_run, *args, **kwargs)
        except Exception as error:
            failures.append({"sql": command, "error": f"{type(error).__name__}: {error}", "gap": gap or ""})
            raise

    fakesnow.cursor.FakeSnowflakeCursor.execute = execute
