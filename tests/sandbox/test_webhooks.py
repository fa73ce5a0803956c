"""The sandbox's webhooks: the three operations, and deliveries with auth, retries, bans and faults.

A small Werkzeug server on a free loopback port stands in for the receiving end; it answers
with the statuses a test scripts and records what it got."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from pipedrive_connect.sandbox.handlers.webhooks import WebhookFaults

SCALE = 0.01  # deadline 0.1 s; retries after 0.03, 0.3 and 1.5 s; ban for 18 s


class Receiver:
    """Records each delivery; answers the scripted statuses in turn, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.got: list[dict] = []
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.got.append({"auth": request.headers.get("Authorization"), "body": json.loads(request.get_data())})
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("", status)(environ, start_response)

    def wait(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries within {timeout} s, got {len(self.got)}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def subscribe(api, url, action="*", obj="deal", **extra):
    body = {"subscription_url": url, "event_action": action, "event_object": obj, "name": "test", **extra}
    return api.data("POST", "/api/v1/webhooks", status=201, json=body)


def test_webhooks_are_listed_added_and_deleted(api, receiver):
    hook = subscribe(api, receiver().url, "change", "deal", http_auth_user="u", http_auth_password="p")
    assert hook["version"] == "2.0" and hook["is_active"] == 1
    assert [w["id"] for w in api.data("GET", "/api/v1/webhooks")] == [hook["id"]]
    api.data("DELETE", f"/api/v1/webhooks/{hook['id']}")
    assert api.data("GET", "/api/v1/webhooks") == []
    assert api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404


@pytest.mark.parametrize(
    "body, message",
    [
        ({"event_action": "create", "event_object": "deal", "name": "x"}, "subscription_url"),
        ({"subscription_url": "http://127.0.0.1:9/h", "event_action": "create", "event_object": "deal"}, "name"),
        (
            {
                "subscription_url": "http://127.0.0.1:9/h",
                "event_action": "create",
                "event_object": "deal",
                "name": "x",
                "version": "1.0",
            },
            "v2 only",
        ),
        (
            {
                "subscription_url": "https://hooks.example.com/h",
                "event_action": "create",
                "event_object": "deal",
                "name": "x",
            },
            "127.0.0.1",
        ),
        (
            {"subscription_url": "http://127.0.0.1:9/h", "event_action": "update", "event_object": "deal", "name": "x"},
            "event_action",
        ),
    ],
)
def test_a_webhook_needs_a_name_v2_and_a_loopback_url(api, body, message):
    answer = api.post("/api/v1/webhooks", json=body)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_each_create_change_and_delete_is_delivered_as_a_v2_payload_with_basic_auth(sandbox, api, receiver):
    target = receiver()
    subscribe(api, target.url, http_auth_user="hook-user", http_auth_password="hook-pass")
    deal = api.data("POST", "/api/v2/deals", json={"title": "Order 7"})
    api.data("PATCH", f"/api/v2/deals/{deal['id']}", json={"stage_id": 2})
    api.data("DELETE", f"/api/v2/deals/{deal['id']}")
    api.data("POST", "/api/v2/persons", json={"name": "Not subscribed"})
    got = target.wait(3)
    time.sleep(0.2)
    assert len(target.got) == 3, "the person is not subscribed"
    assert {g["auth"] for g in got} == {"Basic " + base64.b64encode(b"hook-user:hook-pass").decode()}
    created, changed, deleted = (g["body"] for g in got)
    assert [b["meta"]["action"] for b in (created, changed, deleted)] == ["create", "change", "delete"]
    assert created["data"]["title"] == "Order 7" and created["previous"] is None
    assert changed["data"]["stage_id"] == 2 and changed["previous"] == {"stage_id": 1}
    assert deleted["data"] is None and deleted["previous"]["id"] == deal["id"]
    assert len({b["meta"]["id"] for b in got[:3] for b in [b["body"]]}) == 3
    assert created["meta"]["version"] == "2.0" and created["meta"]["entity"] == "deal"


def test_failed_deliveries_are_retried_with_the_same_event_id(make_sandbox, receiver):
    from .helpers import Api

    sandbox = make_sandbox(webhook_time_scale=SCALE)
    api = Api(sandbox)
    target = receiver(statuses=[500, 503])
    subscribe(api, target.url)
    api.data("POST", "/api/v2/deals", json={"title": "Retry me"})
    got = target.wait(3)
    assert [g["body"]["meta"]["attempt"] for g in got] == [1, 2, 3]
    assert len({g["body"]["meta"]["id"] for g in got}) == 1
    stats = sandbox.stats()["webhooks"]
    assert stats["failed"] == 2 and stats["delivered"] == 1 and stats["retries_scheduled"] == 2


def test_ten_failed_first_attempts_ban_the_webhook_and_later_events_are_lost(make_sandbox, receiver):
    from .helpers import Api

    sandbox = make_sandbox(webhook_time_scale=SCALE)
    api = Api(sandbox)
    target = receiver(statuses=[500] * 100)
    subscribe(api, target.url, "create")
    for i in range(10):
        api.data("POST", "/api/v2/deals", json={"title": f"Failing {i}"})
    deadline = time.monotonic() + 10
    while sandbox.stats()["webhooks"].get("bans", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.stats()["webhooks"]["bans"] == 1
    api.data("POST", "/api/v2/deals", json={"title": "During the ban"})
    deadline = time.monotonic() + 5
    while not sandbox.stats()["webhooks"].get("lost_banned") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.stats()["webhooks"]["lost_banned"] == 1
    titles = {g["body"]["data"]["title"] for g in target.got}
    assert "During the ban" not in titles


def test_fault_options_drop_or_duplicate_deliveries(make_sandbox, receiver):
    from .helpers import Api

    duplicating = make_sandbox(webhook_faults=WebhookFaults(duplicate_rate=1.0))
    target = receiver()
    subscribe(Api(duplicating), target.url, "create")
    Api(duplicating).data("POST", "/api/v2/deals", json={"title": "Twice"})
    got = target.wait(2)
    assert got[0]["body"]["meta"]["id"] == got[1]["body"]["meta"]["id"]

    dropping = make_sandbox(webhook_faults=WebhookFaults(drop_rate=1.0))
    quiet = receiver()
    subscribe(Api(dropping), quiet.url, "create")
    Api(dropping).data("POST", "/api/v2/deals", json={"title": "Never sent"})
    deadline = time.monotonic() + 5
    while not dropping.stats()["webhooks"].get("dropped") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dropping.stats()["webhooks"]["dropped"] == 1 and quiet.got == []


def test_a_slow_answer_past_the_deadline_counts_as_failed(make_sandbox):
    from .helpers import Api

    sandbox = make_sandbox(webhook_time_scale=SCALE)  # deadline 0.1 s
    calls = []

    def slow(environ, start_response):
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(0.5)
        return Response("", 200)(environ, start_response)

    server = make_server("127.0.0.1", 0, slow, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        subscribe(Api(sandbox), f"http://127.0.0.1:{server.server_port}/h", "create")
        Api(sandbox).data("POST", "/api/v2/deals", json={"title": "Slow"})
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(calls) == 2
        assert sandbox.stats()["webhooks"]["failed"] == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_without_a_successful_delivery_for_three_days_is_removed(make_sandbox, receiver):
    from .helpers import Api

    sandbox = make_sandbox(webhook_time_scale=1e-5)  # three days become 2.6 s
    api = Api(sandbox)
    target = receiver(statuses=[500] * 100)
    subscribe(api, target.url, "create")
    time.sleep(2.7)
    api.data("POST", "/api/v2/deals", json={"title": "Nobody answers"})
    deadline = time.monotonic() + 5
    while sandbox.store.rows("webhooks") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.store.rows("webhooks") == []
    assert sandbox.stats()["webhooks"]["removed_after_failures"] == 1
