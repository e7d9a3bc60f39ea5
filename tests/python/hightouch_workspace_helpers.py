"""Running scripts/hightouch_exposures.py in-process against the Hightouch stand-in
(a real HTTP server on localhost) serving a workspace definition."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from magento_warehouse.demo.hightouch_stub import HightouchStub, load_workspace
from magento_warehouse.hightouch_workspace import cli

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "models" / "magento-retail-hightouch-sync-exposures.yml"
KEY = "ht-workspace-key-5b0e-never-printed"


@dataclass
class Run:
    code: int
    out: str
    err: str
    stub: HightouchStub


def demo_workspace() -> dict[str, Any]:
    return copy.deepcopy(load_workspace())


def sync(workspace: dict[str, Any], sync_id: str) -> dict[str, Any]:
    return next(item for item in workspace["syncs"] if str(item["id"]) == sync_id)


def run_cli(capsys: pytest.CaptureFixture[str], args: list[str], workspace: dict[str, Any] | None = None, *,
            project: Path = REPO, page_size: int = 2) -> Run:
    """main(args) with the stand-in serving `workspace` (the demo's by default), `page_size` objects a page."""
    with HightouchStub(workspace=workspace, page_size=page_size) as stub, pytest.MonkeyPatch.context() as patch:
        patch.setenv("HIGHTOUCH_API_URL", stub.url)
        patch.setenv("HIGHTOUCH_API_KEY", KEY)
        capsys.readouterr()
        code = cli.main([*args, "--project-dir", str(project), "--profiles-dir", str(project)])
    out, err = capsys.readouterr()
    assert KEY not in out + err
    return Run(code, out, err, stub)
