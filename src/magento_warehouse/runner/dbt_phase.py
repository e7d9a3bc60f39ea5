"""The runner's dbt phase: parse (or the cached manifest), the selector's nodes, the
Hightouch syncs they feed, and the build with each node's outcome."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dbt.cli.main import dbtRunner
from dbt.cli.resolvers import default_profiles_dir, default_project_dir
from dbt.contracts.graph.manifest import Manifest
from dbt_common.events.base_types import EventMsg

from magento_warehouse.runner import manifest_cache
from magento_warehouse.runner.errors import DbtError, UsageError


# Node types dbt build materializes; their results decide whether a sync runs.
BUILT_RESOURCE_TYPES = frozenset({"model", "seed", "snapshot"})


# Result statuses of a built node that let its syncs run.
PASSED = frozenset({"success"})


# Result statuses of a failure (rather than a skip): a node's error, a test's
# fail or error. A failed data or unit test blocks the syncs of the nodes it tests.
FAILED = frozenset({"error", "fail"})


@dataclass(frozen=True)
class SyncTarget:
    """An exposure synced by Hightouch, with the nodes of this run that feed it."""

    exposure: str
    sync_id: str
    sync_name: str
    upstream: frozenset[str]  # unique ids of the selected upstream models, seeds and snapshots


@dataclass(frozen=True)
class BuildResult:
    """What `dbt build` reported: overall success and each node's status."""

    success: bool
    statuses: dict[str, str]  # unique id -> status
    failed_tests: list[tuple[str, str, frozenset[str]]]  # (e.g. 'unit test <name>', status, nodes it tests)

    def problems(self, target: SyncTarget) -> list[tuple[str, str]]:
        """The (node, status) pairs that block the target's sync, e.g. [('orders', 'error')]."""
        found = [(node_name(node), self.statuses.get(node, "not run"))
                 for node in sorted(target.upstream) if self.statuses.get(node) not in PASSED]
        found += [(test, status) for test, status, nodes in self.failed_tests if nodes & target.upstream]
        return found


def dbt_flags(args: argparse.Namespace) -> list[str]:
    """The flags every dbt invocation of the run shares, so parse, ls and build see the same project."""
    flags: list[str] = []
    for flag, value in (("--project-dir", args.project_dir), ("--profiles-dir", args.profiles_dir),
                        ("--target", args.target), ("--vars", args.vars), ("--state", args.state)):
        if value is not None:
            flags += [flag, value]
    return flags


def parse_project(args: argparse.Namespace) -> Manifest:
    """Parses the project once; ls and build reuse the manifest. While nothing parsing
    reads has changed, the manifest of the last parse is loaded instead (manifest_cache)."""
    cache = target_path(args) / manifest_cache.CACHE_FILE
    state = manifest_cache.project_state(project_dir(args), [profiles_dir(args)], dbt_flags(args))
    manifest = manifest_cache.load(cache, state)
    if manifest is not None:
        return manifest
    # The manifest stays in memory for ls and build; writing it (megabytes for a
    # large fleet) would be most of the parse's time.
    result = dbtRunner().invoke(["parse", "--quiet", "--no-write-json", *dbt_flags(args)])
    if not result.success or not isinstance(result.result, Manifest):
        raise DbtError(f"dbt could not parse the project: {result.exception or 'see the errors above'}")
    manifest_cache.save(cache, state, result.result)
    return result.result


def project_dir(args: argparse.Namespace) -> Path:
    """The project dbt reads, resolved as dbt resolves it."""
    return Path(args.project_dir or os.environ.get("DBT_PROJECT_DIR") or default_project_dir())


def profiles_dir(args: argparse.Namespace) -> Path:
    """The folder of the profiles.yml dbt reads, resolved as dbt resolves it."""
    return Path(args.profiles_dir or os.environ.get("DBT_PROFILES_DIR") or default_profiles_dir())


SELECTION_CACHE = "run_and_sync_selection.json"


# Selector methods whose answer depends on more than the project: never cached.
STATEFUL_METHODS = re.compile(r"\b(state|result|source_status)\b")


def selection_key(manifest: Manifest, args: argparse.Namespace) -> str | None:
    """A digest of everything the selector's answer depends on: the selector and its
    definitions, the flags, and what dbt's partial parse compares (every file's
    checksum, the vars, profile and project hashes, the env vars the project reads).
    None when the selection may depend on artifacts (state, result, source_status)."""
    selectors = project_dir(args) / "selectors.yml"
    definitions = selectors.read_text() if selectors.exists() else ""
    if args.state or STATEFUL_METHODS.search(definitions):
        return None
    files = sorted((file_id, source_file.checksum.checksum) for file_id, source_file in manifest.files.items())
    payload = [args.selector, definitions, dbt_flags(args), files, manifest.state_check.to_dict(),
               sorted(manifest.env_vars.items())]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def selected_nodes(manifest: Manifest, args: argparse.Namespace) -> set[str]:
    """Unique ids of the nodes the selector selects, as `dbt ls` resolves them.

    The answer is kept in target/ and reused while the project is unchanged: `dbt ls`
    costs most of a second, a large part of a cycle with nothing new."""
    key = selection_key(manifest, args)
    cache = target_path(args) / SELECTION_CACHE
    if key is not None and cache.exists():
        try:
            cached = json.loads(cache.read_text())
        except ValueError:
            cached = {}
        if cached.get("key") == key:
            return set(cached["nodes"])
    nodes = _list_selector(manifest, args)
    if key is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"key": key, "nodes": sorted(nodes)}))
    return nodes


