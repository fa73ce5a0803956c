"""Offset pagination (v1) and cursor pagination (v2) across several pages."""

from .helpers import Api


def test_v1_offset_pagination(make_sandbox):
    api = Api(make_sandbox(generate={"deals": 5, "notes": 5}))
    seen, start = [], 0
    while True:
        r = api.get(f"/v1/notes?start={start}&limit=2")
        body = r.json()
        seen += [n["id"] for n in body["data"]]
        page = body["additional_data"]["pagination"]
        assert page["start"] == start and page["limit"] == 2
        if not page["more_items_in_collection"]:
            assert "next_start" not in page
            break
        start = page["next_start"]
    assert seen == [1, 2, 3, 4, 5]


def test_v2_cursor_pagination(make_sandbox):
    api = Api(make_sandbox(generate={"deals": 7}))
    seen, cursor, pages = [], None, 0
    while True:
        body = api.get("/api/v2/deals", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [d["id"] for d in body["data"]]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 8)) and pages == 3


def test_cursor_survives_inserts_between_pages(make_sandbox):
    api = Api(make_sandbox(generate={"deals": 4}))
    first = api.get("/api/v2/deals?limit=2&sort_direction=desc").json()
    api.data("POST", "/api/v2/deals", json={"title": "late"})
    rest = api.get(
        "/api/v2/deals",
        params={"limit": 10, "sort_direction": "desc", "cursor": first["additional_data"]["next_cursor"]},
    ).json()
    assert [d["id"] for d in first["data"]] == [4, 3] and [d["id"] for d in rest["data"]] == [2, 1]


def test_bad_cursor_and_limits(api):
    assert api.get("/api/v2/deals?cursor=!!!").status_code == 400
    assert api.get("/api/v2/deals?cursor=bm9wZQ").status_code == 400
    assert api.get("/api/v2/deals?limit=501").status_code == 400
    assert api.get("/api/v2/deals?limit=x").status_code == 400
    assert api.get("/v1/files?limit=101").status_code == 400  # files cap is 100
    clamped = api.get("/v1/notes?limit=900").json()["additional_data"]["pagination"]
    assert clamped["limit"] == 500
    assert api.get("/v1/callLogs?limit=80").json()["additional_data"]["pagination"]["limit"] == 50
