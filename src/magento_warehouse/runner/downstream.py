"""What --only-changed leaves out downstream of the current-state models with nothing new.

A mart whose every current-state ancestor received nothing since the last cycle would
be rebuilt from the same rows: it is left out, with the tests of what is left out, so
a cycle in which nothing landed builds nothing and resumes no warehouse. Three
exceptions keep a node in the build:
  - it was not built successfully by the last run that built it here (never built,
    failed or skipped): a retry, as for the current-state models;
  - it reads the clock (the `as_of_timestamp` macro: windows measured back from now,
    such as crm_new_customers and crm_abandoned_carts) and its last successful build is
    older than --clock-refresh-minutes: its rows move with time, not only with events;
  - it has no current-state ancestor (nothing here tells whether its inputs changed).

A model configured `cdc_lookup: true` (int_crm__email_keys) is one its readers look
rows up in and whose freshness they check themselves: its own ancestors do not make its
readers run (it runs when they change, like any model).

When each model last built successfully is kept in dbt's target folder
(run_and_sync_built.json), beside the run lock: the runner runs on one machine, and a
file needs no warehouse to read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from dbt.contracts.graph.manifest import Manifest

from magento_warehouse.runner.change_check import is_current_state_model

BUILT_FILE = "run_and_sync_built.json"
CLOCK_MACROS = frozenset({"macro.magento_warehouse.as_of_timestamp"})


class _Graph:
    """Ancestor questions over the manifest, each node answered once."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._cdc: dict[str, frozenset[str]] = {}
        self._clock: dict[str, bool] = {}

    def parents(self, unique_id: str) -> list[str]:
        node = self.manifest.nodes.get(unique_id)
        # Seeds depend on macros only: their depends_on has no nodes.
        nodes = getattr(getattr(node, "depends_on", None), "nodes", None) or []
        return [p for p in nodes if p in self.manifest.nodes]

    def cdc_ancestors(self, unique_id: str) -> frozenset[str]:
        """The current-state models among the node and its ancestors."""
        if unique_id not in self._cdc:
            self._cdc[unique_id] = frozenset()  # a cycle in a broken graph ends here
            found = {unique_id} if is_current_state_model(self.manifest, unique_id) else set()
            for parent in self.parents(unique_id):
                if not self.is_lookup(parent):
                    found |= self.cdc_ancestors(parent)
            self._cdc[unique_id] = frozenset(found)
        return self._cdc[unique_id]

    def is_lookup(self, unique_id: str) -> bool:
        node = self.manifest.nodes.get(unique_id)
        return bool(getattr(getattr(node, "config", None), "get", lambda *_: None)("cdc_lookup"))

    def macro_reads_clock(self, macro_id: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether a macro is a clock macro or calls one, however deep (a mart's own macros)."""
        if macro_id in CLOCK_MACROS:
            return True
        macro = self.manifest.macros.get(macro_id)
        called = getattr(getattr(macro, "depends_on", None), "macros", None) or []
        return any(self.macro_reads_clock(m, seen | {macro_id}) for m in called if m not in seen)

    def reads_clock(self, unique_id: str) -> bool:
        """Whether the node or a model it reads measures time from now."""
        if unique_id not in self._clock:
            self._clock[unique_id] = False
            node = self.manifest.nodes.get(unique_id)
            macros = getattr(getattr(node, "depends_on", None), "macros", None) or []
            self._clock[unique_id] = any(self.macro_reads_clock(m) for m in macros) or any(
                self.reads_clock(parent) for parent in self.parents(unique_id))
        return self._clock[unique_id]


def left_out(manifest: Manifest, selected: set[str], unchanged: set[str], built_at: dict[str, float],
             now: float, clock_refresh_seconds: float) -> set[str]:
    """The selected nodes beyond `unchanged` that a cycle leaves out (see the module's docstring)."""
    graph = _Graph(manifest)
    out: set[str] = set()
    tests = []
    for unique_id in selected - unchanged:
        node = manifest.nodes.get(unique_id)
        if node is None or is_current_state_model(manifest, unique_id):
            continue
        if node.resource_type == "test":
            tests.append(unique_id)
            continue
        ancestors = graph.cdc_ancestors(unique_id)
        last = built_at.get(unique_id)
        if not ancestors or not ancestors <= unchanged or last is None:
            continue
        if graph.reads_clock(unique_id) and now - last >= clock_refresh_seconds:
            continue
        out.add(unique_id)
    kept = selected - unchanged - out
    # A test runs when a node it tests is built (indirect selection is off).
    out.update(t for t in tests if not any(p in kept for p in graph.parents(t)))
    return out


def load_built_at(folder: Path) -> dict[str, float]:
    """When each model last built successfully (epoch seconds); empty when unknown or unreadable."""
    try:
        data = json.loads((folder / BUILT_FILE).read_text())
        return {str(k): float(v) for k, v in data.get("built_at", {}).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}  # every model then counts as never built: built again, never skipped on a guess


def record_built(folder: Path, built_at: dict[str, float], statuses: dict[str, str], built: Iterable[str],
                 now: float) -> None:
    """Records this build: each model of `built` that succeeded, now; any other forgets its time."""
    updated = dict(built_at)
    for unique_id in built:
        if statuses.get(unique_id) == "success":
            updated[unique_id] = now
        else:
            updated.pop(unique_id, None)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / (BUILT_FILE + ".tmp")
    temporary.write_text(json.dumps({"built_at": updated}, indent=1, sort_keys=True))
    temporary.replace(folder / BUILT_FILE)
