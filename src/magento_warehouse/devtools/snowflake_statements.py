"""The statements of an emulated run, checked as Snowflake would take them: parsed with
sqlglot's Snowflake dialect, scanned for DuckDB-only functions and resolved by
Snowflake's identifier rules; and each resource's outcome (executed, as emulated,
parsed only) by the emulator gap entries its statements matched."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from magento_warehouse.devtools import identifiers
from magento_warehouse.devtools.dbt_log import node_id, sql_queries

PHASES = ("seed", "build", "freshness", "merge_run", "scaffold")
# DuckDB functions Snowflake does not have (list_* is a prefix).
DENIED = {"epoch_ms", "strftime", "range", "regexp_matches", "today", "epoch", "strptime", "struct_pack",
          "current_localtimestamp"}
DENIED_PREFIXES = ("list_",)
DENIED_RE = re.compile(r"\b(" + "|".join(sorted(DENIED)) + r"|list_\w+)\s*\(", re.IGNORECASE)
LANDING_SCHEMA = "STREAMKAP"  # the emulator harness's landing schema



def read_statements(log_file: Path, phase: str) -> list[dict[str, str]]:
    if not log_file.exists():
        return []
    return [{"phase": phase, "node": node_id(query) or f"({phase}: dbt)", "sql": query["sql"]}
            for query in sql_queries(log_file)]


def strip_literals(sql: str) -> str:
    """The SQL without string literals and comments, for the regex fallback."""
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    sql = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return sql


@functools.lru_cache(maxsize=None)  # most statements are the same in both shapes
def denied_functions(sql: str) -> list[str]:
    """Functions Snowflake lacks, by name in the parsed tree and by regex."""
    import sqlglot
    from sqlglot import exp

    found = set()
    sql = bound(sql)
    try:
        trees = sqlglot.parse(sql, read="snowflake")
    except sqlglot.errors.SqlglotError:
        trees = []
    for tree in trees:
        if tree is None:
            continue
        # Names sqlglot does not know come back as Anonymous; a known function loses the
        # spelling it was called by (DATEDIFF and DATE_DIFF are one class): the regex has it.
        for func in tree.find_all(exp.Anonymous):
            name = func.name.lower()
            if name in DENIED or name.startswith(DENIED_PREFIXES):
                found.add(name)
    found |= {m.lower() for m in DENIED_RE.findall(strip_literals(sql))}
    return sorted(found)


ABRIDGED = 512  # dbt logs a seed's insert cut to this many characters, then "..."


def bound(sql: str) -> str:
    """A seed's insert as Snowflake gets it: dbt logs it with the connector's %s
    placeholders (bound to `?`), abridged to its first 512 characters and "...". Of an
    abridged insert, what the log holds is checked: its query comment, and the insert's
    table with one row of placeholders (a cut column list or row cannot be parsed)."""
    if not (sql.endswith("...") and len(sql) == ABRIDGED + 3):
        return re.sub(r"\*/\.\.\.\s*$", "*/", sql.replace("%s", "?"))
    head, opened, rest = sql[:ABRIDGED].replace("%s", "?").partition("/*")
    comment, closed, statement = rest.partition("*/")
    comment = f"{opened}{comment}{closed}" if closed else ""  # a comment cut short is dropped
    insert = re.match(r"\s*insert\s+into\s+[^\s(]+", statement if closed else head, re.IGNORECASE)
    return f"{head if closed else ''}{comment}{insert.group(0) + ' values (?)' if insert else ''}"


@functools.lru_cache(maxsize=None)
def parse_error(sql: str) -> str | None:
    import sqlglot
    from sqlglot import exp

    sql = bound(sql)
    try:
        parsed = [e for e in sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
                  if e is not None and not isinstance(e, exp.Semicolon)]
    except sqlglot.errors.SqlglotError as error:
        return str(error).splitlines()[0]
    if len(parsed) > 1 and not all(isinstance(p, (exp.Create, exp.Command)) for p in parsed):
        return f"{len(parsed)} statements"
    return None


_RESOLVED: dict[tuple[str, str], list[str]] = {}


def unresolved_columns(sql: str, catalog: Any, fingerprints: tuple[str, str]) -> list[str]:
    """Column references Snowflake could not resolve (unquoted names resolve upper-case).

    `fingerprints`: of the whole catalog and of the catalog without the landing schema. A
    statement that names no landing table resolves alike wherever the rest is alike, so
    the shapes share its answer."""
    import sqlglot

    key = (sql, fingerprints[0] if LANDING_SCHEMA.lower() in sql.lower() else fingerprints[1])
    if key not in _RESOLVED:
        try:
            _RESOLVED[key] = identifiers.unresolved(bound(sql), catalog)[0]
        except sqlglot.errors.ParseError:  # parse_error reports it
            _RESOLVED[key] = []
    return _RESOLVED[key]


def fingerprint(rows: list[list[str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest()


def check_shape(work: Path, gaps: list[dict[str, Any]]) -> dict[str, Any]:
    """One landing shape's run: its problems, each resource's outcome, what it covered."""
    summary = json.loads((work / "summary.json").read_text())
    statements = [s for phase in PHASES for s in read_statements(work / "logs" / phase / "dbt.log", phase)]
    rows = summary.get("catalog") or []
    catalog = identifiers.catalog_from_rows(rows)
    fingerprints = (fingerprint(rows), fingerprint([r for r in rows if r[1].upper() != LANDING_SCHEMA.upper()]))
    problems: list[str] = []
    resources: dict[str, dict[str, Any]] = {}

    def resource(node: str) -> dict[str, Any]:
        return resources.setdefault(node, {"statements": 0, "gaps": set(), "status": set()})

    for phase, outcome in summary["phases"].items():
        for r in outcome["results"]:
            resource(r["unique_id"])["status"].add(r["status"])
            # A data test that ran and found rows executed its SQL: the emulated events are
            # synthetic (no store rows, for one), so its verdict says nothing about Snowflake.
            # Sources are stale by design (events from 2023).
            if r["status"] == "error" and phase != "freshness":
                problems.append(f"{phase}: {r['unique_id']} error: {(r['message'] or '')[:800]}")
        if outcome["exception"] is not None:
            problems.append(f"{phase} failed: {outcome['exception']}")

    hit_sql = {}
    for hit in summary["gap_hits"]:
        hit_sql.setdefault(hit["sql"], hit["gap"])
    for statement in statements:
        entry = resource(statement["node"])
        entry["statements"] += 1
        if statement["sql"] in hit_sql:
            entry["gaps"].add(hit_sql[statement["sql"]])
        error = parse_error(statement["sql"])
        if error:
            problems.append(f"not Snowflake SQL ({error}) [{statement['node']}]:\n{statement['sql'][:1500]}")
        denied = denied_functions(statement["sql"])
        if denied:
            problems.append(f"functions Snowflake lacks {denied} [{statement['node']}]:\n{statement['sql'][:1500]}")
        unresolved = unresolved_columns(statement["sql"], catalog, fingerprints)
        if unresolved:
            problems.append(f"columns Snowflake would not resolve in this landing shape {unresolved} "
                            f"[{statement['node']}]:\n{statement['sql'][:1500]}")
    for failure in summary["emulator_failures"]:
        if not failure["gap"]:
            problems.append(f"the emulator failed on a statement no gap entry lists ({failure['error'][:300]}):\n"
                            f"{failure['sql'][:1500]}")
    # The merge run: each current-state model with new events sent its MERGE and succeeded.
    merge_run = summary["phases"].get("merge_run", {"results": []})
    base = [r for r in merge_run["results"] if ".base_magento__" in r["unique_id"]]
    merged = {s["node"] for s in statements if s["phase"] == "merge_run"
              and re.match(r"\s*merge\s+into\s", s["sql"], re.IGNORECASE)}
    for name in () if summary.get("select") else ("customer_group", "sales_order", "newsletter_subscriber"):
        node = next((r["unique_id"] for r in base if r["unique_id"].endswith(f".base_magento__{name}")), None)
        if node is None or node not in merged:
            problems.append(f"the merge run sent no MERGE for base_magento__{name}")
    # Every kind of resource was checked: a check that silently covers less proves less.
    kinds = {node.split(".")[0] for node in resources}
    for kind in () if summary.get("select") else ("seed", "model", "test", "source", "unit_test"):
        if kind not in kinds:
            problems.append(f"no {kind} was checked")

    reasons = {gap["id"]: gap["reason"] for gap in gaps}
    actions = {gap["id"]: gap["emulate"] for gap in gaps}
    outcomes: dict[str, str] = {}
    for node, entry in resources.items():
        if not entry["statements"]:
            outcome = "no SQL (" + ", ".join(sorted(entry["status"])) + ")"
        else:
            # noop/answer: the statement was parsed, not run; rewrite: run in an emulated form.
            skipped = sorted(reasons[g] for g in entry["gaps"] if actions[g] in ("noop", "answer"))
            adapted = sorted(reasons[g] for g in entry["gaps"] if actions[g] not in ("noop", "answer"))
            outcome = "executed"
            if adapted:
                outcome += " as emulated (" + "; ".join(adapted) + ")"
            if skipped:
                outcome += ", some statements parsed only (" + "; ".join(skipped) + ")"
            if "fail" in entry["status"]:
                outcome += " [test found rows in the synthetic data]"
        outcomes[node] = outcome
    counts: dict[str, int] = {}
    for entry in resources.values():
        kind = "no SQL" if not entry["statements"] else "executed, with gaps" if entry["gaps"] else "executed"
        counts[kind] = counts.get(kind, 0) + 1
    return {"problems": problems, "outcomes": outcomes, "counts": counts, "statements": len(statements),
            "seconds": {phase: outcome.get("seconds", "?") for phase, outcome in summary["phases"].items()},
            "gaps_used": {hit["gap"] for hit in summary["gap_hits"]}, "select": bool(summary.get("select"))}


