"""The Hightouch client on its own (runner/hightouch.py): retries, their waits, what it
gives up on; backoff waits are observed through an injected sleep."""

from __future__ import annotations

import socket

import pytest
from pytest_httpserver import HTTPServer

from magento_warehouse.runner import hightouch

from fake_hightouch import FAKE_KEY, Answer, client_for

def test_client_honours_retry_after_up_to_a_cap(httpserver: HTTPServer) -> None:
    for answer in (Answer(429, {}, {"Retry-After": "7"}), Answer(429, {}, {"Retry-After": "86400"}), Answer(503, {})):
        httpserver.expect_ordered_request("/api/v1/syncs/7/trigger", method="POST").respond_with_json(
            answer.body, answer.status, answer.headers)
    httpserver.expect_ordered_request("/api/v1/syncs/7/trigger", method="POST").respond_with_json({"id": 9})
    waits: list[float] = []

    assert client_for(httpserver, waits).trigger_sync("7") == "9"
    assert waits == [7.0, 60.0, 2.0]  # Retry-After, Retry-After capped, then backoff 0.5 * 2**2


def test_client_gives_up_after_its_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/syncs/7/runs").respond_with_json({"message": "unavailable"}, 503)
    waits: list[float] = []

    with pytest.raises(hightouch.HightouchError) as error:
        client_for(httpserver, waits, retries=2).get_sync_run("7", "9")

    assert len(httpserver.log) == 3
    assert waits == [0.5, 1.0]
    assert error.value.status_code == 503
    assert str(error.value) == "GET /api/v1/syncs/7/runs: HTTP 503: unavailable (gave up after 3 attempts)"


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_does_not_retry_requests_hightouch_refused(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/api/v1/syncs/7/trigger").respond_with_json({"message": "no such sync"}, status)
    waits: list[float] = []

    with pytest.raises(hightouch.HightouchError) as error:
        client_for(httpserver, waits).trigger_sync("7")

    assert (len(httpserver.log), waits, error.value.status_code) == (1, [], status)
    assert str(error.value) == f"POST /api/v1/syncs/7/trigger: HTTP {status}: no such sync"
    assert FAKE_KEY not in repr(client_for(httpserver, waits))


def test_client_does_not_retry_a_call_that_cannot_connect() -> None:
    # Every other call would fail the same way: the runner stops its Hightouch phase instead.
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    policy = hightouch.RetryPolicy(retries=2, backoff=0.5)
    client = hightouch.HightouchClient(FAKE_KEY, f"http://127.0.0.1:{port}", timeout=2, retry=policy, sleep=waits.append)

    with pytest.raises(hightouch.HightouchUnreachable) as error:
        client.trigger_sync("7")

    assert waits == []
    assert error.value.status_code is None
    assert (error.value.host, error.value.cause.split(" (")[0]) == ("127.0.0.1", "connection failed")
    assert str(error.value).startswith("Hightouch API unreachable at 127.0.0.1: connection failed (")
    assert "refused" in str(error.value).lower()
    assert FAKE_KEY not in str(error.value)


def test_client_names_a_failed_dns_lookup() -> None:
    client = hightouch.HightouchClient(FAKE_KEY, "http://hightouch.invalid", timeout=2, sleep=pytest.fail)

    with pytest.raises(hightouch.HightouchUnreachable) as error:
        client.get_sync_run("7", "run-7")

    assert str(error.value).startswith("Hightouch API unreachable at hightouch.invalid: DNS lookup failed (")


def test_listing_follows_pages_until_has_more_is_false(httpserver: HTTPServer) -> None:
    for offset, page, more in ((0, [{"id": 1}, {"id": 2}], True), (2, [{"id": 3}], False)):
        httpserver.expect_ordered_request("/api/v1/models", query_string={"limit": "2", "offset": str(offset)}
                                          ).respond_with_json({"data": page, "hasMore": more})

    assert client_for(httpserver, []).list_all("models", page_size=2) == [{"id": 1}, {"id": 2}, {"id": 3}]


def test_listing_stops_on_an_empty_page_and_rejects_an_answer_without_data(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/syncs").respond_with_json({"data": [], "hasMore": True})
    httpserver.expect_request("/api/v1/destinations").respond_with_json({"items": []})
    client = client_for(httpserver, [])

    assert client.list_all("syncs") == []
    with pytest.raises(hightouch.HightouchError, match="GET /api/v1/destinations: the answer has no 'data' list"):
        client.list_all("destinations")
