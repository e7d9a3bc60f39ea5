"""scripts/run_and_sync.py end to end: a tiny dbt project built in-process on
DuckDB, and a real HTTP server on localhost standing in for Hightouch's API.

The project has a `crm` selector over models/crm and five exposures:
  sync_contacts    (sync 101) <- contacts, legacy_customers (not selected: must not block)
  sync_orders      (sync 102) <- orders_summary <- orders (orders fails with var break_orders)
  sync_subscribers (sync 103) <- subscribers (its not_null test fails with var break_subscribers_test);
                                 meta at the top level, as Hightouch's generated exposures have it
  sync_legacy      (sync 104) <- legacy_orders (not selected) <- orders: what it reads is not rebuilt,
                                 so it is never triggered
  crm_dashboard    no meta.hightouch: ignored
"""

from __future__ import annotations

import json
import logging
import re
import textwrap
from pathlib import Path
from typing import Callable

import pytest
from pytest_httpserver import HTTPServer

from magento_warehouse.runner import run_and_sync

from conftest import write_duckdb_profile
from fake_hightouch import FAKE_KEY, Answer, CliRun, FakeHightouch, run_json

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


TRIGGERED_SYNCS = ["101", "102", "103"]

PROJECT_FILES = {
    "dbt_project.yml": """\
        name: run_and_sync_fixture
        version: "1.0.0"
        config-version: 2
        profile: run_and_sync_fixture
        models:
          run_and_sync_fixture:
            +materialized: table
        """,
    "selectors.yml": """\
        selectors:
          - name: crm
            definition:
              method: path
              value: models/crm
        """,
    "models/crm/contacts.sql": "select 1 as customer_id, 'ann@example.com' as email\n",
    "models/crm/orders.sql": """\
        {% if var('break_orders', false) %}
        select error('orders are broken') as customer_id
        {% else %}
        select 1 as customer_id, 42.0 as grand_total
        {% endif %}
        """,
    "models/crm/orders_summary.sql": """\
        select customer_id, count(*) as lifetime_orders from {{ ref('orders') }} group by customer_id
        """,
    "models/crm/subscribers.sql": """\
        select {{ 'null' if var('break_subscribers_test', false) else "'bob@example.com'" }} as email
        """,
    "models/crm/_crm.yml": """\
        version: 2
        models:
          - name: subscribers
            columns:
              - name: email
                data_tests: [not_null]
        """,
    "models/legacy/legacy_customers.sql": "select 1 as customer_id\n",
    "models/legacy/legacy_orders.sql": "select * from {{ ref('orders') }}\n",
    "models/_exposures.yml": """\
        version: 2
        exposures:
          - name: sync_contacts
            type: application
            owner: {name: CRM team}
            depends_on: [ref('contacts'), ref('legacy_customers')]
            config:
              meta:
                hightouch: {sync_id: "101", sync_slug: contacts, sync_name: Contacts, destination: emarsys}
          - name: sync_orders
            type: application
            owner: {name: CRM team}
            depends_on: [ref('orders_summary')]
            config:
              meta:
                hightouch: {sync_id: 102, sync_slug: orders, sync_name: Orders, destination: emarsys}
          - name: sync_subscribers
            type: application
            owner: {name: CRM team}
            depends_on: [ref('subscribers')]
            meta:
              hightouch: {sync_id: "103", sync_slug: subscribers, sync_name: Subscribers}
          - name: sync_legacy
            type: application
            owner: {name: CRM team}
            depends_on: [ref('legacy_orders')]
            config:
              meta:
                hightouch: {sync_id: "104", sync_slug: legacy, sync_name: Legacy}
          - name: crm_dashboard
            type: dashboard
            owner: {name: CRM team}
            depends_on: [ref('contacts')]
            config:
              meta: {team: crm}
        """,
}


def write_project(root: Path) -> Path:
    """The fixture project in `root`, with its own DuckDB file, root/warehouse.duckdb."""
    for name, text in PROJECT_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    write_duckdb_profile(root, "run_and_sync_fixture")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("run_and_sync") / "project")


