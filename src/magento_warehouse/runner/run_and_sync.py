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
  - With --sync, only the named syncs are triggered, even when the build also
    feeds other exposures.

Narrowing the selector:
  --select and --exclude take dbt selection specs and pass them to dbt as
  given (`dbt ls`), but dbt ignores them next to --selector, so the runner
  builds the intersection: the selector's nodes that --select selects, minus
  what --exclude selects. --selector stays required: it is the job whose
  exclusions (no seeds, views, unit tests, full-scan tests in crm_realtime)
  every run keeps. --sync NAME builds the selector's part of +exposure:NAME
  the same way. All of them combine with --only-changed. Options are never
  abbreviated (--sel is an error, not --selector).

Only what changed (--only-changed):
  The current-state models whose change log received nothing since their last
  successful run are left out (runner/change_check.py), and so is every node that
  only they feed, with its tests (runner/downstream.py): a cycle in which nothing
  landed builds nothing. A model that reads the clock is still rebuilt once its
  last build is --clock-refresh-minutes old; a node that failed is retried.

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
  (runner/manifest_cache.py): a cycle over a large fleet skips the parse.

Lineage:
  With --openlineage-url (or OPENLINEAGE_URL) or --openlineage-file, the run
  sends OpenLineage events: START and COMPLETE or FAIL of the build (its run id
  is dbt's invocation id) and of each sync run, whose input is the mart it
  reads, whose output is its destination, with row counts, and whose parent is
  the build's run. Off by default; sending never fails or holds up the run
  (one warning line, at most one --openlineage-timeout).

Environment:
  HIGHTOUCH_API_KEY  Hightouch API key; required when a sync would be triggered
                     (not for --dry-run). Never printed.
  HIGHTOUCH_API_URL  API base URL (default https://api.hightouch.com): http(s),
                     a host, no credentials, query or /api/v1. Checked first,
                     --dry-run included, before any dbt work.
  OPENLINEAGE_URL    OpenLineage endpoint when --openlineage-url is not given;
                     OPENLINEAGE_API_KEY its bearer token (never printed),
                     OPENLINEAGE_ENDPOINT its path (default api/v1/lineage),
                     OPENLINEAGE_DISABLED=true turns the events off.

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
  3  usage or configuration error (bad arguments, unknown selector or
     --sync name, a malformed HIGHTOUCH_API_URL, HIGHTOUCH_API_KEY missing while a sync
     would be triggered); nothing built
  4  another run holds the lock (see above): this one stopped at once,
     nothing built or synced
  5  another process holds the DuckDB file: nothing built or synced
  6  the build succeeded but the Hightouch API could not be reached (DNS
     lookup failed, connection refused or timed out): the Hightouch phase
     stopped at the first such call, without retries, so it takes at most
     one --http-timeout (default 30 s) however many syncs; one line on
     stderr names the host and the cause. 429 and 5xx are still retried.
     1 wins when the build failed too
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator, NoReturn, Sequence

from magento_warehouse.runner import change_check, downstream, lineage
from magento_warehouse.runner.cli_types import non_negative_float, non_negative_int, positive_float
from magento_warehouse.runner.dbt_phase import (
    FAILED,
    SELECTION_CACHE,
    dbt_flags,
    is_built,
    parse_project,
    run_build,
    selected_nodes,
    sync_targets,
    target_path,
)
from magento_warehouse.runner.errors import (
    EXIT_BUILD_FAILED,
    EXIT_HIGHTOUCH_UNREACHABLE,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_SYNC_FAILED,
    EXIT_USAGE,
    EXIT_WAREHOUSE_BUSY,
    DbtError,
    RunLocked,
    UsageError,
    WarehouseBusy,
)
from magento_warehouse.runner.guards import LOCK_FILE, check_duckdb_file, run_lock
from magento_warehouse.runner.hightouch import log as client_log
from magento_warehouse.runner.hightouch_phase import SyncOutcome, api_base_url, make_client, run_syncs
from magento_warehouse.runner.narrowing import is_narrowed, narrow, only_named, sync_exposures
from magento_warehouse.runner.report import print_changes, print_plan, print_summary

# The exit code of each error that ends a run early.
EXIT_CODES = {UsageError: EXIT_USAGE, DbtError: EXIT_BUILD_FAILED, RunLocked: EXIT_LOCKED,
              WarehouseBusy: EXIT_WAREHOUSE_BUSY}

__all__ = ["LOCK_FILE", "SELECTION_CACHE", "main", "parse_args", "parse_project"]  # what callers use


class _ArgumentParser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments, but 2 means a failed sync here: usage errors exit 3."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    summary, details = __doc__.split("\n\n", 1)
    # No abbreviations: `--select` must never be read as `--selector`, nor `--sel` as either.
    parser = _ArgumentParser(description=summary, epilog=details, allow_abbrev=False,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--selector", required=True, metavar="NAME", help="dbt selector (selectors.yml) to build")
    parser.add_argument("--select", action="extend", nargs="+", default=[], metavar="SPEC",
                        help="build only the selector's nodes that these dbt selection specs also select, "
                             "as dbt reads them (repeatable, like dbt's; dbt itself ignores --select next "
                             "to --selector, so the runner intersects the two)")
    parser.add_argument("--exclude", action="extend", nargs="+", default=[], metavar="SPEC",
                        help="leave out of the selector's nodes what these dbt selection specs select "
                             "(repeatable, like dbt's; tests follow dbt's indirect selection)")
    parser.add_argument("--sync", action="append", default=[], metavar="NAME",
                        help="build only this sync's upstream (+exposure:NAME) within the selector (so "
                             "under its exclusions: with crm_realtime, no seeds, views, unit tests or "
                             "full-scan tests), run its tests and trigger only this sync; NAME is an "
                             "exposure name or a meta.hightouch.sync_slug (repeatable)")
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
                             "nothing since their last successful run (metadata queries for the whole fleet; "
                             "on Snowflake SHOW TABLES, no warehouse), and what only they feed "
                             "(runner/downstream.py); a model that failed is retried")
    parser.add_argument("--clock-refresh-minutes", type=non_negative_float, default=30.0, metavar="MINUTES",
                        help="with --only-changed, a model that reads the clock (as_of_timestamp) is still "
                             "rebuilt once its last build is this old, though nothing it reads changed; "
                             "0: every cycle (default: %(default)g)")
    api = parser.add_argument_group("Hightouch")
    api.add_argument("--sync-timeout", type=positive_float, default=3600.0, metavar="SECONDS",
                     help="seconds to wait for a sync run to finish, from its trigger; the run goes on in "
                          "Hightouch but counts as failed here (default: %(default)g)")
    api.add_argument("--poll-interval", type=positive_float, default=10.0, metavar="SECONDS",
                     help="seconds between two reads of a run's status (default: %(default)g)")
    api.add_argument("--http-timeout", type=positive_float, default=30.0, metavar="SECONDS",
                     help="seconds each HTTP call may take (default: %(default)g)")
    api.add_argument("--retries", type=non_negative_int, default=5, metavar="N",
                     help="retries of a call answered 429 or 5xx, or whose connection dropped or answer timed "
                          "out; a call that cannot connect at all is not retried (exit 6) "
                          "(default: %(default)s)")
    api.add_argument("--retry-backoff", type=non_negative_float, default=2.0, metavar="SECONDS",
                     help="seconds before the first retry, doubling for each next one; a 429's Retry-After "
                          "wins; waits are capped at 60 s (default: %(default)g)")
    lineage.add_arguments(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    base_url = api_base_url()  # a typo in the setting should not cost a parse and a build
    lineage_settings = lineage.settings(args)
    with run_lock(target_path(args) / LOCK_FILE, args.selector):
        return _run_locked(args, base_url, lineage_settings)


def _run_locked(args: argparse.Namespace, base_url: str, lineage_settings: lineage.Settings | None) -> int:
    manifest = parse_project(args)
    exposures = sync_exposures(manifest, args) if args.sync else []
    selected = selected_nodes(manifest, args)
    only = None
    if is_narrowed(args):
        selected = narrow(manifest, args, selected, exposures)
        only = selected
    built_at, now = downstream.load_built_at(target_path(args)), time.time()
    if args.only_changed:
        try:
            unchanged = change_check.unchanged_models(manifest, dbt_flags(args))
        except change_check.ChangeCheckError as error:
            check_duckdb_file(args)  # the likeliest reason, named
            # Never skip a model on a guess: build the whole selector.
            narrowed = " that --select, --exclude and --sync choose" if only is not None else ""
            print(f"warning: {error}; building every model of the selector{narrowed}", file=sys.stderr)
        else:
            print_changes(manifest, selected, unchanged)
            # What only unchanged tables feed is left out too: nothing new, no warehouse.
            unchanged |= downstream.left_out(manifest, selected, unchanged, built_at, now,
                                             args.clock_refresh_minutes * 60)
            selected -= unchanged
            only = selected
    targets = only_named(sync_targets(manifest, selected), exposures)
    if args.dry_run:
        print_plan(manifest, args, selected, targets)
        return EXIT_OK
    # A missing key should not cost a build.
    client = make_client(args, len(targets), base_url) if targets else None

    if only is not None and not any(is_built(manifest, node) for node in only):
        if args.only_changed:
            print(f"Nothing to build: no model of selector {args.selector!r} has new events, "
                  "nor anything it feeds.")
        else:
            print(f"Nothing to build: no model of selector {args.selector!r} is selected.")
        return EXIT_OK
    # Asked only before a build: a cycle with nothing new need not open the file twice.
    check_duckdb_file(args)
    events = lineage.Lineage(lineage_settings, manifest, args) if lineage_settings else None
    build = run_build(manifest, args, only, on_start=events.build_started if events else None)
    downstream.record_built(target_path(args), built_at, build.statuses,
                            [node for node in build.statuses if is_built(manifest, node)], now)
    if events is not None:
        events.build_ended(build.success)
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
    synced, unreachable = run_syncs(client, ready, poll_interval=args.poll_interval,
                                    sync_timeout=args.sync_timeout, observer=events)
    for outcome in synced:
        outcomes[outcome.target.exposure] = outcome
    print_summary([outcomes[target.exposure] for target in targets])
    if unreachable is not None:
        # One line for the whole phase: the cause is the network, not any one sync.
        print(f"error: {unreachable}", file=sys.stderr)

    if not build.success:
        failed_syncs = sorted(outcome.target.exposure for outcome in outcomes.values()
                              if not outcome.succeeded and outcome.upstream == "success")
        if failed_syncs:
            print(f"error: the dbt build failed (exit code {EXIT_BUILD_FAILED}) and sync(s) fed by models that "
                  f"succeeded failed too: {', '.join(failed_syncs)}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    if unreachable is not None:
        return EXIT_HIGHTOUCH_UNREACHABLE
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
    except (UsageError, DbtError, RunLocked, WarehouseBusy) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CODES[type(error)]
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
