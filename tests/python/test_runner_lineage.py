"""The runner's OpenLineage events, received by a real HTTP endpoint on localhost from real
cycles: dbt in-process on the DuckDB project of test_run_and_sync.py, the fake Hightouch API."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.runner import lineage, run_and_sync
from magento_warehouse.runner.dbt_phase import sync_targets
from magento_warehouse.runner.hightouch import SyncRun
from magento_warehouse.runner.hightouch_phase import SyncOutcome

import test_run_and_sync as base
from fake_hightouch import Answer, CliRun, FakeHightouch, run_json
from lineage_receiver import Receiver
from openlineage_check import spec_errors

# The fixtures of test_run_and_sync.py, shared: its project is built once per module.
project, api, cli = base.project, base.api, base.cli

TOKEN = "ol-token-3f9a7d21-must-never-be-printed"
SLUGS = {"101": "contacts", "102": "orders", "103": "subscribers"}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[Receiver]:
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_DISABLED", "OPENLINEAGE_ENDPOINT", "OPENLINEAGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENLINEAGE_API_KEY", TOKEN)
    with Receiver() as server:
        yield server
    assert TOKEN not in caplog.text  # nor in any log record (the cli fixture logs at DEBUG)


def checked(events: list[dict[str, Any]], run: CliRun) -> list[dict[str, Any]]:
    """The events, each checked against the OpenLineage schema when the spec is at hand."""
    assert TOKEN not in run.out + run.err
    for event in events:
        assert spec_errors(event) == [], event
    return events


def invocation_id(project: Path) -> str:
    return json.loads((project / "target" / "run_results.json").read_text())["metadata"]["invocation_id"]


def by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    jobs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        jobs.setdefault(f"{event['job']['namespace']}/{event['job']['name']}", []).append(event)
    return jobs


def test_cycle_sends_the_build_and_each_sync_run(api: FakeHightouch, cli: Callable[..., CliRun], project: Path,
                                                 receiver: Receiver) -> None:
    counts = {"plannedRows": {"addedCount": 10, "changedCount": 2, "removedCount": 1},
              "successfulRows": {"addedCount": 9, "changedCount": 2, "removedCount": 1},
              "failedRows": {"addedCount": 1, "changedCount": 0, "removedCount": 0}}
    api.runs["102"] = ["processing", Answer(body={"data": [{**run_json("102", "success"), **counts}]})]

    run = cli("--openlineage-url", receiver.url)

    assert run.code == 0, run.err
    events = checked(receiver.events, run)
    assert {path for path, _, _ in receiver.requests} == {"/api/v1/lineage"}
    assert {headers["Authorization"] for _, headers, _ in receiver.requests} == {f"Bearer {TOKEN}"}
    jobs = by_job(events)
    dbt_run_id = invocation_id(project)
    build = jobs.pop("magento_warehouse/run_and_sync.crm")
    assert [(e["eventType"], e["run"]["runId"]) for e in build] == [("START", dbt_run_id), ("COMPLETE", dbt_run_id)]
    assert sorted(jobs) == [f"hightouch/{slug}" for slug in sorted(SLUGS.values())]  # one job per triggered sync

    warehouse = f"duckdb://{(project / 'warehouse.duckdb').resolve()}"
    for sync_id, slug in SLUGS.items():
        start, complete = jobs[f"hightouch/{slug}"]
        assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
        assert start["run"]["runId"] == complete["run"]["runId"] != dbt_run_id
        assert events.index(build[0]) < events.index(start) < events.index(complete) and build[1] in events
        for event in (start, complete):
            parent = event["run"]["facets"]["parent"]
            assert parent["run"]["runId"] == parent["root"]["run"]["runId"] == dbt_run_id
            assert (parent["job"]["namespace"], parent["job"]["name"]) == ("magento_warehouse", "run_and_sync.crm")
        facet = complete["run"]["facets"]["hightouchSyncRun"]
        assert (facet["syncId"], facet["syncRunId"], facet["status"]) == (sync_id, f"run-{sync_id}", "success")
        expected = counts if sync_id == "102" else {key: run_json(sync_id, "success")[key] for key in counts}
        assert {key: facet[key] for key in counts} == expected
        outputs = complete["outputs"]
        if sync_id == "103":  # its exposure names no destination
            assert outputs == []
        else:
            assert [(o["namespace"], o["name"]) for o in outputs] == [("emarsys://api.emarsys.net", slug)]
            assert outputs[0]["outputFacets"]["outputStatistics"]["rowCount"] == sum(
                expected["successfulRows"].values())
        assert "errorMessage" not in complete["run"]["facets"]

    def inputs(slug: str) -> list[tuple[str, str]]:
        return [(i["namespace"], i["name"]) for i in jobs[f"hightouch/{slug}"][1]["inputs"]]

    assert inputs("contacts") == [(warehouse, "warehouse.main.contacts"), (warehouse, "warehouse.main.legacy_customers")]
    assert inputs("orders") == [(warehouse, "warehouse.main.orders_summary")]
    assert inputs("subscribers") == [(warehouse, "warehouse.main.subscribers")]


def test_failed_or_timed_out_sync_sends_fail(api: FakeHightouch, cli: Callable[..., CliRun], receiver: Receiver) -> None:
    api.runs["103"] = ["querying", Answer(body={"data": [run_json("103", "failed", "Emarsys: invalid field 31")]})]
    api.runs["101"] = ["processing"]

    run = cli("--openlineage-url", receiver.url, "--sync-timeout", "0.5")

    assert run.code == 2
    jobs = by_job(checked(receiver.events, run))
    assert [e["eventType"] for e in jobs["magento_warehouse/run_and_sync.crm"]] == ["START", "COMPLETE"]
    assert [e["eventType"] for e in jobs["hightouch/orders"]] == ["START", "COMPLETE"]
    for slug, status, message in (("subscribers", "failed", "Emarsys: invalid field 31"),
                                  ("contacts", "timeout", "still processing after 0.5 s; the run goes on in Hightouch")):
        start, fail = jobs[f"hightouch/{slug}"]
        assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
        assert fail["run"]["facets"]["errorMessage"]["message"] == message
        assert fail["run"]["facets"]["hightouchSyncRun"]["status"] == status


def test_build_failure_sends_fail_and_no_event_for_skipped_syncs(api: FakeHightouch, cli: Callable[..., CliRun],
                                                                 receiver: Receiver) -> None:
    run = cli("--openlineage-url", receiver.url, "--vars", "{break_orders: true, break_subscribers_test: true}")

    assert run.code == 1
    jobs = by_job(checked(receiver.events, run))
    assert [e["eventType"] for e in jobs.pop("magento_warehouse/run_and_sync.crm")] == ["START", "FAIL"]
    assert {job: [e["eventType"] for e in events] for job, events in jobs.items()} == {
        "hightouch/contacts": ["START", "COMPLETE"]}


def test_off_by_default(api: FakeHightouch, cli: Callable[..., CliRun], receiver: Receiver, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The client library's own configuration (a file, OPENLINEAGE__ variables) does not turn it on.
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: http\n  url: {receiver.url}\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", receiver.url)

    assert cli().code == 0
    assert receiver.requests == []

    # OPENLINEAGE_DISABLED=true wins over a URL.
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert cli().code == 0
    assert receiver.requests == []


SLOW_ANSWER = 30.0  # seconds the dead endpoint waits before answering: far beyond a cycle


def test_dead_endpoint_costs_one_timeout_and_one_warning(api: FakeHightouch, cli: Callable[..., CliRun],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_API_KEY", TOKEN)
    with Receiver(delay=SLOW_ANSWER) as slow:
        started = time.monotonic()
        run = cli("--openlineage-url", slow.url, "--openlineage-timeout", "0.3")
        elapsed = time.monotonic() - started

    assert run.code == 0, run.err
    assert sorted(api.triggered()) == base.TRIGGERED_SYNCS
    assert len(slow.requests) == 1  # the first event timed out, no other was tried
    warnings = [line for line in run.err.splitlines() if "OpenLineage" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: OpenLineage events not sent (")
    assert "the run goes on without them" in warnings[0]
    assert TOKEN not in run.out + run.err
    # Never waited for the answer: the whole cycle ends well before the endpoint would answer.
    assert elapsed < SLOW_ANSWER


def test_events_to_a_file_with_the_demo_stand_in(api: FakeHightouch, cli: Callable[..., CliRun], receiver: Receiver,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lineage" / "events.jsonl"
    path.parent.mkdir()
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)  # the file asked for on the command line wins
    rows = {"101": 7, "102": 0, "103": 12}

    with HightouchStub(rows_of=rows.__getitem__) as stub:  # the demo's stand-in: only successfulRows
        monkeypatch.setenv("HIGHTOUCH_API_URL", stub.url)
        run = cli("--openlineage-file", str(path))

    assert run.code == 0, run.err
    events = checked([json.loads(line) for line in path.read_text().splitlines()], run)
    assert Counter((e["job"]["name"], e["eventType"]) for e in events) == Counter(
        [("run_and_sync.crm", "START"), ("run_and_sync.crm", "COMPLETE")]
        + [(slug, state) for slug in SLUGS.values() for state in ("START", "COMPLETE")])
    for sync_id, slug in SLUGS.items():
        complete = next(e for e in events if e["job"]["name"] == slug and e["eventType"] == "COMPLETE")
        facet = complete["run"]["facets"]["hightouchSyncRun"]
        assert facet["successfulRows"] == {"addedCount": 0, "changedCount": rows[sync_id], "removedCount": 0}
        assert "plannedRows" not in facet and "failedRows" not in facet  # not reported, not made up
        assert [o["outputFacets"]["outputStatistics"]["rowCount"] for o in complete["outputs"]] == (
            [] if sync_id == "103" else [rows[sync_id]])
    assert receiver.requests == [] and api.server.log == []


def test_spec_check_catches_a_broken_event() -> None:
    """The check the tests above apply to every event rejects what the spec rejects."""
    event = {"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00+00:00", "producer": "urn:x",
             "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
             "run": {"runId": "0b4b5c7e-1a2b-4c3d-8e9f-001122334455", "facets": {}},
             "job": {"namespace": "hightouch", "name": "contacts"}, "inputs": [], "outputs": []}
    assert spec_errors(event) == []
    assert spec_errors({**event, "run": {"runId": "run-101"}})  # not a UUID
    assert spec_errors({**event, "eventType": "DONE"})  # not an event type
    assert spec_errors({**event, "eventTime": "yesterday"})
    assert spec_errors({**event, "job": {"name": "contacts"}})  # no namespace
    assert spec_errors({**event, "outputs": [{"namespace": "emarsys://api.emarsys.net", "name": "x", "rows": 3}]})
    parent = {"_producer": "urn:x", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json"
              "#/$defs/ParentRunFacet", "run": {"runId": "0b4b5c7e-1a2b-4c3d-8e9f-001122334455"}}
    assert spec_errors({**event, "run": {**event["run"], "facets": {"parent": parent}}})  # no job
    complete = {**parent, "job": {"namespace": "warehouse_jobs", "name": "run_and_sync.crm"}}
    assert spec_errors({**event, "run": {**event["run"], "facets": {"parent": complete}}}) == []
    counts = {"_producer": "urn:x", "_schemaURL": "urn:magento-warehouse:openlineage:HightouchSyncRunFacet:1-0-0"
              "#/$defs/HightouchSyncRunFacet", "syncId": "101", "plannedRows": {"addedCount": 3}}
    assert spec_errors({**event, "run": {**event["run"], "facets": {"hightouchSyncRun": counts}}}) == []
    negative = {**counts, "plannedRows": {"addedCount": -1}}
    assert spec_errors({**event, "run": {**event["run"], "facets": {"hightouchSyncRun": negative}}})
    unknown = {**counts, "_schemaURL": "https://example.com/Unknown.json"}
    assert spec_errors({**event, "run": {**event["run"], "facets": {"hightouchSyncRun": unknown}}})


def test_bad_openlineage_url_is_a_usage_error(api: FakeHightouch, cli: Callable[..., CliRun], receiver: Receiver,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run = cli("--openlineage-url", "localhost:5000")
    assert run.code == 3
    assert "--openlineage-url must be an http(s) URL with a host" in run.err
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://user:{TOKEN}@localhost:5000")
    run = cli()
    assert run.code == 3
    assert "OPENLINEAGE_URL must not contain credentials" in run.err and TOKEN not in run.err
    monkeypatch.setenv("OPENLINEAGE_URL", TOKEN)  # the token pasted into the wrong variable
    run = cli()
    assert run.code == 3
    assert "OPENLINEAGE_URL must be an http(s) URL with a host" in run.err and "'<redacted>'" in run.err
    run = cli("--openlineage-url", receiver.url, "--openlineage-file", "events.jsonl")
    assert run.code == 3 and "give one of them" in run.err
    monkeypatch.delenv("OPENLINEAGE_URL")
    run = cli("--openlineage-url", receiver.url, "--openlineage-destination", "emarsys")
    assert run.code == 3 and "--openlineage-destination takes NAME=NAMESPACE" in run.err
    assert api.server.log == [] and receiver.requests == []


def test_snowflake_target_and_named_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Snowflake the mart is named in snowflake://<account>; a destination and the build's
    namespace can be named. dbt parses the project for a snowflake target (no connection)."""
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_DISABLED", "OPENLINEAGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    project = base.write_project(tmp_path / "project")
    (project / "profiles.yml").write_text(
        "run_and_sync_fixture:\n  target: prod\n  outputs:\n    prod:\n      type: snowflake\n"
        "      account: xy12345.eu-central-1\n      user: transformer\n      password: unused\n"
        "      database: ANALYTICS\n      schema: DBT\n      warehouse: TRANSFORMING\n      threads: 1\n")
    events_file = tmp_path / "events.jsonl"
    args = run_and_sync.parse_args([
        "--selector", "crm", "--project-dir", str(project), "--profiles-dir", str(project),
        "--openlineage-file", str(events_file), "--openlineage-namespace", "warehouse_jobs",
        "--openlineage-destination", "emarsys=emarsys://acme-suite"])
    manifest = run_and_sync.parse_project(args)
    config = lineage.settings(args)
    assert config is not None
    targets = {t.exposure: t for t in sync_targets(manifest, set(manifest.nodes))}
    events = lineage.Lineage(config, manifest, args)
    build_id = "5d1e7a0c-8b3f-4c2d-9e6a-7f8091a2b3c4"

    events.build_started(build_id)
    events.sync_triggered(targets["sync_orders"], "run-9")
    events.sync_ended(SyncOutcome(targets["sync_orders"], "success", "run-9", run=SyncRun(
        "run-9", "success", successful_rows={"addedCount": 2, "changedCount": 3})))

    sent = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [spec_errors(event) for event in sent] == [[], [], []]
    assert [(e["job"]["namespace"], e["job"]["name"], e["eventType"]) for e in sent] == [
        ("warehouse_jobs", "run_and_sync.crm", "START"), ("hightouch", "orders", "START"),
        ("hightouch", "orders", "COMPLETE")]
    complete = sent[2]
    assert [(i["namespace"], i["name"]) for i in complete["inputs"]] == [
        ("snowflake://xy12345.eu-central-1.aws", "ANALYTICS.DBT.orders_summary")]
    assert [(o["namespace"], o["name"], o["outputFacets"]["outputStatistics"]["rowCount"])
            for o in complete["outputs"]] == [("emarsys://acme-suite", "orders", 5)]
    assert complete["run"]["facets"]["parent"]["job"]["namespace"] == "warehouse_jobs"
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == build_id
    # The same Hightouch run is always the same OpenLineage run.
    assert sent[1]["run"]["runId"] == complete["run"]["runId"] == str(
        uuid.uuid5(lineage.HIGHTOUCH_RUN_IDS, f"{targets['sync_orders'].sync_id}/run-9"))


@pytest.mark.parametrize(("account", "namespace"), [
    ("acme-prod", "acme-prod"), ("xy12345", "xy12345.us-west-1.aws"), ("xy12345.us-east-2", "xy12345.us-east-2.aws"),
    ("xy12345.east-us-2.azure", "xy12345.east-us-2.azure")])
def test_snowflake_account_as_openlineage_names_it(account: str, namespace: str) -> None:
    assert lineage.snowflake_account(account) == namespace
