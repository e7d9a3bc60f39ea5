"""scripts/run_and_sync.py narrowed: no abbreviated options, --select/--exclude within the
selector, and --sync NAME building one sync's upstream and triggering only that sync.

The same tiny dbt project and fake Hightouch API as test_run_and_sync.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

import test_run_and_sync as base
from fake_hightouch import CliRun, FakeHightouch

from magento_warehouse.runner import change_check, run_and_sync

# The fixtures of test_run_and_sync.py, shared: its project is built once per module.
project, api, cli = base.project, base.api, base.cli

PACKAGE = "run_and_sync_fixture"


def built(project: Path) -> set[str]:
    """What the last dbt build ran, from run_results.json: 'model orders', 'test not_null_...'."""
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    return {f"{r['unique_id'].split('.')[0]} {r['unique_id'].split('.')[2]}" for r in results}


@pytest.mark.parametrize("argv", [["--selector", "crm", "--sel", "x"], ["--selector", "crm", "--sync-t", "5"],
                                  ["--selector", "crm", "--syn", "orders"]])
def test_abbreviated_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_and_sync.parse_args(argv)

    assert exit_info.value.code == 3
    assert "unrecognized arguments" in capsys.readouterr().err


def test_select_and_selector_are_read_as_written() -> None:
    args = run_and_sync.parse_args(["--select", "+exposure:sync_orders", "--selector", "crm",
                                    "--select", "contacts", "subscribers", "--exclude", "orders"])

    assert args.selector == "crm"
    assert args.select == ["+exposure:sync_orders", "contacts", "subscribers"]
    assert args.exclude == ["orders"]
    with pytest.raises(SystemExit) as exit_info:  # --select is no stand-in for the required --selector
        run_and_sync.parse_args(["--select", "+exposure:sync_orders"])
    assert exit_info.value.code == 3


def test_select_narrows_the_selector(api: FakeHightouch, cli: Callable[..., CliRun], project: Path) -> None:
    run = cli("--select", "subscribers", "--select", "contacts", "legacy_customers")

    assert run.code == 0, run.err
    # legacy_customers is outside the selector: the intersection leaves it out.
    assert built(project) == {"model contacts", "model subscribers", "test not_null_subscribers_email"}
    assert sorted(api.triggered()) == ["101", "103"]


def test_exclude_takes_out_the_nodes_and_their_tests(api: FakeHightouch, cli: Callable[..., CliRun],
                                                     project: Path) -> None:
    run = cli("--exclude", "subscribers")

    assert run.code == 0, run.err
    assert built(project) == {"model contacts", "model orders", "model orders_summary"}
    assert sorted(api.triggered()) == ["101", "102"]


@pytest.mark.parametrize("name", ["orders", "sync_orders"])  # its sync slug or its exposure's name
def test_sync_builds_only_its_upstream_and_triggers_only_it(api: FakeHightouch, cli: Callable[..., CliRun],
                                                            project: Path, name: str) -> None:
    run = cli("--sync", name)

    assert run.code == 0, run.err
    assert built(project) == {"model orders", "model orders_summary"}
    assert api.triggered() == ["102"]
    assert list(run.summary) == ["sync_orders"]


def test_sync_runs_its_tests(api: FakeHightouch, cli: Callable[..., CliRun], project: Path) -> None:
    run = cli("--sync", "subscribers", "--vars", "{break_subscribers_test: true}")

    assert run.code == 1  # a failed test fails the build
    assert built(project) == {"model subscribers", "test not_null_subscribers_email"}
    assert api.triggered() == []
    assert run.summary["sync_subscribers"]["upstream"] == "failed"


def test_sync_triggers_only_the_named_sync_of_what_it_builds(api: FakeHightouch, cli: Callable[..., CliRun],
                                                             project: Path) -> None:
    # contacts also feeds sync_contacts and the dashboard: neither is named, neither runs.
    run = cli("--sync", "sync_contacts", "--select", "contacts", "subscribers")

    assert run.code == 0, run.err
    assert built(project) == {"model contacts"}
    assert api.triggered() == ["101"]


def test_sync_with_only_changed(api: FakeHightouch, cli: Callable[..., CliRun], project: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(change_check, "unchanged_models",
                        lambda manifest, flags: {f"model.{PACKAGE}.contacts"})

    run = cli("--sync", "orders", "--sync", "contacts", "--only-changed")

    assert run.code == 0, run.err
    assert built(project) == {"model orders", "model orders_summary"}
    assert api.triggered() == ["102"]


def test_unknown_sync_name_is_a_usage_error(api: FakeHightouch, cli: Callable[..., CliRun], project: Path) -> None:
    marks = base.build_marks(project)

    run = cli("--sync", "orders", "--sync", "emarsys-orders")

    assert run.code == 3
    assert "no Hightouch sync named 'emarsys-orders'" in run.err
    # Every name it accepts, to copy from; the dashboard has no sync and is not one.
    assert ("contacts, legacy, orders, subscribers, sync_contacts, sync_legacy, sync_orders, "
            "sync_subscribers") in run.err
    assert "crm_dashboard" not in run.err
    assert api.server.log == []
    assert base.build_marks(project) == marks


def test_sync_when_the_change_check_fails_builds_the_whole_sync(api: FakeHightouch, cli: Callable[..., CliRun],
                                                                project: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(manifest: object, flags: object) -> set[str]:
        raise change_check.ChangeCheckError("no watermarks table")

    monkeypatch.setattr(change_check, "unchanged_models", fails)

    run = cli("--sync", "orders", "--only-changed")

    assert run.code == 0, run.err
    assert ("warning: no watermarks table; building every model of the selector that --select, --exclude "
            "and --sync choose") in run.err
    assert built(project) == {"model orders", "model orders_summary"}
    assert api.triggered() == ["102"]
