"""Builds a dbt selector, then triggers the Hightouch syncs of what it rebuilt.

Runs `dbt build --selector NAME` in this process, then triggers the Hightouch
sync of every exposure with meta.hightouch.sync_id whose upstream models all
succeeded in this run, waits for each sync run to finish and prints a summary.
A sync with a failed or skipped upstream model is not triggered, and is
reported as skipped. Running the syncs right after the build, rather than on a
Hightouch schedule, means Emarsys gets each refresh within minutes and never a
half-built mart.

Which syncs run:
  - An exposure is considered when the selector selects a model it depends on
    directly (the model its sync reads). A run that only rebuilds models
    further upstream does not sync it: what Hightouch reads has not changed.
  - Its upstream models are the models, seeds and snapshots it depends on,
    directly or through other nodes, that the selector selects. The sync is
    triggered only when all of them succeeded.
  - A model the selector does not select does not block a sync: it is not
    rebuilt by this run and keeps its last built state.
  - An upstream model blocks its syncs when its build errored or was skipped,
    or when one of its data tests failed (severity error), as dbt build would
    skip the model's children.
  - Exposures without meta.hightouch.sync_id are ignored.

Overlapping runs:
  A run holds an exclusive lock on run_and_sync.lock in dbt's target folder
  (DBT_TARGET_PATH, else the project's target/) from start to end, --dry-run
  included, so two runs of one checkout never overlap. A run finding the lock
  held stops at once (exit 4) rather than waiting: the job starts every few
  minutes, so waiting runs would pile up behind a slow one, and the next run
  builds whatever this one would have (--only-changed goes by the watermarks
  in the warehouse). The lock is the system's (flock): it ends with the
  process holding it, so a killed run leaves nothing to clean up. It does not
  reach other machines: schedule the job on one.
  DuckDB lets one process at a time open a database file read-write. When
  another process holds the profile's file (a DuckDB shell, a notebook, a job
  of another checkout), the run stops before dbt builds anything (exit 5).

Parsing:
  The manifest of the last parse is kept in dbt's target folder and loaded
  while no file the parse read, flag, var, env var or dbt version has changed
  (manifest_cache.py): a cycle over a large fleet skips the parse.

Environment:
  HIGHTOUCH_API_KEY  Hightouch API key; required when a sync would be triggered
                     (not for --dry-run). Never printed.
  HIGHTOUCH_API_URL  API base URL (default https://api.hightouch.com): http(s),
                     a host, no credentials, query or /api/v1. Checked first,
                     --dry-run included, before any dbt work.

Exit codes:
  0  the build and every triggered sync succeeded (a sync finishing with
     warnings counts as succeeded; the summary shows it)
  1  the dbt build failed, or dbt could not parse the project or list the
     selector; syncs whose upstream models succeeded are still triggered,
     the others are skipped. When a sync fails too, 1 still wins: the build
     is the first thing to fix (its failure also skips syncs); the summary
     and a last line on stderr name the failed syncs
  2  the build succeeded but a sync failed, was cancelled or interrupted,
     timed out (--sync-timeout), or was skipped, could not be triggered or
     could no longer be read
  3  usage or configuration error (bad arguments, unknown selector, a
     malformed HIGHTOUCH_API_URL, HIGHTOUCH_API_KEY missing while a sync
     would be triggered); nothing built
  4  another run holds the lock (see above): this one stopped at once,
     nothing built or synced
  5  another process holds the DuckDB file: nothing built or synced
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import hashlib
import json
import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, NoReturn, Sequence
from urllib.parse import urlsplit

import duckdb
import yaml
from dbt.cli.main import dbtRunner
from dbt.cli.resolvers import default_profiles_dir, default_project_dir
from dbt.config.profile import Profile, read_profile
from dbt.config.project import load_raw_project
from dbt.config.renderer import ProfileRenderer
from dbt.contracts.graph.manifest import Manifest

from magento_warehouse.runner import change_check, manifest_cache
from magento_warehouse.runner.cli_types import non_negative_float, non_negative_int, positive_float
from magento_warehouse.runner.hightouch import (
    DEFAULT_BASE_URL,
    DONE_STATUSES,
    FAILED_STATUSES,
    HightouchClient,
    HightouchError,
    RetryPolicy,
)
from magento_warehouse.runner.hightouch import log as client_log

EXIT_OK, EXIT_BUILD_FAILED, EXIT_SYNC_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_WAREHOUSE_BUSY = 0, 1, 2, 3, 4, 5
LOCK_FILE = "run_and_sync.lock"

# Node types dbt build materializes; their results decide whether a sync runs.
BUILT_RESOURCE_TYPES = frozenset({"model", "seed", "snapshot"})
# Result statuses of a built node that let its syncs run.
PASSED = frozenset({"success"})
# Result statuses of a failure (rather than a skip): a node's error, a test's
# fail or error. A failed data or unit test blocks the syncs of the nodes it tests.
FAILED = frozenset({"error", "fail"})


class UsageError(Exception):
    """Bad arguments or environment, found before anything is built (exit 3)."""


class DbtError(Exception):
    """dbt could not parse the project or list the selector (exit 1)."""


class RunLocked(Exception):
    """Another run holds the lock (exit 4)."""


class WarehouseBusy(Exception):
    """Another process holds the DuckDB file (exit 5)."""


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
        found = [(_name(node), self.statuses.get(node, "not run"))
                 for node in sorted(target.upstream) if self.statuses.get(node) not in PASSED]
        found += [(test, status) for test, status, nodes in self.failed_tests if nodes & target.upstream]
        return found


@dataclass(frozen=True)
class SyncOutcome:
    """One row of the summary."""

    target: SyncTarget
    status: str  # the run's final Hightouch status, or skipped, timeout, error
    run_id: str | None = None
    rows: str | None = None
    message: str = ""
    upstream: str = "success"  # or failed (an upstream model or test failed), skipped

    @property
    def succeeded(self) -> bool:
        return self.status in DONE_STATUSES


class _ArgumentParser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments, but 2 means a failed sync here: usage errors exit 3."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    summary, details = __doc__.split("\n\n", 1)
    parser = _ArgumentParser(description=summary, epilog=details, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--selector", required=True, metavar="NAME", help="dbt selector (selectors.yml) to build")
    parser.add_argument("--dry-run", action="store_true",
                        help="build nothing and call nothing: list the selector's models and the syncs "
                             "that would be triggered, then exit 0")
    dbt = parser.add_argument_group("dbt", "passed to dbt as given; unset ones take dbt's defaults")
    dbt.add_argument("--project-dir", metavar="DIR", help="dbt project directory")
    dbt.add_argument("--profiles-dir", metavar="DIR", help="directory holding profiles.yml")
    dbt.add_argument("--target", metavar="NAME", help="profile target")
    dbt.add_argument("--vars", metavar="YAML", help="YAML dict of project variables, as for dbt --vars")
    dbt.add_argument("--state", metavar="DIR",
                     help="artifacts of a previous run, for selectors using state: or source_status: methods")
    parser.add_argument("--only-changed", action="store_true",
                        help="leave out of the build the current-state models whose change log received "
                             "nothing since their last successful run (two metadata queries for the whole "
                             "fleet, against the watermarks table); a model that failed is retried")
    api = parser.add_argument_group("Hightouch")
    api.add_argument("--sync-timeout", type=positive_float, default=3600.0, metavar="SECONDS",
                     help="seconds to wait for a sync run to finish, from its trigger; the run goes on in "
                          "Hightouch but counts as failed here (default: %(default)g)")
    api.add_argument("--poll-interval", type=positive_float, default=10.0, metavar="SECONDS",
                     help="seconds between two reads of a run's status (default: %(default)g)")
    api.add_argument("--http-timeout", type=positive_float, default=30.0, metavar="SECONDS",
                     help="seconds each HTTP call may take (default: %(default)g)")
    api.add_argument("--retries", type=non_negative_int, default=5, metavar="N",
                     help="retries of a call answered 429 or 5xx, or that failed to connect or timed out "
                          "(default: %(default)s)")
    api.add_argument("--retry-backoff", type=non_negative_float, default=2.0, metavar="SECONDS",
                     help="seconds before the first retry, doubling for each next one; a 429's Retry-After "
                          "wins; waits are capped at 60 s (default: %(default)g)")
    return parser.parse_args(argv)


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
    cache = _target_path(args) / manifest_cache.CACHE_FILE
    state = manifest_cache.project_state(_project_dir(args), [_profiles_dir(args)], dbt_flags(args))
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


def _project_dir(args: argparse.Namespace) -> Path:
    """The project dbt reads, resolved as dbt resolves it."""
    return Path(args.project_dir or os.environ.get("DBT_PROJECT_DIR") or default_project_dir())


def _profiles_dir(args: argparse.Namespace) -> Path:
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
    project_dir = _project_dir(args)
    selectors = project_dir / "selectors.yml"
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
    cache = _target_path(args) / SELECTION_CACHE
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
        return node in selected and _is_built(manifest, node)

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


def _is_built(manifest: Manifest, unique_id: str) -> bool:
    # Ephemeral models are never built on their own: their SQL runs inside their children.
    node = manifest.nodes.get(unique_id)
    return (node is not None and node.resource_type in BUILT_RESOURCE_TYPES
            and node.config.materialized != "ephemeral")


def _target_path(args: argparse.Namespace) -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH, else the project's target/ folder."""
    if os.environ.get("DBT_TARGET_PATH"):
        return Path(os.environ["DBT_TARGET_PATH"])
    return _project_dir(args) / "target"


