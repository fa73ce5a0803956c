"""Authentication, envelopes and every error status."""

import requests

from .helpers import TOKEN, Api


def test_header_token_is_accepted(api):
    me = api.data("GET", "/api/v1/users/me")
    assert me["id"] == 1
    assert {"company_id", "company_name", "company_domain"} <= set(me)


def test_bearer_token_is_accepted(sandbox):
    r = requests.get(sandbox.base_url + "/v1/users/me", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 200


def test_missing_and_wrong_tokens_get_401(sandbox):
    for headers in ({}, {"x-api-token": "wrong"}, {"Authorization": "Bearer wrong"}):
        r = requests.get(sandbox.base_url + "/api/v2/deals", headers=headers, timeout=5)
        assert r.status_code == 401
        body = r.json()
        assert body["success"] is False and body["error"] == "unauthorized access" and body["errorCode"] == 401


def test_query_token_is_refused_with_an_explanation(sandbox):
    r = requests.get(sandbox.base_url + f"/api/v1/users/me?api_token={TOKEN}", timeout=5)
    assert r.status_code == 401
    assert "x-api-token header" in r.json()["error_info"]


def test_query_token_legacy_switch(make_sandbox):
    sb = make_sandbox(allow_query_token=True)
    assert requests.get(sb.base_url + f"/v1/users/me?api_token={TOKEN}", timeout=5).status_code == 200


def test_error_envelope_and_400_for_v2_type_errors(api):
    r = api.post("/api/v2/deals", json={"title": "x", "value": "100"})
    assert r.status_code == 400
    body = r.json()
    assert body == {
        "success": False,
        "error": body["error"],
        "error_info": body["error_info"],
        "data": None,
        "additional_data": None,
    }
    assert api.post("/api/v2/deals", json={"title": "x", "is_archived": "true"}).status_code == 400
    assert api.post("/api/v2/deals", json={"title": "x", "bogus": 1}).status_code == 400
    assert api.post("/api/v2/deals", json={"value": 1}).status_code == 400  # title is required
    assert api.get("/api/v2/deals/abc").status_code == 400
    assert api.get("/api/v2/deals?owner_id=abc").status_code == 400
    assert api.get("/api/v2/activities?done=1").status_code == 400  # v2 booleans are true/false
    assert api.post("/api/v2/deals", data="not json", headers={"Content-Type": "application/json"}).status_code == 400


def test_v1_is_lenient_where_v2_is_strict(api):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    note = api.data("POST", "/v1/notes", json={"content": "hi", "deal_id": str(deal["id"])})
    assert note["deal_id"] == deal["id"]


def test_404_for_unknown_ids_and_routes(api):
    assert api.get("/api/v2/deals/999999").status_code == 404
    assert api.get("/api/v2/nothing").status_code == 404
    assert api.get("/v2/deals").status_code == 404  # v2 only lives under /api/v2
    assert api.get("/v1/deals/1/followers").status_code == 404  # a v2 path under /v1
    assert api.get("/api/v1/users/me").status_code == 200 and api.get("/v1/users/me").status_code == 200


def test_405_for_put_on_v2(api):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    r = api.put(f"/api/v2/deals/{deal['id']}", json={"title": "e"})
    assert r.status_code == 405 and r.json()["success"] is False


def test_410_for_a_deleted_call_log(api):
    log = api.data(
        "POST",
        "/v1/callLogs",
        json={
            "to_phone_number": "+4930123",
            "outcome": "connected",
            "start_time": "2026-01-01 10:00:00",
            "end_time": "2026-01-01 10:05:00",
        },
    )
    assert isinstance(log["id"], str)
    assert api.data("DELETE", f"/v1/callLogs/{log['id']}") == {"id": log["id"]}
    r = api.get(f"/v1/callLogs/{log['id']}")
    assert r.status_code == 410 and "no longer available" in r.json()["error"]


def test_429_carries_rate_limit_headers(make_sandbox):
    sb = make_sandbox(burst_limit=1)
    api = Api(sb)
    assert api.get("/v1/users/me").status_code == 200
    r = api.get("/v1/users/me")
    assert r.status_code == 429 and r.json()["success"] is False
    assert r.headers["x-ratelimit-remaining"] == "0"
