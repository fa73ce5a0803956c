"""Search, merges and file round trips."""

import requests

from .helpers import Api


def test_entity_search_and_term_rules(api):
    org = api.data("POST", "/api/v2/organizations", json={"name": "Zebra Logistics"})
    api.data(
        "POST", "/api/v2/persons", json={"name": "Zoe Zebra", "org_id": org["id"], "emails": ["zoe@zebra.example"]}
    )
    api.data("POST", "/api/v2/deals", json={"title": "Zebra renewal", "org_id": org["id"]})
    found = api.data("GET", "/api/v2/deals/search?term=zebra")["items"]
    assert [i["item"]["title"] for i in found] == ["Zebra renewal"]
    assert found[0]["item"]["organization"] == {"id": org["id"], "name": "Zebra Logistics"}
    persons = api.data("GET", "/api/v2/persons/search?term=zoe@zebra.example&fields=email&exact_match=true")
    assert persons["items"][0]["result_score"] == 1.0
    assert api.get("/api/v2/deals/search?term=z").status_code == 400
    assert api.get("/api/v2/deals/search?term=z&exact_match=true").status_code == 200
    assert api.get("/api/v2/deals/search?term=zebra&exact_match=yes").status_code == 400
    items = api.data("GET", "/api/v2/itemSearch?term=zebra")["items"]
    assert {i["item"]["type"] for i in items} == {"deal", "person", "organization"}
    only_orgs = api.data("GET", "/api/v2/itemSearch?term=zebra&item_types=organization")["items"]
    assert [i["item"]["id"] for i in only_orgs] == [org["id"]]
    by_field = api.data("GET", "/api/v2/itemSearch/field?entity_type=deal&field=title&term=Zebra&match=beginning")
    assert by_field[0]["title"] == "Zebra renewal"
    assert api.data("GET", "/api/v2/itemSearch/field?entity_type=deal&field=title&term=zebra&match=beginning") == []


def test_search_pages_with_a_cursor(make_sandbox):
    api = Api(make_sandbox(generate={"deals": 30}))
    body = api.get("/api/v2/deals/search?term=deal&limit=10").json()
    assert len(body["data"]["items"]) == 10 and body["additional_data"]["next_cursor"]
    rest = api.get(
        "/api/v2/deals/search", params={"term": "deal", "limit": 100, "cursor": body["additional_data"]["next_cursor"]}
    ).json()
    ids = [i["item"]["id"] for i in body["data"]["items"] + rest["data"]["items"]]
    assert sorted(ids) == list(range(1, 31))


def test_person_merge_keeps_merge_with_id_and_moves_notes(api, sandbox):
    absorbed = api.data(
        "POST", "/api/v2/persons", json={"name": "Old Record", "job_title": "CTO", "phones": ["+1 555 0100"]}
    )
    survivor = api.data("POST", "/api/v2/persons", json={"name": "New Record"})
    note = api.data("POST", "/v1/notes", json={"content": "met", "person_id": absorbed["id"]})
    deal = api.data("POST", "/api/v2/deals", json={"title": "d", "person_id": absorbed["id"]})
    api.data("POST", f"/api/v2/persons/{absorbed['id']}/followers", status=201, json={"user_id": 2})
    merged = api.data("PUT", f"/v1/persons/{absorbed['id']}/merge", json={"merge_with_id": survivor["id"]})
    assert merged["id"] == survivor["id"] and merged["name"] == "New Record"
    assert merged["job_title"] == "CTO" and merged["phone"][0]["value"] == "+1 555 0100"  # filled from the other
    assert api.get(f"/api/v2/persons/{absorbed['id']}").status_code == 404
    assert api.data("GET", f"/v1/notes/{note['id']}")["person_id"] == survivor["id"]
    assert api.data("GET", f"/api/v2/deals/{deal['id']}")["person_id"] == survivor["id"]
    assert [f["user_id"] for f in api.data("GET", f"/api/v2/persons/{survivor['id']}/followers")] == [2]


def test_deal_and_org_merges(api):
    a = api.data("POST", "/api/v2/deals", json={"title": "A", "value": 5})
    b = api.data("POST", "/api/v2/deals", json={"title": "B"})
    merged = api.data("PUT", f"/api/v1/deals/{a['id']}/merge", json={"merge_with_id": b["id"]})
    assert merged["id"] == b["id"] and merged["title"] == "B" and merged["merge_what_id"] == a["id"]
    o1 = api.data("POST", "/api/v2/organizations", json={"name": "O1"})
    o2 = api.data("POST", "/api/v2/organizations", json={"name": "O2"})
    person = api.data("POST", "/api/v2/persons", json={"name": "P", "org_id": o1["id"]})
    api.data("PUT", f"/v1/organizations/{o1['id']}/merge", json={"merge_with_id": o2["id"]})
    assert api.data("GET", f"/api/v2/persons/{person['id']}")["org_id"] == o2["id"]
    assert api.put(f"/v1/deals/{b['id']}/merge", json={"merge_with_id": 999}).status_code == 404


def test_file_round_trip_with_non_ascii_name(api, sandbox):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    payload = "Grüße, 東京".encode() + bytes(range(256))
    meta = api.data(
        "POST", "/v1/files", files={"file": ("Angebot Müller 東京.pdf", payload)}, data={"deal_id": str(deal["id"])}
    )
    assert meta["file_name"] == "Angebot Müller 東京.pdf" and meta["file_size"] == len(payload)
    assert meta["deal_id"] == deal["id"] and meta["deal_name"] == "d"
    r = api.get(f"/v1/files/{meta['id']}/download")
    assert r.status_code == 200 and r.content == payload
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert "filename*=UTF-8''Angebot%20M%C3%BCller%20%E6%9D%B1%E4%BA%AC.pdf" in r.headers["Content-Disposition"]
    assert requests.utils.unquote(r.headers["Content-Disposition"].split("''")[1]) == meta["file_name"]
    updated = api.data("PUT", f"/v1/files/{meta['id']}", data={"name": "renamed.pdf", "description": "v2"})
    assert updated["name"] == "renamed.pdf" and updated["description"] == "v2"
    assert [f["id"] for f in api.data("GET", f"/v1/deals/{deal['id']}/files")] == [meta["id"]]
    assert [f["id"] for f in api.data("GET", "/v1/files")] == [meta["id"]]
    api.data("DELETE", f"/v1/files/{meta['id']}")
    assert api.get(f"/v1/files/{meta['id']}/download").status_code == 404


def test_file_upload_needs_one_link(api):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    person = api.data("POST", "/api/v2/persons", json={"name": "p"})
    assert api.post("/v1/files", files={"file": ("a.txt", b"x")}).status_code == 400
    both = {"deal_id": str(deal["id"]), "person_id": str(person["id"])}
    assert api.post("/v1/files", files={"file": ("a.txt", b"x")}, data=both).status_code == 400
    assert api.post("/v1/files", data={"deal_id": str(deal["id"])}).status_code == 400
    assert api.post("/v1/files", files={"file": ("a.txt", b"x")}, data={"deal_id": "999"}).status_code == 404
