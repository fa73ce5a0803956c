"""Operational realism: burst limits, daily budget, faults, request log and control endpoints."""

import time

import pytest
import requests

from .helpers import TOKEN, Api


def test_rate_limit_headers_on_every_response(api):
    r = api.get("/api/v2/deals")
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= {name.lower() for name in r.headers}
    assert "x-ratelimit-limit" in requests.get(api.sandbox.base_url + "/api/v2/deals", timeout=5).headers


def test_burst_limit_per_two_second_window(make_sandbox):
    api = Api(make_sandbox(burst_limit=3))
    statuses = [api.get("/v1/users/me").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/v1/users/me")
    assert limited.headers["x-ratelimit-limit"] == "3" and limited.headers["x-ratelimit-remaining"] == "0"
    reset = int(limited.headers["x-ratelimit-reset"])
    assert 1 <= reset <= 2
    assert limited.json()["error"] == "Too many requests"
    time.sleep(reset + 0.05)
    assert api.get("/v1/users/me").status_code == 200
    assert api.sandbox.stats()["rate_limited"] == 2


def test_search_has_its_own_lower_limit(make_sandbox):
    api = Api(make_sandbox(burst_limit=100, search_limit=2))
    codes = [api.get("/api/v2/deals/search?term=xx").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert api.get("/api/v2/deals").status_code == 200  # the general bucket still has room


def test_daily_budget_exhaustion(make_sandbox):
    api = Api(make_sandbox(daily_budget=25))
    assert api.get("/api/v2/deals").status_code == 200  # 10 tokens
    assert api.get("/api/v2/deals").status_code == 200  # 20 tokens
    r = api.get("/api/v2/deals")  # would need 30
    assert r.status_code == 429
    body = r.json()
    assert "daily" in body["error"].lower() and "daily limit" in body["error_info"]
    assert int(r.headers["retry-after"]) > 0
    assert api.get("/v1/users/me").status_code == 200  # 2 more tokens still fit
    stats = api.sandbox.stats()
    assert stats["tokens_spent"] == 22 and stats["budget_exhausted"] == 1


@pytest.mark.parametrize("kind", ["429", "500", "502", "503"])
def test_error_faults_have_no_side_effect(make_sandbox, kind):
    sb = make_sandbox(fault_rate=1.0, faults=[kind])
    r = Api(sb).post("/api/v2/deals", json={"title": "never stored"})
    assert r.status_code == int(kind) and r.json()["success"] is False
    assert sb.store.count("deals") == 0
    assert sb.request_log[-1]["fault"] == kind


def test_delay_fault_serves_normally(make_sandbox):
    sb = make_sandbox(fault_rate=1.0, faults=["delay"])
    started = time.monotonic()
    assert Api(sb).post("/api/v2/deals", json={"title": "slow"}).status_code == 200
    assert time.monotonic() - started >= 0.2
    assert sb.store.count("deals") == 1


@pytest.mark.parametrize("kind, stored", [("drop_before", 0), ("drop_after", 1)])
def test_dropped_connections(make_sandbox, kind, stored):
    sb = make_sandbox(fault_rate=1.0, faults=[kind])
    with pytest.raises(requests.ConnectionError):
        Api(sb).post("/api/v2/deals", json={"title": "maybe"})
    assert sb.store.count("deals") == stored
    entry = sb.request_log[-1]
    assert entry["fault"] == kind and entry["status"] is None
    assert sb.stats()["faults"] == {kind: 1}


def test_faults_are_deterministic_with_a_seed(make_sandbox):
    def run():
        sb = make_sandbox(fault_rate=0.5, faults=["500", "503"], seed=42)
        api = Api(sb)
        return [api.get("/v1/users/me").status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {200, 500} <= set(first) or {200, 503} <= set(first)


def test_request_log_redacts_secrets(make_sandbox):
    sb = make_sandbox(allow_query_token=True)
    requests.get(sb.base_url + f"/v1/users/me?api_token={TOKEN}&x=1", timeout=5)
    entry = sb.request_log[-1]
    assert entry["query"] == {"api_token": "[redacted]", "x": "1"}
    assert entry["operation"] == "getCurrentUser" and entry["cost"] == 2 and entry["status"] == 200
    assert TOKEN not in repr(sb.request_log)


def test_control_endpoints_need_no_auth_and_do_not_count(api):
    api.get("/api/v2/deals")
    base = api.sandbox.base_url
    log = requests.get(base + "/_sandbox/requests", timeout=5).json()["data"]["requests"]
    assert [e["operation"] for e in log] == ["getDeals"]
    stats = requests.get(base + "/_sandbox/stats", timeout=5).json()["data"]
    assert stats["requests"] == 1 and stats["tokens_spent"] == 10 and stats["records"]["users"] >= 1
    assert requests.post(base + "/_sandbox/reset", timeout=5).status_code == 200
    assert requests.get(base + "/_sandbox/stats", timeout=5).json()["data"]["requests"] == 0
    assert requests.get(base + "/_sandbox/nope", timeout=5).status_code == 404


def test_concurrent_creates_get_unique_ids(api):
    from concurrent.futures import ThreadPoolExecutor

    def create(i):
        return Api(api.sandbox).data("POST", "/api/v2/persons", json={"name": f"P{i}"})["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(80)))
    assert len(set(ids)) == 80 and api.sandbox.store.count("persons") == 80
