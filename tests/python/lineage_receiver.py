"""A local OpenLineage endpoint for the runner's lineage tests, and the OpenLineage JSON
schema check of what it receives."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from magento_warehouse.runner.lineage import sync_run_facet_schema

# The OpenLineage spec (spec/OpenLineage.json and spec/facets/*.json of the OpenLineage
# repository): no package on the registries this project uses ships it, so it is read
# from OPENLINEAGE_SPEC_DIR, else from the shared folder beside the checkout.
SPEC_DIR = Path(os.environ.get("OPENLINEAGE_SPEC_DIR")
                or Path(__file__).resolve().parents[3] / "shared" / "openlineage-spec")


class Receiver:
    """Serves POST <url>/api/v1/lineage on 127.0.0.1, keeping each request's path, headers and JSON body.

    `status` is the answer's HTTP status, `delay` seconds are waited before answering.
    """

    def __init__(self, status: int = 201, delay: float = 0.0) -> None:
        self.status, self.delay = status, delay
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [body for _, _, body in self.requests]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), json.loads(body)))
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def spec_registry() -> Registry | None:
    """Every schema of the spec and the project's own facet, by $id; None without the spec."""
    if not (SPEC_DIR / "OpenLineage.json").is_file():
        return None
    schemas = [json.loads(path.read_text()) for path in [SPEC_DIR / "OpenLineage.json",
                                                         *sorted((SPEC_DIR / "facets").glob("*.json"))]]
    schemas.append(sync_run_facet_schema())
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas)


def schema_errors(event: dict[str, Any], registry: Registry) -> list[str]:
    """What in the event breaks the OpenLineage schema: the event against OpenLineage.json,
    then each facet against the schema its _schemaURL names."""
    def check(schema_url: str, instance: Any, where: str) -> list[str]:
        validator = Draft202012Validator({"$ref": schema_url}, registry=registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        return [f"{where}: {error.message}" for error in validator.iter_errors(instance)]

    core = registry.contents("https://openlineage.io/spec/2-0-2/OpenLineage.json")["$id"]
    errors = check(core, event, "event")
    facet_maps = [("run", event["run"].get("facets")), ("job", event["job"].get("facets"))]
    for side in ("inputs", "outputs"):
        for dataset in event.get(side, []):
            for key in ("facets", "inputFacets", "outputFacets"):
                facet_maps.append((f"{side} {dataset['name']} {key}", dataset.get(key)))
    for where, facets in facet_maps:
        for name, facet in (facets or {}).items():
            errors += check(facet["_schemaURL"], facet, f"{where} {name}")
    return errors
