"""Which current-state models have events to apply: one question for the whole fleet.

The few-minute job builds only the current-state models whose change log grew since
their last successful run. `dbt run-operation cdc_fleet_status` answers for every
model at once from the engine's metadata: the row count of every table of the
landing and current-state schemas, then the row count each change log had when its
model last ran (the watermarks table). Two queries, whatever the number of models
or the length of the logs. On Snowflake, one SHOW TABLES per schema instead, the
recorded count read from each target's landed-rows mark: no warehouse resumes for a
cycle with nothing new. A change log is append-only, so another count means new
events. A model that failed recorded nothing, so it counts as changed on the next
run; so do a model never run and one whose table is missing.
"""

from __future__ import annotations

import json
from typing import Any

from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

MACRO = "cdc_fleet_status"
MARKER = f"{MACRO}: "
MATERIALIZATION = "cdc_current_state"


class ChangeCheckError(Exception):
    """The check could not run; the caller should build every model rather than guess."""


def is_current_state_model(manifest: Manifest, unique_id: str) -> bool:
    node = manifest.nodes.get(unique_id)
    return node is not None and node.resource_type == "model" and node.config.materialized == MATERIALIZATION


def _schema(database: str | None, schema: str) -> str:
    return f"{database}.{schema}".lower()


def unchanged_models(manifest: Manifest, dbt_flags: list[str], callbacks: list[Any] | None = None) -> set[str]:
    """Unique ids of the current-state models with nothing new to apply (`callbacks` also get dbt's events)."""
    models: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}  # id -> (change log, table)
    schemas: dict[str, dict[str, str]] = {}
    targets: dict[str, dict[str, str]] = {}
    for unique_id, node in manifest.nodes.items():
        if not is_current_state_model(manifest, unique_id):
            continue
        source = next((manifest.sources[d] for d in node.depends_on.nodes if d.startswith("source.")), None)
        if source is None:
            continue
        landing, target = _schema(source.database, source.schema), _schema(node.database, node.schema)
        models[unique_id] = ((landing, source.identifier.lower()), (target, (node.alias or node.name).lower()))
        schemas.setdefault(landing, {"database": source.database, "schema": source.schema})
        targets.setdefault(target, {"database": node.database, "schema": node.schema})
    if not models:
        return set()
    status = _fleet_status(manifest, dbt_flags, list({**schemas, **targets}.values()), list(targets.values()),
                           callbacks or [])
    rows, applied = _counts(status["tables"]), _counts(status["applied"])
    return {unique_id for unique_id, (change_log, table) in models.items()
            if table in rows and rows.get(change_log) is not None and applied.get(table) == rows[change_log]}


def _counts(listing: str) -> dict[tuple[str, str], int | None]:
    """'schema<TAB>table<TAB>rows' lines (as cdc_fleet_status logs them) -> {(schema, table): rows}."""
    counts: dict[tuple[str, str], int | None] = {}
    for line in filter(None, listing.split("\n")):
        schema, table, count = line.split("\t")
        counts[(schema, table)] = int(count) if count else None
    return counts


def _fleet_status(manifest: Manifest, dbt_flags: list[str], schemas: list[dict[str, str]],
                  target_schemas: list[dict[str, str]], callbacks: list[Any]) -> dict[str, Any]:
    messages: list[str] = []

    def capture(event: Any) -> None:
        if event.info.name == "JinjaLogInfo" and event.info.msg.startswith(MARKER):
            messages.append(event.info.msg[len(MARKER):])

    arguments = json.dumps({"schemas": schemas, "target_schemas": target_schemas})
    result = dbtRunner(manifest=manifest, callbacks=[capture, *callbacks]).invoke(
        ["run-operation", MACRO, "--args", arguments, "--quiet", "--no-write-json", *dbt_flags])
    if not result.success or not messages:
        raise ChangeCheckError(f"could not find which change logs have new events: {result.exception or 'no answer'}")
    return json.loads(messages[-1])
