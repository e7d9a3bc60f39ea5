"""The docs site for test_docs_site.py: the demo warehouse's `dbt docs generate`,
served on 127.0.0.1, and Debian's chromium driven by Playwright (no browser is
downloaded; scripts/install_chromium.sh installs chromium)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from dbt.cli.main import dbtRunner

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # reported by require_browser(), so the tests fail, not error at import
    sync_playwright = None
    Browser = Page = Any

REPO = Path(__file__).resolve().parents[2]

# Flags for Chromium in a container or CI runner: no sandbox (often no user
# namespaces), no GPU, and no background traffic to Google's services.
# Playwright adds --headless and gives each launch a fresh temporary profile
# (its own --user-data-dir).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 810}
TIMEOUT_MS = 30_000


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def require_browser() -> str:
    """The chromium binary; fails the test (never skips) when it cannot run."""
    if sync_playwright is None:
        pytest.fail("The Python package playwright is missing: pip install -r requirements.txt")
    chromium = find_chromium()
    if chromium is None:
        pytest.fail(
            "No chromium binary found. Install Debian's chromium with scripts/install_chromium.sh "
            "(make test runs it) and run the tests again."
        )
    return chromium


# ---------------------------------------------------------------- the docs site


def run_dbt(args: list[str], target: Path, logs: Path) -> None:
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir", str(REPO),
            "--profiles-dir", str(REPO),
            "--target-path", str(target),
            "--log-path", str(logs),
            "--quiet",
        ]
    )
    if not result.success:
        raise AssertionError(f"dbt {' '.join(args)} failed: {result.exception or result.result}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any] | None]:
    """Builds the warehouse and its docs, serves them; yields url and manifest."""
    if sync_playwright is None or find_chromium() is None:
        yield None  # each test fails in require_browser(); no need to build anything
        return

    tmp = tmp_path_factory.mktemp("docs_site")
    db_path = tmp / "warehouse.duckdb"
    target = tmp / "target"
    simulator = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "simulate_cdc.py"), "--db", str(db_path), "--batches", "2"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert simulator.returncode == 0, f"simulate_cdc.py failed:\n{simulator.stdout}\n{simulator.stderr}"

    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_DUCKDB_PATH", str(db_path))
        env.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        # The catalog reads the relations, so they must exist before docs generate.
        for command in (["seed"], ["run"], ["docs", "generate"]):
            run_dbt(command, target, tmp / "logs")

    manifest = json.loads((target / "manifest.json").read_text())
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(target))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield {"url": f"http://{host}:{port}/index.html", "manifest": manifest}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser | None]:
    chromium = find_chromium()
    if sync_playwright is None or chromium is None:
        yield None
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def new_page(browser: Browser | None) -> Iterator[Page]:
    """A fresh page; fails the calling test (not its setup) when no browser runs."""
    require_browser()
    assert browser is not None
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        page.close()


def open_docs_page(page: Page, site: dict[str, Any], unique_id: str, heading: str) -> None:
    """Opens the docs page of `unique_id` and waits until the app has drawn it."""
    resource_type = unique_id.split(".", 1)[0]
    page.goto(f"{site['url']}#!/{resource_type}/{unique_id}")
    page.locator(".app-title, .app-details").get_by_text(heading, exact=True).first.wait_for()
