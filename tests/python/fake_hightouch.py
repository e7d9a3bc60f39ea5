"""A fake of Hightouch's API for the runner's tests: a real HTTP server on localhost
(pytest-httpserver) answering the trigger and runs endpoints from per-sync scripts."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from magento_warehouse.runner import hightouch

FAKE_KEY = "ht-test-key-7c41e9d0-must-never-be-printed"


@dataclass
class Answer:
    """One scripted HTTP answer of the fake API; a str body is sent as is, anything else as JSON."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def run_json(sync_id: str, status: str, error: str | None = None) -> dict[str, Any]:
    """A Hightouch sync run object as `GET /syncs/{id}/runs` lists it."""
    return {
        "id": f"run-{sync_id}", "status": status, "error": error, "querySize": 4, "completionRatio": 1,
        "plannedRows": {"addedCount": 3, "changedCount": 1, "removedCount": 0},
        "successfulRows": {"addedCount": 3, "changedCount": 1, "removedCount": 0},
        "failedRows": {"addedCount": 0, "changedCount": 0, "removedCount": 0},
    }


class FakeHightouch:
    """Hightouch's trigger and runs endpoints, answering from per-sync scripts.

    `triggers[sync]` answers that sync's trigger calls in order, then
    {"id": "run-<sync>"}. `runs[sync]` answers its run reads in order and
    repeats the last one; an entry is a status name or an Answer. By default
    a run is queued, then processing, then success.
    """

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.triggers: dict[str, list[Answer]] = {}
        self.runs: dict[str, list[str | Answer]] = {}
        server.expect_request(re.compile(r"/api/v1/syncs/.*")).respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        match = re.fullmatch(r"/api/v1/syncs/([^/]+)/(trigger|runs)", request.path)
        assert match, f"unexpected request {request.method} {request.path}"
        sync_id, action = match.groups()
        if action == "trigger":
            triggers = self.triggers.get(sync_id, [])
            answer = triggers.pop(0) if triggers else Answer(body={"id": f"run-{sync_id}"})
        else:
            runs = self.runs.setdefault(sync_id, ["queued", "processing", "success"])
            step = runs.pop(0) if len(runs) > 1 else runs[0]
            answer = Answer(body={"data": [run_json(sync_id, step)]}) if isinstance(step, str) else step
        time.sleep(answer.delay)
        if isinstance(answer.body, str):  # sent as is, e.g. an HTML page with its own Content-Type
            return Response(answer.body, answer.status, answer.headers)
        return Response(json.dumps(answer.body), answer.status, answer.headers, content_type="application/json")

    def requests(self, method: str | None = None, sync_id: str | None = None) -> list[Request]:
        return [request for request, _ in self.server.log
                if (method is None or request.method == method)
                and (sync_id is None or request.path.startswith(f"/api/v1/syncs/{sync_id}/"))]

    def triggered(self) -> list[str]:
        """The sync ids triggered, in order (one entry per POST, retries included)."""
        return [request.path.split("/")[4] for request in self.requests("POST")]


@dataclass
class CliRun:
    code: int
    out: str
    err: str

    @property
    def summary(self) -> dict[str, dict[str, str]]:
        """The summary table's rows by exposure."""
        lines = self.out.split("\nHightouch syncs:\n", 1)[1].splitlines()
        header = re.split(r" {2,}", lines[0])
        return {cells[0]: dict(zip(header, cells)) for cells in (re.split(r" {2,}", line) for line in lines[1:] if line)}


def client_for(server: HTTPServer, waits: list[float], retries: int = 5) -> hightouch.HightouchClient:
    policy = hightouch.RetryPolicy(retries=retries, backoff=0.5, max_wait=60.0)
    return hightouch.HightouchClient(FAKE_KEY, server.url_for("/"), timeout=5, retry=policy, sleep=waits.append)
