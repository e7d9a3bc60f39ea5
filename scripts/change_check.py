"""Which current-state models have events to apply: one question for the whole fleet.

The few-minute job builds only the current-state models whose change log grew since
their last successful run. `dbt run-operation cdc_changed_models` answers for every
model at once, with one metadata query (each change log's row count against the
count recorded in the watermarks table when its model last ran), so the cost of the
check does not grow with the number of models or the length of the logs. A model
that failed recorded nothing, so it counts as changed on the next run.
"""

from __future__ import annotations

import json
from typing import Any

from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

MACRO = "cdc_changed_models"
MARKER = f"{MACRO}: "
MATERIALIZATION = "cdc_current_state"


class ChangeCheckError(Exception):
    """The check could not run; the caller should build every model rather than guess."""


def is_current_state_model(manifest: Manifest, unique_id: str) -> bool:
    node = manifest.nodes.get(unique_id)
    return node is not None and node.resource_type == "model" and node.config.materialized == MATERIALIZATION


def unchanged_models(manifest: Manifest, dbt_flags: list[str]) -> set[str]:
    """Unique ids of the current-state models with nothing new to apply."""
    messages: list[str] = []

    def capture(event: Any) -> None:
        if event.info.name == "JinjaLogInfo" and event.info.msg.startswith(MARKER):
            messages.append(event.info.msg[len(MARKER):])

    result = dbtRunner(manifest=manifest, callbacks=[capture]).invoke(
        ["run-operation", MACRO, "--quiet", *dbt_flags])
    if not result.success or not messages:
        raise ChangeCheckError(f"could not find which change logs have new events: {result.exception or 'no answer'}")
    answer = json.loads(messages[-1])
    return set(answer["unchanged"])
