"""The runner's Hightouch phase: trigger the syncs whose upstream models succeeded,
follow each run to its end."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from magento_warehouse.runner.dbt_phase import SyncTarget
from magento_warehouse.runner.errors import UsageError
from magento_warehouse.runner.hightouch import (
    DEFAULT_BASE_URL,
    DONE_STATUSES,
    FAILED_STATUSES,
    HightouchClient,
    HightouchError,
    HightouchUnreachable,
    RetryPolicy,
    SyncRun,
)
from magento_warehouse.runner.report import one_line


@dataclass(frozen=True)
class SyncOutcome:
    """One row of the summary."""

    target: SyncTarget
    status: str  # the run's final Hightouch status, or skipped, timeout, error
    run_id: str | None = None
    rows: str | None = None
    message: str = ""
    upstream: str = "success"  # or failed (an upstream model or test failed), skipped
    run: SyncRun | None = None  # the run as last read, with its row counts

    @property
    def succeeded(self) -> bool:
        return self.status in DONE_STATUSES


class SyncObserver(Protocol):
    """Told when a sync run starts and when the phase is done with it (lineage events)."""

    def sync_triggered(self, target: SyncTarget, run_id: str) -> None: ...

    def sync_ended(self, outcome: SyncOutcome) -> None: ...


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


def run_syncs(client: HightouchClient, targets: list[SyncTarget], *, poll_interval: float, sync_timeout: float,
              observer: SyncObserver | None = None) -> tuple[list[SyncOutcome], HightouchUnreachable | None]:
    """Triggers every sync first (Hightouch runs them in parallel), then polls them all until each finishes.

    Prints one line per status change of each run. Once Hightouch rejects the
    key (401), the remaining syncs are not triggered: they would all be refused.
    Once the API cannot be reached at all (DNS, connection refused), the phase
    stops: every other call would wait for the same failure. The error is
    returned for the caller's one line on stderr. `observer` hears of each run's
    trigger and of each outcome as it is known.
    """
    outcomes: list[SyncOutcome] = []

    def ended(outcome: SyncOutcome) -> None:
        outcomes.append(outcome)
        if observer is not None:
            observer.sync_ended(outcome)

    watches: list[_Watch] = []
    key_rejected = False
    unreachable: HightouchUnreachable | None = None
    for target in targets:
        if key_rejected or unreachable:
            why = "the API key was rejected" if key_rejected else "the Hightouch API is unreachable"
            ended(SyncOutcome(target, "error", message=f"not triggered: {why}"))
            continue
        try:
            run_id = client.trigger_sync(target.sync_id)
        except HightouchUnreachable as error:
            unreachable = error
            ended(SyncOutcome(target, "error", message=f"not triggered: {error.cause}"))
            continue
        except HightouchError as error:
            key_rejected = error.status_code == 401
            if key_rejected:
                print("error: Hightouch rejected the API key in HIGHTOUCH_API_KEY (HTTP 401); "
                      "the remaining syncs are not triggered", file=sys.stderr)
            ended(SyncOutcome(target, "error", message=str(error)))
            continue
        _progress(target, run_id, "triggered")
        if observer is not None:
            observer.sync_triggered(target, run_id)
        watches.append(_Watch(target, run_id, time.monotonic() + sync_timeout))

    while watches:
        for watch in list(watches):
            if unreachable is not None:
                outcome = SyncOutcome(watch.target, "error", watch.run_id, message=(
                    "stopped following the run, its outcome is unknown: the Hightouch API is unreachable"))
            else:
                try:
                    outcome = _poll(client, watch, sync_timeout)
                except HightouchUnreachable as error:
                    unreachable = error
                    outcome = SyncOutcome(watch.target, "error", watch.run_id, message=(
                        f"stopped following the run, its outcome is unknown: {error.cause}"))
            if outcome is not None:
                ended(outcome)
                watches.remove(watch)
        if watches:
            time.sleep(poll_interval)
    return outcomes, unreachable


def _poll(client: HightouchClient, watch: _Watch, sync_timeout: float) -> SyncOutcome | None:
    """Reads the run once; its outcome if it is over (finished, unreadable or past its deadline)."""
    target, run_id = watch.target, watch.run_id
    try:
        run = client.get_sync_run(target.sync_id, run_id)
    except HightouchUnreachable:
        raise  # stops the whole phase, not just this run
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
        return SyncOutcome(target, run.status, run_id, run.rows(), one_line(message), run=run)
    if time.monotonic() >= watch.deadline:
        if run is None:
            return SyncOutcome(target, "timeout", run_id, None,
                               f"Hightouch did not list the run within {sync_timeout:g} s")
        return SyncOutcome(target, "timeout", run_id, run.rows(),
                           f"still {status} after {sync_timeout:g} s; the run goes on in Hightouch", run=run)
    return None


def _progress(target: SyncTarget, run_id: str, status: str) -> None:
    print(f"{target.exposure} (sync {target.sync_id}): run {run_id} {status}", flush=True)
