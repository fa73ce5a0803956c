"""The HTTP client: paging, error envelope, retry rules, secrets kept out of URLs and records."""

from __future__ import annotations

import email.utils
import itertools
import json
import time

import pytest
import requests
import responses
from responses import matchers

from pipedrive_connect.client import PipedriveClient, RetrySettings
from pipedrive_connect.errors import StepError

from ..conftest import BASE, TOKEN

FAST = RetrySettings(max_attempts=4, max_wait=5, backoff_base=0.001, backoff_cap=0.002)


@pytest.fixture
def client(connection):
    return PipedriveClient(connection, retry=FAST)


def page(data, **extra):
    return {"success": True, "data": data, "additional_data": extra}


@responses.activate
def test_cursor_paging_uses_max_page_size_and_stops(client):
    url = f"{BASE}/api/v2/deals"
    responses.get(
        url,
        json=page([{"id": 1}, {"id": 2}], next_cursor="c1"),
        match=[matchers.query_param_matcher({"limit": "500", "status": "open"})],
    )
    responses.get(
        url,
        json=page([{"id": 3}], next_cursor="c2"),
        match=[matchers.query_param_matcher({"limit": "500", "status": "open", "cursor": "c1"})],
    )
    responses.get(
        url,
        json=page([{"id": 4}], next_cursor=None),
        match=[matchers.query_param_matcher({"limit": "500", "status": "open", "cursor": "c2"})],
    )
    items = list(client.paginate("v2", "/deals", {"status": "open"}, paging="cursor", cost=10))
    assert [i["id"] for i in items] == [1, 2, 3, 4]
    assert client.usage.calls == 3 and client.usage.cost == 30


@responses.activate
def test_offset_paging_stops_on_last_page(client):
    url = f"{BASE}/api/v1/notes"
    responses.get(
        url,
        json=page(
            [{"id": 1}], pagination={"start": 0, "limit": 500, "more_items_in_collection": True, "next_start": 500}
        ),
        match=[matchers.query_param_matcher({"limit": "500"})],
    )
    responses.get(
        url,
        json=page([{"id": 2}], pagination={"start": 500, "limit": 500, "more_items_in_collection": False}),
        match=[matchers.query_param_matcher({"limit": "500", "start": "500"})],
    )
    assert [i["id"] for i in client.paginate("v1", "/notes", paging="offset")] == [1, 2]


@responses.activate
def test_paging_that_repeats_a_cursor_is_stopped(client):
    url = f"{BASE}/api/v2/deals"
    responses.get(url, json=page([{"id": 1}], next_cursor="same"))
    with pytest.raises(StepError) as info:
        list(client.paginate("v2", "/deals", paging="cursor"))
    assert info.value.kind == "server" and "came back to the cursor 'same'" in info.value.message
    assert len(responses.calls) == 2


@responses.activate
def test_offset_that_does_not_move_is_stopped(client):
    responses.get(
        f"{BASE}/api/v1/notes", json=page([{"id": 1}], pagination={"more_items_in_collection": True, "next_start": 0})
    )
    with pytest.raises(StepError, match="did not move forward"):
        list(client.paginate("v1", "/notes", paging="offset"))


@responses.activate
def test_max_items_stops_early(client):
    responses.get(f"{BASE}/api/v2/deals", json=page([{"id": i} for i in range(500)], next_cursor="more"))
    assert len(list(itertools.islice(client.paginate("v2", "/deals", paging="cursor"), 20))) == 20
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    "status,body,kind,retryable",
    [
        (401, {"success": False, "error": "unauthorized access", "errorCode": 401}, "connection", False),
        (402, {"success": False, "error": "Company account is not open"}, "connection", False),
        (403, {"success": False, "error": "Forbidden"}, "connection", False),
        (404, {"success": False, "error": "Deal not found"}, "not_found", False),
        (410, {"success": False, "error": "gone"}, "not_found", False),
        (400, {"success": False, "error": "Validation failed", "error_info": "title is required"}, "rejected", False),
    ],
)
@responses.activate
def test_error_envelope_maps_to_kinds(client, status, body, kind, retryable):
    responses.get(f"{BASE}/api/v2/deals/1", json=body, status=status)
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals/1")
    assert (info.value.kind, info.value.status, info.value.retryable) == (kind, status, retryable)
    assert info.value.pipedrive_error.startswith(body["error"])
    assert len(responses.calls) == 1


@responses.activate
def test_cloudflare_html_403_is_a_hard_stop(client):
    responses.get(f"{BASE}/api/v2/deals", body="<html>Access denied</html>", status=403, content_type="text/html")
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "connection" and "firewall" in info.value.message


