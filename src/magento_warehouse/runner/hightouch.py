"""A small client for the Hightouch REST API (v1) calls the warehouse job needs.

Triggering a sync (`POST /api/v1/syncs/{id}/trigger`) and reading the state of
the run it started (`GET /api/v1/syncs/{id}/runs?runId=...`) is all the job
after `dbt build` does (listing models, syncs and destinations serves the
exposures generator), so this module stays a thin wrapper over `requests`
rather than a dependency on a generated SDK. What it adds is what an
unattended job needs: a timeout on every call, bounded retries with
exponential backoff on rate limits (429, honouring Retry-After), server errors
(5xx), dropped connections and read timeouts, and error messages that never
contain the API key. A call that cannot reach the API at all (DNS lookup
failed, connection refused, connect timeout) is not retried: it raises
HightouchUnreachable at once, since every other call of the run would fail
the same way and retrying each would hold the job for minutes.

Triggers are not idempotent: Hightouch has no idempotency key, so a trigger
retried after a read timeout or a 5xx may start a second run of the same sync.
For the CRM syncs (upserts into Emarsys) a second run rewrites the same rows.
A success answer whose body is not a JSON object (a proxy's or a web app's
HTML page) is retried on a read, but not on a trigger, nor is a trigger
answer without a run id: either may have started a run already.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

DEFAULT_BASE_URL = "https://api.hightouch.com"

# Hightouch sync run statuses. A run in any other status (queued, querying,
# processing, reporting, ...) has not finished yet.
DONE_STATUSES = frozenset({"success", "warning"})
FAILED_STATUSES = frozenset({"failed", "cancelled", "interrupted"})

log = logging.getLogger(__name__)


class HightouchError(Exception):
    """A Hightouch call that failed for good (after any retries).

    `status_code` is the HTTP status of the last answer, or None when no answer
    came (connection error, timeout).
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class HightouchUnreachable(HightouchError):
    """No connection to the API could be made: `host` and a short `cause` say why."""

    def __init__(self, host: str, cause: str) -> None:
        super().__init__(f"Hightouch API unreachable at {host}: {cause}")
        self.host = host
        self.cause = cause


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed call is retried.

    The n-th retry (from 0) waits `backoff * 2**n` seconds, or the server's
    Retry-After on a 429; every wait is capped at `max_wait` so a bogus
    Retry-After cannot stall the job.
    """

    retries: int = 5
    backoff: float = 2.0
    max_wait: float = 60.0

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        wanted = retry_after if retry_after is not None else self.backoff * 2**retry
        return max(0.0, min(wanted, self.max_wait))


@dataclass(frozen=True)
class SyncRun:
    """The part of a Hightouch sync run the job reports."""

    id: str
    status: str
    error: str | None = None
    successful_rows: dict[str, int] | None = None
    failed_rows: dict[str, int] | None = None
    planned_rows: dict[str, int] | None = None

    @property
    def finished(self) -> bool:
        return self.status in DONE_STATUSES or self.status in FAILED_STATUSES

    def rows(self) -> str | None:
        """Row counts as reported, e.g. '120 added, 4 changed, 1 failed'; None if not reported."""
        if self.successful_rows is None and self.failed_rows is None:
            return None
        ok = self.successful_rows or {}
        counts = [(ok.get("addedCount", 0), "added"), (ok.get("changedCount", 0), "changed"),
                  (ok.get("removedCount", 0), "removed"), (sum((self.failed_rows or {}).values()), "failed")]
        parts = [f"{count} {label}" for count, label in counts if count]
        return ", ".join(parts) or "0"

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> SyncRun:
        error = data.get("error")
        if isinstance(error, dict):  # some answers nest the text: {"message": ...}
            error = error.get("message") or str(error)
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status", "unknown")),
            error=str(error) if error else None,
            successful_rows=_counts(data.get("successfulRows")),
            failed_rows=_counts(data.get("failedRows")),
            planned_rows=_counts(data.get("plannedRows")),
        )


class _BearerAuth(requests.auth.AuthBase):
    """Adds the API key to each request.

    Kept in an auth object rather than printed anywhere: its repr hides the
    key, and requests drops it on redirects to another host and never lets a
    ~/.netrc entry replace it.
    """

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


class HightouchClient:
    """Triggers Hightouch syncs and reads their runs.

    `timeout` (seconds) bounds every HTTP call; `sleep` is injectable so tests
    can observe backoff without waiting for it.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("a Hightouch API key is required")
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep
        self._session = requests.Session()
        self._session.auth = _BearerAuth(api_key)

    def __repr__(self) -> str:
        return f"HightouchClient(base_url={self._base_url!r})"

    def trigger_sync(self, sync_id: str, *, full_resync: bool = False) -> str:
        """Starts a run of the sync; returns the run's id."""
        answer = self._request("POST", f"syncs/{sync_id}/trigger", body={"fullResync": full_resync})
        run_id = answer.get("id")
        if run_id in (None, "") or isinstance(run_id, (dict, list, bool)):
            # Not retried: the run may have started, and a second trigger would start another.
            raise HightouchError(f"POST /api/v1/syncs/{sync_id}/trigger: the answer has no run id, so the run "
                                 "cannot be followed; the sync may have started in Hightouch")
        return str(run_id)

    def get_sync_run(self, sync_id: str, run_id: str) -> SyncRun | None:
        """The run's current state, or None while Hightouch does not list the run yet."""
        answer = self._request("GET", f"syncs/{sync_id}/runs", params={"runId": run_id})
        runs = answer.get("data")
        if not isinstance(runs, list):
            raise HightouchError(f"reading run {run_id} of sync {sync_id}: the answer has no 'data' list")
        if not runs:
            return None
        run = SyncRun.from_api(runs[0])
        return replace(run, error=self._redact(run.error)) if run.error else run

    def list_all(self, resource: str, *, page_size: int = 100) -> list[dict[str, Any]]:
        """Every object of a list endpoint (`models`, `syncs`, `destinations`), following
        its limit/offset pages until the answer says `hasMore: false`."""
        objects: list[dict[str, Any]] = []
        while True:
            answer = self._request("GET", resource, params={"limit": str(page_size), "offset": str(len(objects))})
            page = answer.get("data")
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise HightouchError(f"GET /api/v1/{resource}: the answer has no 'data' list of objects")
            objects += page
            # An empty page ends the listing too, so a server that always says hasMore cannot loop forever.
            if not answer.get("hasMore") or not page:
                return objects

    def _request(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                 params: dict[str, str] | None = None) -> dict[str, Any]:
        """One API call with retries; returns the JSON object answered."""
        url = f"{self._base_url}/api/v1/{path}"
        what = f"{method} /api/v1/{path}"
        attempt = 0
        while True:
            retry_after = None
            try:
                response = self._session.request(method, url, json=body, params=params, timeout=self._timeout)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                cause = _no_connection(error)
                if cause is not None:
                    raise HightouchUnreachable(urlsplit(url).hostname or url, self._redact(cause)) from None
                status_code, problem = None, _describe(error)
            except requests.RequestException as error:
                raise HightouchError(f"{what}: {_describe(error)}") from None
            else:
                status_code = response.status_code
                if status_code < 400:
                    answer = _json_object(response)
                    if answer is not None:
                        return answer
                    content_type = self._redact(_one_line(response.headers.get("Content-Type", "none")))[:80]
                    problem = f"HTTP {status_code} but the answer is not a JSON object (Content-Type: {content_type})"
                    if method != "GET":
                        # A trigger may have started a run even so: retrying could start a second one.
                        raise HightouchError(f"{what}: {problem}; the sync may have started in Hightouch "
                                             f"(is {self._base_url} Hightouch's API?)", status_code)
                    # A read is safe to repeat, and a proxy's stray page is usually gone on the next try.
                elif status_code != 429 and status_code < 500:
                    raise HightouchError(self._rejection(response, what), status_code)
                else:
                    problem = f"HTTP {status_code}{self._server_message(response)}"
                    if status_code == 429:
                        retry_after = _retry_after(response.headers.get("Retry-After"))
            if attempt == self._retry.retries:
                raise HightouchError(f"{what}: {problem} (gave up after {attempt + 1} attempts)", status_code)
            wait = self._retry.wait(attempt, retry_after)
            attempt += 1
            log.warning("%s: %s; retry %d of %d in %.1f s", what, problem, attempt, self._retry.retries, wait)
            self._sleep(wait)

    def _rejection(self, response: requests.Response, what: str) -> str:
        """Why Hightouch refused a request that retrying cannot fix (4xx other than 429)."""
        if response.status_code == 401:
            return f"{what}: HTTP 401: Hightouch rejected the API key"
        return f"{what}: HTTP {response.status_code}{self._server_message(response)}"

    def _server_message(self, response: requests.Response) -> str:
        """': <the error text the server sent>', shortened; '' if it sent none."""
        try:
            answer = response.json()
        except ValueError:
            answer = None
        text = (answer.get("message") or answer.get("error")) if isinstance(answer, dict) else None
        if not isinstance(text, str):
            text = response.text
        text = self._redact(" ".join(text.split())[:300])
        return f": {text}" if text else ""

    def _redact(self, text: str) -> str:
        """Masks the key in text from the server, should a server ever echo it."""
        return text.replace(self._api_key, "<redacted>")


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or None when the body is not one (an HTML page, a list, nothing)."""
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _counts(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {key: int(count) for key, count in value.items() if isinstance(count, (int, float))}


def _retry_after(header: str | None) -> float | None:
    """Retry-After in seconds: either a number of seconds or an HTTP date."""
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - datetime.now(timezone.utc)).total_seconds()


def _describe(error: requests.RequestException) -> str:
    """The exception's class and text (which name the URL, never the request's headers)."""
    return f"{type(error).__name__}: {error}"


def _no_connection(error: requests.RequestException) -> str | None:
    """Why no connection could be opened ('DNS lookup failed (...)'), or None when the
    error came later (a dropped connection, a read timeout): those are retried."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    detail = reason.__cause__ or reason.__context__ if reason is not None else None
    detail_text = _one_line(str(detail or reason))
    if isinstance(reason, NameResolutionError):
        return f"DNS lookup failed ({detail_text})"
    if isinstance(reason, NewConnectionError):  # checked first: urllib3 derives it from ConnectTimeoutError
        return f"connection failed ({detail_text})"
    if isinstance(reason, ConnectTimeoutError) or isinstance(error, requests.ConnectTimeout):
        return f"connection timed out ({_one_line(str(reason or error))})"
    return None
