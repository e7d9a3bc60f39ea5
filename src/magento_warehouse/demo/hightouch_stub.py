"""A local stand-in for the Hightouch API, for the demo when no real key is set.

Answers the two calls run_and_sync makes: a trigger gets a new run id, and the
run reads as `processing` once, then `success` with the mart's row count when
the stand-in knows it. Every request must carry a bearer token.

It also serves a workspace (by default the demo's, hightouch_workspace.yml) the
way Hightouch's REST API lists it: `GET /api/v1/models`, `/syncs` and
`/destinations` answer `{"data": [...], "hasMore": ...}` pages of `limit`
objects from `offset`, so the exposures generator reads it as it reads a real
workspace. With `known_syncs_only`, a trigger of a sync the workspace does not
hold answers 404 (off by default: the CRM benchmark runs an earlier revision of
the project, whose exposures had other sync ids).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

import yaml

TRIGGER = re.compile(r"^/api/v1/syncs/([^/]+)/trigger$")
RUNS = re.compile(r"^/api/v1/syncs/([^/]+)/runs$")
LISTS = re.compile(r"^/api/v1/(models|syncs|destinations)/?$")
DEMO_WORKSPACE = Path(__file__).with_name("hightouch_workspace.yml")


def load_workspace(path: Path = DEMO_WORKSPACE) -> dict[str, Any]:
    """A workspace definition: its `models`, `syncs` and `destinations` lists in the API's shapes."""
    workspace = yaml.safe_load(path.read_text())
    for resource in ("models", "syncs", "destinations"):
        if not isinstance(workspace.get(resource), list):
            raise ValueError(f"{path}: `{resource}` must be a list of {resource} as Hightouch's API lists them")
    return workspace


class HightouchStub:
    """Serves on 127.0.0.1 in a background thread; `url` is the API base URL."""

    def __init__(self, rows_of: Callable[[str], int] | None = None, *, workspace: dict[str, Any] | None = None,
                 page_size: int = 100, known_syncs_only: bool = False) -> None:
        self.rows_of = rows_of or (lambda sync_id: 0)
        self.workspace = workspace if workspace is not None else load_workspace()
        self.page_size = page_size  # the most objects a page holds, whatever `limit` asks
        self.known_syncs_only = known_syncs_only
        self.listed: list[tuple[str, int]] = []  # (resource, offset) of each list call
        self.polls: dict[str, int] = {}
        self.triggered: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "HightouchStub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def page(self, resource: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """One page of a list endpoint: `limit` objects (at most page_size) from `offset`."""
        offset = int(query.get("offset", ["0"])[0])
        self.listed.append((resource, offset))
        limit = min(int(query.get("limit", ["100"])[0]), self.page_size)
        objects = self.workspace[resource]
        return {"data": objects[offset:offset + limit], "hasMore": offset + limit < len(objects)}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                match = TRIGGER.match(urlparse(self.path).path)
                if not self._authorized() or not match:
                    return
                if stub.known_syncs_only and match.group(1) not in {str(s["id"]) for s in stub.workspace["syncs"]}:
                    self._send(404, {"message": f"sync {match.group(1)} not found"})
                    return
                run_id = uuid.uuid4().hex[:12]
                stub.polls[run_id] = 0
                stub.triggered.append(match.group(1))
                self._send(200, {"id": run_id})

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                listing = LISTS.match(url.path)
                if listing:
                    if self._authorized():
                        self._send(200, stub.page(listing.group(1), parse_qs(url.query)))
                    return
                match = RUNS.match(url.path)
                run_id = parse_qs(url.query).get("runId", [""])[0]
                if not self._authorized() or not match or run_id not in stub.polls:
                    if match:
                        self._send(404, {"message": "run not found"})
                    return
                stub.polls[run_id] += 1
                status = "processing" if stub.polls[run_id] == 1 else "success"
                rows = stub.rows_of(match.group(1))
                self._send(200, {"data": [{"id": run_id, "status": status, "completionRatio": 1.0,
                                           "successfulRows": {"addedCount": 0, "changedCount": rows,
                                                              "removedCount": 0}}]})

            def _authorized(self) -> bool:
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    self._send(401, {"message": "missing bearer token"})
                    return False
                return True

            def _send(self, code: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:  # keep the demo's output readable
                pass

        return Handler