@responses.activate
def test_429_waits_for_the_window_and_retries_even_a_create(client):
    url = f"{BASE}/api/v2/deals"
    responses.post(
        url, json={"success": False, "error": "Too many requests"}, status=429, headers={"x-ratelimit-reset": "0"}
    )
    responses.post(url, json={"success": True, "data": {"id": 7}}, status=201)
    assert client.send("POST", "v2", "/deals", json_body={"title": "x"}, cost=5).data == {"id": 7}
    assert len(responses.calls) == 2
    assert (client.usage.calls, client.usage.cost) == (2, 5)  # the refused attempt spent no tokens


@responses.activate
def test_daily_budget_is_not_retried(client):
    responses.get(
        f"{BASE}/api/v2/deals",
        status=429,
        json={"success": False, "error": "Daily API token budget exhausted", "error_info": "daily limit"},
    )
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "budget_exhausted" and not info.value.retryable
    assert len(responses.calls) == 1


@responses.activate
def test_server_error_on_read_is_retried(client):
    url = f"{BASE}/api/v2/deals/1"
    responses.get(url, status=502, body="bad gateway")
    responses.get(url, status=503, json={"success": False, "error": "maintenance"})
    responses.get(url, json={"success": True, "data": {"id": 1}})
    assert client.send("GET", "v2", "/deals/1").data == {"id": 1}
    assert len(responses.calls) == 3


@responses.activate
def test_server_error_on_create_is_outcome_unknown_and_not_repeated(client):
    responses.post(f"{BASE}/api/v2/deals", status=502, body="bad gateway")
    with pytest.raises(StepError) as info:
        client.send("POST", "v2", "/deals", json_body={"title": "x"})
    assert info.value.kind == "outcome_unknown" and not info.value.retryable
    assert len(responses.calls) == 1


@responses.activate
def test_dropped_connection_after_sending_a_create_is_outcome_unknown(client):
    responses.post(f"{BASE}/api/v2/deals", body=requests.ConnectionError("Connection aborted: RemoteDisconnected"))
    with pytest.raises(StepError) as info:
        client.send("POST", "v2", "/deals", json_body={"title": "x"})
    assert info.value.kind == "outcome_unknown"
    assert len(responses.calls) == 1


@responses.activate
def test_update_by_id_is_retried_after_a_dropped_connection(client):
    url = f"{BASE}/api/v2/deals/1"
    responses.patch(url, body=requests.ConnectionError("reset"))
    responses.patch(url, json={"success": True, "data": {"id": 1}})
    assert client.send("PATCH", "v2", "/deals/1", json_body={"title": "y"}).data == {"id": 1}


def test_create_is_retried_when_the_connection_never_came_up(connection):
    from pipedrive_connect.connection import Connection

    dead = Connection.from_settings({"type": "apiToken", "api_token": TOKEN, "base_url": "http://127.0.0.1:9"})
    client = PipedriveClient(
        dead, retry=RetrySettings(max_attempts=3, max_wait=2, backoff_base=0.001, backoff_cap=0.001)
    )
    with pytest.raises(StepError) as info:
        client.send("POST", "v2", "/deals", json_body={"title": "x"}, cost=5)
    assert info.value.kind == "network" and info.value.details.get("not_sent")
    assert (client.usage.calls, client.usage.cost) == (3, 0)  # safe to repeat: nothing reached the server


@responses.activate
def test_retries_stop_at_the_cap(client):
    responses.get(f"{BASE}/api/v2/deals", status=500, body="boom")
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "server" and len(responses.calls) == FAST.max_attempts


@responses.activate
def test_token_only_in_header_and_redacted_from_debug_records(client):
    responses.get(f"{BASE}/api/v2/deals", json={"success": True, "data": [], "echo": TOKEN})
    trace: list = []
    client.send("GET", "v2", "/deals", params={"q": TOKEN}, trace=trace)
    request = responses.calls[0].request
    assert request.headers["x-api-token"] == TOKEN
    text = repr(trace)
    assert TOKEN not in text and "***" in text


@responses.activate
def test_redirects_are_not_followed(client):
    responses.get(f"{BASE}/api/v2/deals", status=302, headers={"Location": "https://evil.example/steal"})
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "rejected" and len(responses.calls) == 1


def test_one_session_per_client(client):
    assert client.session is client.session
    assert client.session.adapters["https://"]._pool_maxsize >= 8


# ---- hostile or broken answers (issue 10) ------------------------------------------------------
@pytest.fixture
def sleeps(monkeypatch):
    """Record every pause instead of taking it, so the tests measure waits without spending them."""
    taken: list[float] = []
    monkeypatch.setattr("time.sleep", taken.append)
    return taken