def _name(unique_id: str) -> str:
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


def run_build(manifest: Manifest, args: argparse.Namespace, only: set[str] | None = None) -> BuildResult:
    """dbt build of the selector or, given `only`, of exactly those nodes."""
    if only is not None:
        # The selector's nodes minus the unchanged models (dbt ignores --exclude next
        # to --selector); tests come only as listed.
        selection = ["--select", f"tag:{_tag_chosen(manifest, only)}", "--indirect-selection", "empty"]
    else:
        selection = ["--selector", args.selector]
    # Writing the whole manifest would cost a large fleet about a second a cycle:
    # only run_results.json is written, here.
    result = dbtRunner(manifest=manifest).invoke(["build", *selection, "--no-write-json", *dbt_flags(args)])
    if result.exception is not None:
        print(f"dbt build failed: {result.exception}", file=sys.stderr)
    if hasattr(result.result, "write"):
        target = _target_path(args)
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


def api_base_url() -> str:
    """HIGHTOUCH_API_URL, checked; the default when unset."""
    value = os.environ.get("HIGHTOUCH_API_URL", "").strip()
    if not value:
        return DEFAULT_BASE_URL
    api_key = os.environ.get("HIGHTOUCH_API_KEY", "").strip()
    # The value is shown to help, but a key pasted into the wrong variable must not be.
    shown = repr(value.replace(api_key, "<redacted>") if api_key else value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError as error:
        raise UsageError(f"HIGHTOUCH_API_URL is not a valid URL ({error}): {shown}") from None
    if parts.username is not None or parts.password is not None:
        raise UsageError("HIGHTOUCH_API_URL must not contain credentials (the API key goes in "
                         "HIGHTOUCH_API_KEY); it is not shown here")
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "must start with https:// (or http://)"
    elif not parts.hostname:
        problem = "has no host"
    elif re.search(r"\s", value):
        problem = "contains spaces"
    elif parts.query or parts.fragment:
        problem = "must not have a query (?...) or fragment (#...)"
    elif parts.path.rstrip("/").endswith("/api/v1"):
        problem = "must not end with /api/v1 (the client adds it)"
    if problem:
        raise UsageError(f"HIGHTOUCH_API_URL {problem}, e.g. {DEFAULT_BASE_URL}; got {shown}")
    return value


@contextmanager
def run_lock(path: Path, selector: str) -> Iterator[None]:
    """Holds an exclusive lock on `path` for the run, or raises RunLocked at once."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Never deleted: a run deleting it could let the next two runs lock two different files.
        path.touch()
    except OSError as error:
        raise UsageError(f"cannot create the lock file {path}: {error.strerror}") from None
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = " ".join(handle.read().split())
            raise RunLocked(f"another run holds the lock {path}" + (f" ({holder})" if holder else "")
                            + "; this run stops without building or syncing, the next one catches up") from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        handle.write(f"pid {os.getpid()}, selector {selector}, started {started}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # still locked here: nobody reads a finished run as the holder


def check_duckdb_file(args: argparse.Namespace) -> None:
    """Raises WarehouseBusy when another process holds the profile's DuckDB file.

    dbt would fail on it with a stack trace per attempt; asking DuckDB first
    gives one message naming the file. Reads the profile as dbt would, with the
    run's flags.
    """
    try:
        renderer = ProfileRenderer(yaml.safe_load(args.vars or "") or {})
        profile_name = renderer.render_value(load_raw_project(str(_project_dir(args))).get("profile"))
        credentials = Profile.from_raw_profiles(read_profile(str(_profiles_dir(args))), profile_name, renderer,
                                                target_override=args.target).credentials
    except Exception:  # noqa: BLE001 (dbt reports a broken profile better when it opens it)
        return
    path = Path(str(getattr(credentials, "path", "")))
    if credentials.type != "duckdb" or not path.is_file():  # :memory:, MotherDuck, or not created yet
        return
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as error:
        text = str(error)
        if "lock" not in text.lower():
            return
        holder = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", text)
        raise WarehouseBusy(
            f"the DuckDB file {path} is held by another process"
            + (f" (PID {holder.group(2)}, {holder.group(1)})" if holder else f": {text}")
            + "; DuckDB lets one process at a time write to it. Nothing was built or synced; "
              "the next run catches up once the file is free") from None
    except duckdb.Error:
        return  # not a lock: dbt reports it


def make_client(args: argparse.Namespace, sync_count: int, base_url: str) -> HightouchClient:
    api_key = os.environ.get("HIGHTOUCH_API_KEY", "").strip()
    if not api_key:
        raise UsageError(f"HIGHTOUCH_API_KEY is not set; it is needed to trigger {sync_count} Hightouch "
                         "sync(s) (--dry-run lists them without it)")
    retry = RetryPolicy(retries=args.retries, backoff=args.retry_backoff)
    return HightouchClient(api_key, base_url, timeout=args.http_timeout, retry=retry)


@dataclass
class _Watch:
    """A triggered run being polled."""

    target: SyncTarget
    run_id: str
    deadline: float
    status: str = "triggered"


def run_syncs(client: HightouchClient, targets: list[SyncTarget], *, poll_interval: float,
              sync_timeout: float) -> list[SyncOutcome]:
    """Triggers every sync first (Hightouch runs them in parallel), then polls them all until each finishes.

    Prints one line per status change of each run. Once Hightouch rejects the
    key (401), the remaining syncs are not triggered: they would all be refused.
    """
    outcomes: list[SyncOutcome] = []
    watches: list[_Watch] = []
    key_rejected = False
    for target in targets:
        if key_rejected:
            outcomes.append(SyncOutcome(target, "error", message="not triggered: the API key was rejected"))
            continue
        try:
            run_id = client.trigger_sync(target.sync_id)
        except HightouchError as error:
            key_rejected = error.status_code == 401
            if key_rejected:
                print("error: Hightouch rejected the API key in HIGHTOUCH_API_KEY (HTTP 401); "
                      "the remaining syncs are not triggered", file=sys.stderr)
            outcomes.append(SyncOutcome(target, "error", message=str(error)))
            continue
        _progress(target, run_id, "triggered")
        watches.append(_Watch(target, run_id, time.monotonic() + sync_timeout))

    while watches:
        for watch in list(watches):
            outcome = _poll(client, watch, sync_timeout)
            if outcome is not None:
                outcomes.append(outcome)
                watches.remove(watch)
        if watches:
            time.sleep(poll_interval)
    return outcomes


def _poll(client: HightouchClient, watch: _Watch, sync_timeout: float) -> SyncOutcome | None:
    """Reads the run once; its outcome if it is over (finished, unreadable or past its deadline)."""
    target, run_id = watch.target, watch.run_id
    try:
        run = client.get_sync_run(target.sync_id, run_id)
    except HightouchError as error:
        return SyncOutcome(target, "error", run_id,
                           message=f"stopped following the run, its outcome is unknown: {error}")
    # Hightouch may list a run a little after its trigger: an empty list is not an answer yet.
    status = run.status if run is not None else "not listed yet"
    if status != watch.status:
        watch.status = status
        _progress(target, run_id, status)
    if run is not None and run.finished:
        message = run.error or (f"the run ended {run.status} in Hightouch" if run.status in FAILED_STATUSES else "")
        return SyncOutcome(target, run.status, run_id, run.rows(), _one_line(message))
    if time.monotonic() >= watch.deadline:
        if run is None:
            return SyncOutcome(target, "timeout", run_id, None,
                               f"Hightouch did not list the run within {sync_timeout:g} s")
        return SyncOutcome(target, "timeout", run_id, run.rows(),
                           f"still {status} after {sync_timeout:g} s; the run goes on in Hightouch")
    return None


def _progress(target: SyncTarget, run_id: str, status: str) -> None:
    print(f"{target.exposure} (sync {target.sync_id}): run {run_id} {status}", flush=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def print_table(header: Sequence[str], rows: list[Sequence[str]]) -> None:
    """Columns separated by two spaces; empty cells shown as '-'."""
    cells = [list(header)] + [[_one_line(cell) or "-" for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def print_summary(outcomes: list[SyncOutcome]) -> None:
    print("\nHightouch syncs:")
    print_table(("exposure", "sync id", "upstream", "sync", "run id", "rows", "message"),
                [(o.target.exposure, o.target.sync_id, o.upstream, o.status, o.run_id or "", o.rows or "", o.message)
                 for o in outcomes])


def print_plan(manifest: Manifest, args: argparse.Namespace, selected: set[str], targets: list[SyncTarget]) -> None:
    """The --dry-run listing: what would be built and which syncs would follow."""
    built = sorted((manifest.nodes[node].resource_type, _name(node))
                   for node in selected if _is_built(manifest, node))
    print(f"Dry run: nothing is built and Hightouch is not called.\n\nSelector {args.selector!r} builds:")
    for resource_type, name in built:
        print(f"  {resource_type} {name}")
    if not targets:
        print("\nNo Hightouch sync would be triggered.")
        return
    print(f"\n{len(targets)} Hightouch sync(s) would be triggered, each only if its upstream models succeed:")
    print_table(("exposure", "sync id", "sync name", "upstream models"),
                [(t.exposure, t.sync_id, t.sync_name, ", ".join(sorted(map(_name, t.upstream)))) for t in targets])
    if not os.environ.get("HIGHTOUCH_API_KEY", "").strip():
        print(f"\nNote: HIGHTOUCH_API_KEY is not set; a real run would stop with exit code {EXIT_USAGE}.")


def print_changes(manifest: Manifest, selected: set[str], unchanged: set[str]) -> None:
    """Which current-state models this run rebuilds, and which it skips for want of new events."""
    current_state = {m for m in selected if change_check.is_current_state_model(manifest, m)}
    skipped = sorted(_name(m) for m in current_state & unchanged)
    rebuilt = len(current_state) - len(skipped)
    listed = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
    print(f"current-state models: {rebuilt} with new events, {len(skipped)} skipped (nothing new)"
          + (f": {listed}" if skipped else ""), flush=True)


def run(args: argparse.Namespace) -> int:
    base_url = api_base_url()  # a typo in the setting should not cost a parse and a build
    with run_lock(_target_path(args) / LOCK_FILE, args.selector):
        return _run_locked(args, base_url)


def _run_locked(args: argparse.Namespace, base_url: str) -> int:
    manifest = parse_project(args)
    selected = selected_nodes(manifest, args)
    only = None
    if args.only_changed:
        try:
            unchanged = change_check.unchanged_models(manifest, dbt_flags(args))
        except change_check.ChangeCheckError as error:
            check_duckdb_file(args)  # the likeliest reason, named
            # Never skip a model on a guess: build the whole selector.
            print(f"warning: {error}; building every model of the selector", file=sys.stderr)
        else:
            print_changes(manifest, selected, unchanged)
            selected -= unchanged
            only = selected
    targets = sync_targets(manifest, selected)
    if args.dry_run:
        print_plan(manifest, args, selected, targets)
        return EXIT_OK
    # A missing key should not cost a build.
    client = make_client(args, len(targets), base_url) if targets else None

    if only is not None and not any(_is_built(manifest, node) for node in only):
        print(f"Nothing to build: no model of selector {args.selector!r} has new events.")
        return EXIT_OK
    # Asked only before a build: a cycle with nothing new need not open the file twice.
    check_duckdb_file(args)
    build = run_build(manifest, args, only)
    if client is None:
        print(f"\nNo Hightouch sync is fed by selector {args.selector!r}.")
        return EXIT_OK if build.success else EXIT_BUILD_FAILED
    outcomes: dict[str, SyncOutcome] = {}
    ready = []
    for target in targets:
        problems = build.problems(target)
        if problems:
            failed = any(status in FAILED for _, status in problems)
            message = "upstream " + ", ".join(f"{node} {status}" for node, status in problems)
            outcomes[target.exposure] = SyncOutcome(target, "skipped", message=message,
                                                    upstream="failed" if failed else "skipped")
        else:
            ready.append(target)
    for outcome in run_syncs(client, ready, poll_interval=args.poll_interval, sync_timeout=args.sync_timeout):
        outcomes[outcome.target.exposure] = outcome
    print_summary([outcomes[target.exposure] for target in targets])

    if not build.success:
        failed_syncs = sorted(outcome.target.exposure for outcome in outcomes.values()
                              if not outcome.succeeded and outcome.upstream == "success")
        if failed_syncs:
            print(f"error: the dbt build failed (exit code {EXIT_BUILD_FAILED}) and sync(s) fed by models that "
                  f"succeeded failed too: {', '.join(failed_syncs)}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    return EXIT_OK if all(outcome.succeeded for outcome in outcomes.values()) else EXIT_SYNC_FAILED


@contextmanager
def _retry_warnings_to_stderr() -> Iterator[None]:
    """Shows the Hightouch client's retry warnings on this process's stderr.

    Importing dbt installs a root logging handler (a dependency calls
    logging.basicConfig()), so the client's logger is detached from the root
    meanwhile: each warning prints once, in this script's format.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    propagate = client_log.propagate
    client_log.addHandler(handler)
    client_log.propagate = False
    try:
        yield
    finally:
        client_log.removeHandler(handler)
        client_log.propagate = propagate


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with _retry_warnings_to_stderr():
            return run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DbtError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    except RunLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_LOCKED
    except WarehouseBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_WAREHOUSE_BUSY
    except KeyboardInterrupt:
        print("interrupted; sync runs already triggered go on in Hightouch", file=sys.stderr)
        return 130


def exit_now(code: int) -> NoReturn:
    """Exits without tearing the interpreter down object by object: a large fleet's
    manifest is millions of objects, and freeing them costs most of a second per
    cycle. Output is flushed and exit handlers (dbt's log files, multiprocessing's
    semaphores) run first, as at a normal exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


def entry_point() -> NoReturn:
    """The console script magento-run-and-sync."""
    exit_now(main())


if __name__ == "__main__":
    entry_point()