@pytest.fixture
def api(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeHightouch:
    monkeypatch.setenv("HIGHTOUCH_API_KEY", FAKE_KEY)
    monkeypatch.setenv("HIGHTOUCH_API_URL", httpserver.url_for("/").rstrip("/"))
    return FakeHightouch(httpserver)


@pytest.fixture
def cli(project: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Callable[..., CliRun]:
    """Runs the CLI in-process with fast timings; checks the key shows up nowhere it printed or logged."""
    caplog.set_level(logging.DEBUG)

    def invoke(*args: str) -> CliRun:
        capsys.readouterr()
        code = run_and_sync.main([
            "--selector", "crm", "--project-dir", str(project), "--profiles-dir", str(project),
            "--poll-interval", "0.02", "--retry-backoff", "0.01", "--http-timeout", "5", *args,
        ])
        out, err = capsys.readouterr()
        assert FAKE_KEY not in out + err + caplog.text
        return CliRun(code, out, err)

    return invoke


def build_marks(project: Path) -> tuple[float | None, ...]:
    """Modification times of what `dbt build` writes: the warehouse and run_results.json."""
    paths = [project / "warehouse.duckdb", project / "target" / "run_results.json"]
    return tuple(path.stat().st_mtime_ns if path.exists() else None for path in paths)


def test_help_documents_exit_codes_and_which_models_block(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_and_sync.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 the build and every triggered sync succeeded" in text
    assert "A model the selector does not select does not block a sync" in text
    assert "An exposure is considered when the selector selects a model it depends on directly" in text
    for code in ("1 the dbt build failed", "2 the build succeeded but a sync failed", "3 usage or configuration error"):
        assert code in text


def test_success_triggers_every_sync_fed_by_the_selector(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    run = cli()

    assert run.code == 0, run.err
    assert sorted(api.triggered()) == TRIGGERED_SYNCS  # not 104 (its model is not rebuilt), nor the dashboard
    for request in api.requests("POST"):
        assert request.get_json() == {"fullResync": False}
        assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    for request in api.requests("GET"):
        sync_id = request.path.split("/")[4]
        assert request.path == f"/api/v1/syncs/{sync_id}/runs"
        assert request.args.to_dict() == {"runId": f"run-{sync_id}"}
        assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert run.summary == {
        f"sync_{name}": {"exposure": f"sync_{name}", "sync id": sync_id, "upstream": "success", "sync": "success",
                         "run id": f"run-{sync_id}", "rows": "3 added, 1 changed", "message": "-"}
        for name, sync_id in (("contacts", "101"), ("orders", "102"), ("subscribers", "103"))
    }
    for status in ("triggered", "queued", "processing", "success"):  # one line per state change
        assert run.out.count(f"sync_orders (sync 102): run run-102 {status}\n") == 1


def test_warning_counts_as_success_and_is_shown(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.runs["102"] = ["processing", Answer(body={"data": [run_json("102", "warning", "2 rows rejected by Emarsys")]})]

    run = cli()

    assert run.code == 0, run.err
    assert run.summary["sync_orders"]["sync"] == "warning"
    assert run.summary["sync_orders"]["message"] == "2 rows rejected by Emarsys"
    assert run.summary["sync_contacts"]["sync"] == "success"


def test_failed_run_fails_the_job(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.runs["103"] = ["querying", Answer(body={"data": [run_json("103", "failed", "Emarsys: invalid field 31")]})]

    run = cli()

    assert run.code == 2
    assert run.summary["sync_subscribers"]["sync"] == "failed"
    assert run.summary["sync_subscribers"]["message"] == "Emarsys: invalid field 31"
    assert run.summary["sync_subscribers"]["upstream"] == "success"
    assert run.summary["sync_contacts"]["sync"] == run.summary["sync_orders"]["sync"] == "success"


def test_rate_limited_trigger_is_retried(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.triggers["101"] = [Answer(429, {"message": "Too many requests"}, {"Retry-After": "0"})]

    run = cli()

    assert run.code == 0, run.err
    assert api.triggered().count("101") == 2
    assert "POST /api/v1/syncs/101/trigger: HTTP 429: Too many requests; retry 1 of 5" in run.err
    assert run.summary["sync_contacts"]["sync"] == "success"


def test_server_error_while_polling_is_retried(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.runs["102"] = [Answer(500, {"message": "internal error"}), "success"]

    run = cli()

    assert run.code == 0, run.err
    assert len(api.requests("GET", "102")) == 2
    assert "GET /api/v1/syncs/102/runs: HTTP 500: internal error; retry 1 of 5" in run.err
    assert run.summary["sync_orders"]["sync"] == "success"


def test_slow_answer_times_out_and_is_retried(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.triggers["101"] = [Answer(body={"id": "run-101"}, delay=0.6)]

    run = cli("--http-timeout", "0.3")

    assert run.code == 0, run.err
    assert "POST /api/v1/syncs/101/trigger: ReadTimeout" in run.err
    assert api.triggered().count("101") >= 2
    assert run.summary["sync_contacts"]["sync"] == "success"


def test_run_still_processing_at_the_deadline_times_out(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.runs["101"] = ["processing"]

    run = cli("--sync-timeout", "0.3")

    assert run.code == 2
    assert len(api.requests("GET", "101")) > 3
    assert run.out.count("sync_contacts (sync 101): run run-101 processing\n") == 1
    row = run.summary["sync_contacts"]
    assert (row["sync"], row["run id"]) == ("timeout", "run-101")
    assert row["message"] == "still processing after 0.3 s; the run goes on in Hightouch"
    assert run.summary["sync_orders"]["sync"] == "success"


def test_rejected_key_is_not_retried_and_stops_the_triggers(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    api.triggers = {sync_id: [Answer(401, {"message": "Invalid API key"})] for sync_id in TRIGGERED_SYNCS}

    run = cli()

    assert run.code == 2
    assert api.triggered() == ["101"]  # once, and no further syncs tried with a rejected key
    assert run.summary["sync_contacts"]["sync"] == "error"
    assert "HTTP 401: Hightouch rejected the API key" in run.summary["sync_contacts"]["message"]
    for exposure in ("sync_orders", "sync_subscribers"):
        assert run.summary[exposure]["message"] == "not triggered: the API key was rejected"
    assert "rejected the API key in HIGHTOUCH_API_KEY" in run.err


def test_upstream_failure_skips_exactly_its_syncs(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    run = cli("--vars", "{break_orders: true, break_subscribers_test: true}")

    assert run.code == 1
    assert api.triggered() == ["101"]
    assert run.summary["sync_contacts"]["sync"] == "success"
    orders = run.summary["sync_orders"]
    assert (orders["upstream"], orders["sync"], orders["run id"]) == ("failed", "skipped", "-")
    assert orders["message"] == "upstream orders error, orders_summary skipped"
    subscribers = run.summary["sync_subscribers"]
    assert (subscribers["upstream"], subscribers["sync"]) == ("failed", "skipped")
    assert subscribers["message"] == "upstream test not_null_subscribers_email fail"


def test_dry_run_calls_nothing_and_lists_the_syncs(api: FakeHightouch, cli: Callable[..., CliRun], project: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HIGHTOUCH_API_KEY")
    before = build_marks(project)

    run = cli("--dry-run")

    assert run.code == 0, run.err
    assert api.server.log == []
    assert build_marks(project) == before
    listed = run.out.split("would be triggered", 1)
    assert re.findall(r"^  model (\w+)$", listed[0], re.M) == ["contacts", "orders", "orders_summary", "subscribers"]
    syncs = {line.split()[0]: line.split()[1] for line in listed[1].splitlines()[2:] if line.startswith("sync_")}
    assert syncs == {"sync_contacts": "101", "sync_orders": "102", "sync_subscribers": "103"}
    assert "HIGHTOUCH_API_KEY is not set" in run.out


def test_missing_key_stops_before_the_build(api: FakeHightouch, cli: Callable[..., CliRun], project: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HIGHTOUCH_API_KEY")
    before = build_marks(project)

    run = cli()

    assert run.code == 3
    assert "HIGHTOUCH_API_KEY is not set" in run.err
    assert api.server.log == []
    assert build_marks(project) == before


def test_unknown_selector_is_a_usage_error(api: FakeHightouch, cli: Callable[..., CliRun]) -> None:
    run = cli("--selector", "nightly")

    assert run.code == 3
    assert "Could not find selector named nightly, expected one of ['crm']" in run.err
    assert api.server.log == []


def test_key_is_never_printed_logged_or_written(api: FakeHightouch, cli: Callable[..., CliRun], project: Path) -> None:
    api.triggers["101"] = [Answer(503, {"message": f"upstream said Bearer {FAKE_KEY}"})]
    api.triggers["102"] = [Answer(400, {"message": f"bad request with {FAKE_KEY}"})]
    api.runs["103"] = [Answer(body={"data": [run_json("103", "failed", f"token {FAKE_KEY} refused")]})]

    run = cli()  # also asserts the key is absent from stdout, stderr and every log record

    assert run.code == 2
    assert "<redacted>" in run.err + run.out
    for path in project.rglob("*"):
        if path.is_file() and path.suffix != ".duckdb":
            assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_the_selection_is_reused_until_the_project_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    project = write_project(tmp_path / "project")
    monkeypatch.delenv("HIGHTOUCH_API_KEY", raising=False)

    def listed() -> list[str]:
        capsys.readouterr()
        assert run_and_sync.main(["--selector", "crm", "--project-dir", str(project), "--profiles-dir", str(project),
                                  "--dry-run"]) == 0
        return re.findall(r"^  model (\w+)$", capsys.readouterr().out.split("would be triggered", 1)[0], re.M)

    assert listed() == ["contacts", "orders", "orders_summary", "subscribers"]
    cache = project / "target" / run_and_sync.SELECTION_CACHE
    kept = json.loads(cache.read_text())
    # The next cycle answers from the cache: a planted answer under the same key shows.
    cache.write_text(json.dumps({**kept, "nodes": ["model.run_and_sync_fixture.contacts"]}))
    assert listed() == ["contacts"]
    # A change to the project (a model's file, or the selector's definition) asks dbt again.
    (project / "models/crm/orders.sql").write_text("select 1 as customer_id, 43.0 as grand_total\n")
    assert listed() == ["contacts", "orders", "orders_summary", "subscribers"]
    cache.write_text(json.dumps({**json.loads(cache.read_text()), "nodes": []}))
    selectors = project / "selectors.yml"
    selectors.write_text(selectors.read_text().replace("value: models/crm", "value: models/crm/contacts.sql"))
    assert listed() == ["contacts"]
    assert json.loads(cache.read_text())["key"] != kept["key"]