@pytest.mark.parametrize(
    "body,content_type",
    [
        ("<html><body>502 Bad Gateway from the proxy</body></html>" + " " * 500, "text/html"),
        ('{"success": true, "data": [{"id": 1}, {"id"', "application/json"),
    ],
    ids=["html", "truncated-json"],
)
@responses.activate
def test_unreadable_2xx_is_a_server_error_with_an_excerpt(client, body, content_type):
    responses.get(f"{BASE}/api/v2/deals", body=body + TOKEN, status=200, content_type=content_type)
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    error = info.value
    assert error.kind == "server" and error.status == 200 and error.retryable
    assert body[:20] in error.pipedrive_error and len(error.pipedrive_error) <= 210
    assert TOKEN not in str(error.to_dict())
    assert len(responses.calls) == FAST.max_attempts  # a read is safe to repeat


@responses.activate
def test_2xx_that_says_success_false_is_rejected_with_pipedrive_text(client):
    responses.get(
        f"{BASE}/api/v2/deals/1",
        status=200,
        json={"success": False, "error": "Deal is locked", "error_info": "Try later"},
    )
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals/1")
    assert info.value.kind == "rejected" and info.value.pipedrive_error == "Deal is locked - Try later"
    assert len(responses.calls) == 1


@responses.activate
def test_create_answered_2xx_but_unreadable_is_outcome_unknown(client):
    responses.post(f"{BASE}/api/v2/deals", status=201, body="<html>Created</html>", content_type="text/html")
    with pytest.raises(StepError) as info:
        client.send("POST", "v2", "/deals", json_body={"title": "x"})
    assert info.value.kind == "outcome_unknown" and "<html>Created</html>" in info.value.pipedrive_error
    assert len(responses.calls) == 1  # the create probably happened: never repeated


@responses.activate
def test_text_binary_and_empty_answers_still_work(client):
    responses.get(f"{BASE}/api/v1/files/1/download", body=b"%PDF-1.4 binary", content_type="application/pdf")
    responses.get(f"{BASE}/api/v1/status", body="all good", content_type="text/plain")
    responses.delete(f"{BASE}/api/v1/webhooks/1", status=204)
    assert client.send("GET", "v1", "/files/1/download", expect="binary").body == b"%PDF-1.4 binary"
    assert client.send("GET", "v1", "/status", expect="text").body == "all good"
    assert client.send("DELETE", "v1", "/webhooks/1").body is None


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    "header,value",
    [
        ("Retry-After", "86400"),
        ("x-ratelimit-reset", "1e9"),
        ("Retry-After", 3600),
    ],
)
@responses.activate
def test_an_absurd_wait_hint_routes_rate_limited_instead_of_sleeping(client, sleeps, header, value):
    value = http_date(value) if isinstance(value, int) else value  # an int: an HTTP date that many seconds away
    responses.get(
        f"{BASE}/api/v2/deals",
        status=429,
        json={"success": False, "error": "Too many requests"},
        headers={header: value},
    )
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "rate_limited" and info.value.retryable
    assert info.value.details["retry_after"] > 60
    assert len(responses.calls) == 1 and not sleeps


@responses.activate
def test_a_wait_longer_than_the_remaining_budget_is_not_taken(connection, sleeps):
    client = PipedriveClient(connection, retry=RetrySettings(max_attempts=4, max_wait=10))
    responses.get(f"{BASE}/api/v2/deals", status=429, json={"success": False}, headers={"Retry-After": "30"})
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "rate_limited" and info.value.details["retry_after"] == 30
    assert len(responses.calls) == 1 and not sleeps


@pytest.mark.parametrize(
    "value,low,high",
    [
        ("inf", 2.0, 2.25),
        ("nan", 2.0, 2.25),
        ("soon", 2.0, 2.25),
        ("-3", 0.0, 0.25),
        (-60, 0.0, 0.25),
        (4, 2.9, 4.3),
    ],
)
@responses.activate
def test_wait_hints_in_every_shape(client, sleeps, value, low, high):
    value = http_date(value) if isinstance(value, int) else value  # an int: an HTTP date that many seconds away
    url = f"{BASE}/api/v2/deals"
    responses.get(url, status=429, json={"success": False}, headers={"Retry-After": value})
    responses.get(url, json={"success": True, "data": []})
    assert client.send("GET", "v2", "/deals").data == []
    assert len(sleeps) == 1 and low <= sleeps[0] <= high  # unusable hints fall back to the 2 s default


