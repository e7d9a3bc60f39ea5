"""scripts/run_and_sync.py when Hightouch answers oddly, when runs overlap and when
another process holds the DuckDB file.

The same tiny dbt project and fake Hightouch API (a real HTTP server on localhost)
as test_run_and_sync.py; overlapping runs and the DuckDB holder are real processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import IO, Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer

import test_run_and_sync as base
from fake_hightouch import FAKE_KEY, Answer, CliRun, FakeHightouch, client_for, run_json
from test_run_and_sync import SCRIPTS, build_marks

from magento_warehouse.runner import hightouch
from magento_warehouse.runner import run_and_sync

# The fixtures of test_run_and_sync.py, shared: its project is built once per module.
project, api, cli = base.project, base.api, base.cli

HTML = Answer(200, "<html><body>Sign in</body></html>", {"Content-Type": "text/html"})


def test_trigger_answer_without_a_run_id_is_an_error_not_retried(api: FakeHightouch,
                                                                 cli: Callable[..., CliRun]) -> None:
    api.triggers["101"] = [Answer(body={"status": "ok"})]

    run = cli()

    assert run.code == 2
    assert api.triggered().count("101") == 1  # a second trigger could start a second run
    assert api.requests("GET", "101") == []
    row = run.summary["sync_contacts"]
    assert (row["sync"], row["run id"]) == ("error", "-")
    assert "the answer has no run id, so the run cannot be followed" in row["message"]
    assert run.summary["sync_orders"]["sync"] == run.summary["sync_subscribers"]["sync"] == "success"


def test_run_not_listed_yet_is_polled_until_it_appears(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    not_listed = Answer(body={"data": []})
    api.runs["102"] = [not_listed, not_listed, not_listed, "processing", "success"]

    run = cli()

    assert run.code == 0, run.err
    assert len(api.requests("GET", "102")) == 5
    assert run.out.count("sync_orders (sync 102): run run-102 not listed yet\n") == 1
    assert run.out.index("run-102 not listed yet") < run.out.index("run-102 processing") < run.out.index("run-102 success")
    assert run.summary["sync_orders"]["sync"] == "success"


def test_success_answer_that_is_not_json(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.triggers["101"] = [HTML]  # a trigger so answered is not repeated: it may have started a run
    api.runs["102"] = [HTML, "success"]  # a read is repeated

    run = cli()

    assert run.code == 2
    assert api.triggered().count("101") == 1
    message = run.summary["sync_contacts"]["message"]
    assert "HTTP 200 but the answer is not a JSON object (Content-Type: text/html)" in message
    assert "the sync may have started in Hightouch" in message
    assert len(api.requests("GET", "102")) == 2
    assert "GET /api/v1/syncs/102/runs: HTTP 200 but the answer is not a JSON object" in run.err
    assert run.summary["sync_orders"]["sync"] == "success"


@pytest.mark.parametrize("status", ["cancelled", "interrupted"])
def test_cancelled_or_interrupted_run_fails_the_job(api: FakeHightouch, cli: Callable[..., CliRun],
                                                    status: str) -> None:
    api.runs["103"] = ["processing", status]

    run = cli()

    assert run.code == 2
    row = run.summary["sync_subscribers"]
    assert (row["sync"], row["upstream"]) == (status, "success")
    assert row["message"] == f"the run ended {status} in Hightouch"
    assert run.summary["sync_contacts"]["sync"] == run.summary["sync_orders"]["sync"] == "success"


@pytest.mark.parametrize(("offset", "expected"), [(30, 30.0), (-120, 0.0), (86400, 60.0)])
def test_client_honours_retry_after_as_an_http_date(httpserver: HTTPServer, offset: int, expected: float) -> None:
    moment = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=offset), usegmt=True)
    httpserver.expect_ordered_request("/api/v1/syncs/7/trigger", method="POST").respond_with_json(
        {}, 429, {"Retry-After": moment})
    httpserver.expect_ordered_request("/api/v1/syncs/7/trigger", method="POST").respond_with_json({"id": 9})
    waits: list[float] = []

    assert client_for(httpserver, waits).trigger_sync("7") == "9"
    assert len(waits) == 1
    assert waits[0] == pytest.approx(expected, abs=2.0)  # the date has whole seconds


def test_polling_that_gives_up_fails_the_job(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.runs["101"] = [Answer(body={"data": []})]  # never listed
    api.runs["102"] = [Answer(503, {"message": "service unavailable"})]  # never readable
    api.runs["103"] = ["success"]  # done well within the short timeout

    run = cli("--sync-timeout", "0.3", "--retries", "2")

    assert run.code == 2
    contacts = run.summary["sync_contacts"]
    assert (contacts["sync"], contacts["run id"]) == ("timeout", "run-101")
    assert contacts["message"] == "Hightouch did not list the run within 0.3 s"
    orders = run.summary["sync_orders"]
    assert (orders["sync"], orders["run id"]) == ("error", "run-102")
    assert orders["message"] == ("stopped following the run, its outcome is unknown: GET /api/v1/syncs/102/runs: "
                                 "HTTP 503: service unavailable (gave up after 3 attempts)")
    assert len(api.requests("GET", "102")) == 3
    assert run.summary["sync_subscribers"]["sync"] == "success"


@pytest.mark.parametrize(("url", "problem"), [
    ("api.hightouch.com", "must start with https://"),
    ("https://", "has no host"),
    ("https://api.hightouch.com:44x", "is not a valid URL"),
    ("https://api.hightouch.com/api/v1", "must not end with /api/v1"),
    (f"https://api.hightouch.com/?key={FAKE_KEY}", "must not have a query"),
    (f"https://user:{FAKE_KEY}@api.hightouch.com", "must not contain credentials"),
])
def test_malformed_api_url_stops_before_any_dbt_work(api: FakeHightouch, cli: Callable[..., CliRun],
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     url: str, problem: str) -> None:
    monkeypatch.setenv("HIGHTOUCH_API_URL", url)

    # dbt would fail on this missing project (exit 1): the setting is checked before dbt runs.
    run = cli("--project-dir", str(tmp_path / "no_project"))  # cli also checks the key is not printed

    assert run.code == 3
    assert run.err.startswith("error: HIGHTOUCH_API_URL ")
    assert problem in run.err
    assert "dbt_project.yml" not in run.out + run.err
    assert api.server.log == []
    assert not (tmp_path / "no_project").exists()


def test_build_failure_wins_over_a_failed_sync(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.runs["101"] = ["processing", Answer(body={"data": [run_json("101", "failed", "Emarsys: quota exceeded")]})]

    run = cli("--vars", "{break_orders: true}")

    assert run.code == run_and_sync.EXIT_BUILD_FAILED == 1
    assert run.summary["sync_contacts"]["sync"] == "failed"
    assert run.summary["sync_orders"]["sync"] == "skipped"
    assert run.err.rstrip().splitlines()[-1] == (
        "error: the dbt build failed (exit code 1) and sync(s) fed by models that succeeded failed too: sync_contacts")


def closed_port_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(("url", "host", "cause"), [
    (None, "127.0.0.1", "connection failed ("),
    ("http://hightouch.invalid", "hightouch.invalid", "DNS lookup failed ("),
])
def test_unreachable_api_stops_the_phase_at_once(cli: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch,
                                                 url: str | None, host: str, cause: str) -> None:
    monkeypatch.setenv("HIGHTOUCH_API_KEY", FAKE_KEY)
    monkeypatch.setenv("HIGHTOUCH_API_URL", url or closed_port_url())
    started = time.monotonic()

    # Retries that did happen would take 5 x 2 s per sync, three syncs.
    run = cli("--retries", "5", "--retry-backoff", "2")

    assert time.monotonic() - started < 20
    assert run.code == run_and_sync.EXIT_HIGHTOUCH_UNREACHABLE == 6
    assert "retry" not in run.err
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Hightouch API unreachable at {host}: {cause}")
    rows = run.summary
    assert sorted(rows) == ["sync_contacts", "sync_orders", "sync_subscribers"]
    assert {row["upstream"] for row in rows.values()} == {"success"}
    assert {row["sync"] for row in rows.values()} == {"error"}
    assert rows["sync_contacts"]["message"].startswith(f"not triggered: {cause}")
    assert rows["sync_subscribers"]["message"] == "not triggered: the Hightouch API is unreachable"


def test_unreachable_api_while_polling_stops_following_every_run(api: FakeHightouch, cli: Callable[..., CliRun],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The API goes away once every sync is triggered: the first read stops the phase.
    def unreachable(*_: object) -> None:
        raise hightouch.HightouchUnreachable("127.0.0.1", "connection failed ([Errno 111] Connection refused)")

    monkeypatch.setattr(hightouch.HightouchClient, "get_sync_run", unreachable)

    run = cli()

    assert run.code == 6, run.err
    assert sorted(api.triggered()) == ["101", "102", "103"]
    assert run.err.splitlines() == [
        "error: Hightouch API unreachable at 127.0.0.1: connection failed ([Errno 111] Connection refused)"]
    assert {row["sync"] for row in run.summary.values()} == {"error"}
    assert api.requests("GET") == []


def test_exit_codes_are_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_and_sync.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "When a sync fails too, 1 still wins" in text
    assert f"{run_and_sync.EXIT_LOCKED} another run holds the lock" in text
    assert f"{run_and_sync.EXIT_WAREHOUSE_BUSY} another process holds the DuckDB file" in text
    readme = (SCRIPTS.parent / "README.md").read_text()
    runner = readme.split("### dbt-core: the project's runner", 1)[1].split("\n#", 1)[0]
    for code in (run_and_sync.EXIT_BUILD_FAILED, run_and_sync.EXIT_LOCKED, run_and_sync.EXIT_WAREHOUSE_BUSY,
                 run_and_sync.EXIT_HIGHTOUCH_UNREACHABLE):
        assert f"exit code {code}" in runner
    assert f"{run_and_sync.EXIT_HIGHTOUCH_UNREACHABLE} the build succeeded but the Hightouch API could not be " \
           "reached" in text


# Processes: the first run is a real runner process, held mid-run by a sync that stays
# processing until the test lets it finish. Each test has its own project: after an
# in-process run, dbt-duckdb keeps the DuckDB file open in this process, which would
# stop a runner process on the shared one.

@pytest.fixture
def own_project(tmp_path: Path) -> Path:
    return base.write_project(tmp_path / "project")


def project_args(project: Path) -> list[str]:
    return ["--project-dir", str(project), "--profiles-dir", str(project)]


def start_runner(project: Path, log: IO[str]) -> subprocess.Popen[str]:
    command = [sys.executable, str(SCRIPTS / "run_and_sync.py"), "--selector", "crm", *project_args(project),
               "--poll-interval", "0.05", "--retry-backoff", "0.01"]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


def wait_until_polling(api: FakeHightouch, runner: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 120
    while not api.requests("GET", "101"):
        assert runner.poll() is None, f"the first run ended early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"the first run never polled:\n{log.read_text()}"
        time.sleep(0.05)


@contextlib.contextmanager
def first_run_polling(api: FakeHightouch, project: Path, log: Path) -> Iterator[subprocess.Popen[str]]:
    """A runner process on `project`, held polling sync 101 (processing) and so holding
    the lock; killed on leaving if it still runs."""
    api.runs["101"] = ["processing"]
    with log.open("w") as output:
        first = start_runner(project, output)
        try:
            wait_until_polling(api, first, log)
            yield first
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()


def test_second_run_stops_at_once_while_the_first_holds_the_lock(
        api: FakeHightouch, cli: Callable[..., CliRun], own_project: Path, tmp_path: Path) -> None:
    log = tmp_path / "first.log"
    with first_run_polling(api, own_project, log) as first:
        triggers, marks = len(api.triggered()), build_marks(own_project)

        started = time.monotonic()
        second = cli(*project_args(own_project))
        took = time.monotonic() - started

        assert second.code == run_and_sync.EXIT_LOCKED == 4
        lock = own_project / "target" / run_and_sync.LOCK_FILE
        assert second.err.startswith(f"error: another run holds the lock {lock} (pid {first.pid}, selector crm, ")
        assert "this run stops without building or syncing" in second.err
        assert len(api.triggered()) == triggers and build_marks(own_project) == marks
        assert took < 5  # no parse, no build

        api.runs["101"] = ["success"]
        assert first.wait(timeout=60) == 0, log.read_text()
    assert "sync_contacts (sync 101): run run-101 success" in log.read_text()
    assert lock.read_text() == ""  # a finished run is not shown as the holder


def test_lock_of_a_killed_run_does_not_block_the_next(
        api: FakeHightouch, cli: Callable[..., CliRun], own_project: Path, tmp_path: Path) -> None:
    with first_run_polling(api, own_project, tmp_path / "killed.log") as first:
        first.send_signal(signal.SIGKILL)  # as a crash or the OOM killer would: no cleanup runs
        first.wait()
    assert (own_project / "target" / run_and_sync.LOCK_FILE).read_text().startswith(f"pid {first.pid}, ")
    api.runs["101"] = ["success"]

    run = cli(*project_args(own_project))

    assert run.code == 0, run.err
    assert run.summary["sync_contacts"]["sync"] == "success"


# DuckDB: a second process holds the warehouse file open read-write.

HOLD_DUCKDB = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


def test_duckdb_file_held_by_another_process_is_named_without_a_stack_trace(
        api: FakeHightouch, cli: Callable[..., CliRun], own_project: Path) -> None:
    database = own_project / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_DUCKDB, str(database)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"

        run = cli(*project_args(own_project))
        changed = cli(*project_args(own_project), "--only-changed")  # its change check opens the file first
    finally:
        holder.communicate("")  # closes its stdin: the holder exits and lets the file go

    for attempt in (run, changed):
        assert attempt.code == run_and_sync.EXIT_WAREHOUSE_BUSY == 5
        assert attempt.err.startswith(f"error: the DuckDB file {database} is held by another process (")
        assert f"by another process (PID {holder.pid}, " in attempt.err
        assert "Traceback" not in attempt.out + attempt.err
    assert api.server.log == []
    assert not (own_project / "target" / "run_results.json").exists()  # nothing was built
    assert holder.returncode == 0


def test_client_messages_name_no_key_for_odd_answers(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/syncs/7/trigger").respond_with_data(
        "<html/>", 200, {"Content-Type": f"text/html; token={FAKE_KEY}"})
    client = hightouch.HightouchClient(FAKE_KEY, httpserver.url_for("/"), timeout=5)

    with pytest.raises(hightouch.HightouchError) as error:
        client.trigger_sync("7")

    assert "not a JSON object (Content-Type: text/html; token=<redacted>)" in str(error.value)
    assert FAKE_KEY not in str(error.value)