def _list_selector(manifest: Manifest, args: argparse.Namespace) -> set[str]:
    result = dbtRunner(manifest=manifest).invoke(
        ["ls", "--log-level", "none", "--selector", args.selector, "--output", "json",
         "--output-keys", "unique_id", *dbt_flags(args)])
    if not result.success or not isinstance(result.result, list):
        # dbt reads selectors.yml afresh here (a partially parsed manifest may
        # list stale selectors), and says so when the name is not in it.
        if "Could not find selector named" in str(result.exception):
            raise UsageError(str(result.exception))
        raise DbtError(f"dbt could not list selector {args.selector!r}: {result.exception}")
    return {json.loads(line)["unique_id"] for line in result.result}


def ancestors(manifest: Manifest, unique_id: str) -> set[str]:
    """Every node `unique_id` depends on, directly or transitively."""
    found: set[str] = set()
    todo = list(manifest.parent_map.get(unique_id, []))
    while todo:
        node = todo.pop()
        if node not in found:
            found.add(node)
            todo.extend(manifest.parent_map.get(node, []))
    return found


def sync_targets(manifest: Manifest, selected: set[str]) -> list[SyncTarget]:
    """The exposures with a Hightouch sync that read a model this run builds."""
    def built_here(node: str) -> bool:
        return node in selected and is_built(manifest, node)

    targets = []
    for exposure in sorted(manifest.exposures.values(), key=lambda e: e.name):
        meta = exposure.meta.get("hightouch")
        if not isinstance(meta, dict):
            continue
        sync_id = str(meta.get("sync_id") or "").strip()
        if not sync_id or not any(built_here(node) for node in manifest.parent_map.get(exposure.unique_id, [])):
            continue
        upstream = frozenset(filter(built_here, ancestors(manifest, exposure.unique_id)))
        name = meta.get("sync_name") or meta.get("sync_slug") or ""
        targets.append(SyncTarget(exposure.name, sync_id, str(name), upstream))
    return targets


def is_built(manifest: Manifest, unique_id: str) -> bool:
    # Ephemeral models are never built on their own: their SQL runs inside their children.
    node = manifest.nodes.get(unique_id)
    return (node is not None and node.resource_type in BUILT_RESOURCE_TYPES
            and node.config.materialized != "ephemeral")


def target_path(args: argparse.Namespace) -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH, else the project's target/ folder."""
    if os.environ.get("DBT_TARGET_PATH"):
        return Path(os.environ["DBT_TARGET_PATH"])
    return project_dir(args) / "target"


def node_name(unique_id: str) -> str:
    """'model.pkg.orders' -> 'orders'."""
    return unique_id.split(".")[2]


def _tag_chosen(manifest: Manifest, unique_ids: set[str]) -> str:
    """Tags the chosen nodes in this process's manifest and returns the tag.

    dbt matches each name of a `--select` list against every node: a hundred names in
    a fleet of a thousand models cost seconds of CPU, taken from the models' own
    threads. One tag is one pass. The manifest is this run's own, never written back.
    """
    tag = "run_and_sync_chosen"
    for unique_id in unique_ids:
        node = manifest.nodes.get(unique_id) or manifest.unit_tests.get(unique_id)
        if node is None:
            continue
        if unique_id.startswith("unit_test."):
            node.config.tags = [*node.tags, tag]  # a unit test's tags are its config's
        elif tag not in node.tags:
            node.tags.append(tag)
    return tag


def run_build(manifest: Manifest, args: argparse.Namespace, only: set[str] | None = None,
              on_start: Callable[[str], None] | None = None) -> BuildResult:
    """dbt build of the selector or, given `only`, of exactly those nodes.

    `on_start` is called once with dbt's invocation id as the build starts: dbt
    draws a new id for each invocation, so it is known only from its first event."""
    if only is not None:
        # The selector's nodes minus the unchanged models (dbt ignores --exclude next
        # to --selector); tests come only as listed.
        selection = ["--select", f"tag:{_tag_chosen(manifest, only)}", "--indirect-selection", "empty"]
    else:
        selection = ["--selector", args.selector]
    # Writing the whole manifest would cost a large fleet about a second a cycle:
    # only run_results.json is written, here.
    callbacks = []
    if on_start is not None:
        started: list[str] = []

        def first_event(event: EventMsg) -> None:
            if not started:
                started.append(event.info.invocation_id)
                on_start(event.info.invocation_id)

        callbacks.append(first_event)
    result = dbtRunner(manifest=manifest, callbacks=callbacks).invoke(
        ["build", *selection, "--no-write-json", *dbt_flags(args)])
    if result.exception is not None:
        print(f"dbt build failed: {result.exception}", file=sys.stderr)
    if hasattr(result.result, "write"):
        target = target_path(args)
        target.mkdir(parents=True, exist_ok=True)
        result.result.write(str(target / "run_results.json"))
    statuses: dict[str, str] = {}
    failed_tests: list[tuple[str, str, frozenset[str]]] = []
    for node_result in getattr(result.result, "results", None) or []:
        node, status = node_result.node, str(node_result.status)
        statuses[node.unique_id] = status
        if node.resource_type in ("test", "unit_test") and status in FAILED:
            label = f"{node.resource_type.replace('_', ' ')} {node.name}"
            failed_tests.append((label, status, frozenset(node.depends_on.nodes)))
    return BuildResult(result.success, statuses, failed_tests)