@responses.activate
def test_a_cursor_cycle_is_stopped_as_a_server_error(client):
    url = f"{BASE}/api/v2/deals"
    responses.get(url, json=page([{"id": 1}], next_cursor="A"), match=[matchers.query_param_matcher({"limit": "500"})])
    responses.get(
        url,
        json=page([{"id": 2}], next_cursor="B"),
        match=[matchers.query_param_matcher({"limit": "500", "cursor": "A"})],
    )
    responses.get(
        url,
        json=page([{"id": 3}], next_cursor="A"),
        match=[matchers.query_param_matcher({"limit": "500", "cursor": "B"})],
    )
    with pytest.raises(StepError) as info:
        list(client.paginate("v2", "/deals", paging="cursor"))
    assert info.value.kind == "server" and "cursor" in info.value.message and "'A'" in info.value.message
    assert len(responses.calls) == 3


@responses.activate
def test_paging_stops_at_the_page_cap(connection):
    client = PipedriveClient(connection, retry=FAST, max_pages=3)
    counter = itertools.count()
    responses.add_callback(
        responses.GET,
        f"{BASE}/api/v2/deals",
        callback=lambda request: (
            200,
            {"Content-Type": "application/json"},
            json.dumps(page([{"id": next(counter)}], next_cursor=f"c{len(responses.calls)}")),
        ),
    )
    with pytest.raises(StepError) as info:
        list(client.paginate("v2", "/deals", paging="cursor"))
    assert info.value.kind == "server" and "3 pages" in info.value.message
    assert len(responses.calls) == 3


@responses.activate
def test_offset_page_without_next_start_continues_after_its_items(client):
    url = f"{BASE}/api/v1/notes"
    responses.get(
        url,
        json=page([{"id": 1}, {"id": 2}], pagination={"start": 0, "more_items_in_collection": True}),
        match=[matchers.query_param_matcher({"limit": "500"})],
    )
    responses.get(
        url,
        json=page([{"id": 3}], pagination={"start": 2, "more_items_in_collection": False}),
        match=[matchers.query_param_matcher({"limit": "500", "start": "2"})],
    )
    assert [i["id"] for i in client.paginate("v1", "/notes", paging="offset")] == [1, 2, 3]


@responses.activate
def test_empty_page_that_says_more_follow_is_stopped(client):
    responses.get(f"{BASE}/api/v1/notes", json=page([], pagination={"start": 0, "more_items_in_collection": True}))
    with pytest.raises(StepError) as info:
        list(client.paginate("v1", "/notes", paging="offset"))
    assert info.value.kind == "server" and "no items" in info.value.message
    assert len(responses.calls) == 1


@responses.activate
def test_delete_applied_before_a_dropped_connection_is_done_not_missing(client):
    url = f"{BASE}/api/v2/deals/7"
    responses.delete(url, body=requests.ConnectionError("Connection aborted: RemoteDisconnected"))
    responses.delete(url, status=404, json={"success": False, "error": "Deal not found"})
    response = client.send("DELETE", "v2", "/deals/7")
    assert response.data == {"id": 7, "already_applied": True}
    assert "already" in response.additional_data["note"]


@responses.activate
def test_merge_applied_before_a_dropped_connection_is_done(client):
    url = f"{BASE}/api/v1/deals/9/merge"
    responses.put(url, body=requests.ConnectionError("Connection aborted: RemoteDisconnected"))
    responses.put(url, status=404, json={"success": False, "error": "Deal not found"})
    response = client.send("PUT", "v1", "/deals/9/merge", json_body={"merge_with_id": 8})
    assert response.data == {"id": 8, "merge_what_id": 9, "already_applied": True}


@responses.activate
def test_a_404_without_an_earlier_dropped_send_stays_not_found(client):
    url = f"{BASE}/api/v2/deals/7"
    responses.delete(url, status=503, json={"success": False, "error": "maintenance"})
    responses.delete(url, status=404, json={"success": False, "error": "Deal not found"})
    with pytest.raises(StepError) as info:
        client.send("DELETE", "v2", "/deals/7")
    assert info.value.kind == "not_found"
    responses.get(f"{BASE}/api/v2/deals/8", body=requests.ConnectionError("reset"))
    responses.get(f"{BASE}/api/v2/deals/8", status=404, json={"success": False, "error": "Deal not found"})
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals/8")  # only deletes and merges: a read that finds nothing found nothing
    assert info.value.kind == "not_found"


@responses.activate
@pytest.mark.parametrize("where", ["request", "response"])
def test_a_secret_cut_by_the_debug_clip_leaves_no_fragment(client, where):
    from pipedrive_connect.client import MAX_DEBUG_BODY

    filler = "x" * (MAX_DEBUG_BODY - 14)  # the token starts a few characters before the cut
    responses.post(f"{BASE}/api/v2/deals", json={"d": filler + TOKEN if where == "response" else "ok"})
    trace: list = []
    client.send("POST", "v2", "/deals", json_body={"d": filler + TOKEN} if where == "request" else {}, trace=trace)
    text = repr(trace)
    assert TOKEN[:5] not in text and "***" in text
