"""Stateful CRUD of the core resources, v2 and v1."""

import pytest


@pytest.mark.parametrize(
    "path, body, change",
    [
        ("/api/v2/deals", {"title": "Big deal", "value": 1000, "currency": "USD"}, {"title": "Bigger deal"}),
        (
            "/api/v2/persons",
            {"name": "Ada Lovelace", "emails": [{"value": "ada@example.com", "primary": True}]},
            {"job_title": "Analyst"},
        ),
        ("/api/v2/organizations", {"name": "Analytical Engines"}, {"website": "https://example.com"}),
        ("/api/v2/products", {"name": "Gear", "prices": [{"price": 10, "currency": "EUR"}]}, {"code": "G-1"}),
        ("/api/v2/pipelines", {"name": "Partners"}, {"name": "Partner deals"}),
        ("/api/v2/stages", {"name": "Demo", "pipeline_id": 1}, {"deal_probability": 50}),
        ("/api/v2/activities", {"subject": "Call Ada", "type": "call"}, {"done": True}),
    ],
)
def test_v2_entity_lifecycle(api, sandbox, path, body, change):
    table = path.rsplit("/", 1)[1]
    before = sandbox.store.count(table)
    created = api.data("POST", path, status=201 if table == "products" else 200, json=body)
    assert isinstance(created["id"], int)
    assert sandbox.store.count(table) == before + 1
    assert api.data("GET", f"{path}/{created['id']}")["id"] == created["id"]
    updated = api.data("PATCH", f"{path}/{created['id']}", json=change)
    assert all(updated[k] == v for k, v in change.items())
    assert updated["update_time"].endswith("Z")
    assert api.data("DELETE", f"{path}/{created['id']}") == {"id": created["id"]}
    assert api.get(f"{path}/{created['id']}").status_code == 404
    assert sandbox.store.count(table) == before


def test_deal_defaults_and_pipeline_rules(api):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    assert deal["pipeline_id"] == 1 and deal["stage_id"] == 1 and deal["status"] == "open"
    assert deal["custom_fields"] == {} and deal["visible_to"] == 3 and deal["is_deleted"] is False
    moved = api.data("PATCH", f"/api/v2/deals/{deal['id']}", json={"stage_id": 3, "status": "won"})
    assert moved["stage_id"] == 3 and moved["won_time"] and moved["close_time"]
    assert api.post("/api/v2/deals", json={"title": "d", "person_id": 424242}).status_code == 400


def test_ids_auto_increment_per_entity(api):
    first = api.data("POST", "/api/v2/organizations", json={"name": "a"})["id"]
    second = api.data("POST", "/api/v2/organizations", json={"name": "b"})["id"]
    assert second == first + 1


def test_v2_list_filters(api):
    org = api.data("POST", "/api/v2/organizations", json={"name": "Filtered Org"})
    person = api.data("POST", "/api/v2/persons", json={"name": "P", "org_id": org["id"]})
    won = api.data(
        "POST", "/api/v2/deals", json={"title": "w", "status": "won", "org_id": org["id"], "person_id": person["id"]}
    )
    api.data("POST", "/api/v2/deals", json={"title": "o", "owner_id": 2})
    assert [d["id"] for d in api.data("GET", f"/api/v2/deals?org_id={org['id']}")] == [won["id"]]
    assert all(d["status"] == "won" for d in api.data("GET", "/api/v2/deals?status=won"))
    assert all(d["owner_id"] == 2 for d in api.data("GET", "/api/v2/deals?owner_id=2"))
    assert [d["id"] for d in api.data("GET", f"/api/v2/deals?ids={won['id']},999")] == [won["id"]]
    assert [p["id"] for p in api.data("GET", f"/api/v2/persons?deal_id={won['id']}")] == [person["id"]]
    assert api.data("GET", "/api/v2/deals?updated_since=2999-01-01T00:00:00Z") == []
    desc = api.data("GET", "/api/v2/deals?sort_by=id&sort_direction=desc")
    assert [d["id"] for d in desc] == sorted((d["id"] for d in desc), reverse=True)
    assert api.get("/api/v2/deals?sort_by=title").status_code == 400
    assert api.get("/api/v2/deals?status=maybe").status_code == 400


def test_activities_participants_and_done_filter(api):
    person = api.data("POST", "/api/v2/persons", json={"name": "P"})
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    act = api.data(
        "POST",
        "/api/v2/activities",
        json={
            "subject": "Meet",
            "type": "meeting",
            "deal_id": deal["id"],
            "participants": [{"person_id": person["id"], "primary": True}],
        },
    )
    assert act["person_id"] == person["id"]
    assert api.post("/api/v2/activities", json={"type": "unknown"}).status_code == 400
    assert [a["id"] for a in api.data("GET", f"/api/v2/activities?deal_id={deal['id']}")] == [act["id"]]
    assert [a["id"] for a in api.data("GET", f"/api/v2/activities?person_id={person['id']}")] == [act["id"]]
    assert api.data("GET", f"/api/v2/activities?deal_id={deal['id']}&done=true") == []


def test_custom_fields(api):
    field = api.data(
        "POST",
        "/api/v2/dealFields",
        json={"field_name": "Region", "field_type": "enum", "options": [{"label": "EMEA"}, {"label": "APAC"}]},
    )
    key, option = field["field_code"], field["options"][0]["id"]
    assert len(key) == 40 and field["is_custom_field"] is True
    deal = api.data("POST", "/api/v2/deals", json={"title": "d", "custom_fields": {key: option}})
    assert deal["custom_fields"][key] == option
    assert api.post("/api/v2/deals", json={"title": "d", "custom_fields": {key: "EMEA"}}).status_code == 400
    assert api.post("/api/v2/deals", json={"title": "d", "custom_fields": {"0" * 40: 1}}).status_code == 400
    assert api.data("GET", f"/api/v2/dealFields/{key}")["field_name"] == "Region"
    fields = api.data("GET", "/api/v2/dealFields")
    assert {"title", key} <= {f["field_code"] for f in fields}
    assert api.delete("/api/v2/dealFields/title").status_code == 400  # standard fields stay
    api.data("DELETE", f"/api/v2/dealFields/{key}")
    assert api.get(f"/api/v2/dealFields/{key}").status_code == 404


def test_followers(api):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    base = f"/api/v2/deals/{deal['id']}/followers"
    added = api.data("POST", base, status=201, json={"user_id": 2})
    assert added["user_id"] == 2
    assert api.post(base, json={"user_id": 2}).status_code == 400  # following twice
    assert api.post(base, json={"user_id": "2"}).status_code == 400
    assert [f["user_id"] for f in api.data("GET", base)] == [2]
    assert api.data("DELETE", f"{base}/2") == {"user_id": 2}
    assert api.delete(f"{base}/2").status_code == 404


def test_deal_products(api):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    product = api.data("POST", "/api/v2/products", status=201, json={"name": "Widget"})
    base = f"/api/v2/deals/{deal['id']}/products"
    assert api.post(base, json={"product_id": product["id"], "quantity": 2}).status_code == 400  # no item_price
    item = api.data("POST", base, status=201, json={"product_id": product["id"], "item_price": 5, "quantity": 2})
    assert item["sum"] == 10 and item["deal_id"] == deal["id"] and item["name"] == "Widget"
    assert api.data("PATCH", f"{base}/{item['id']}", json={"quantity": 3})["sum"] == 15
    assert len(api.data("GET", base)) == 1
    api.data("DELETE", f"{base}/{item['id']}")
    assert api.data("GET", base) == []


def test_deal_participants(api):
    deal = api.data("POST", "/api/v2/deals", json={"title": "d"})
    person = api.data("POST", "/api/v2/persons", json={"name": "P"})
    part = api.data("POST", f"/v1/deals/{deal['id']}/participants", json={"person_id": person["id"]})
    assert part["person"]["name"] == "P"
    assert len(api.data("GET", f"/v1/deals/{deal['id']}/participants")) == 1
    api.data("DELETE", f"/v1/deals/{deal['id']}/participants/{part['id']}")


def test_notes_leads_and_labels(api):
    person = api.data("POST", "/api/v2/persons", json={"name": "P"})
    note = api.data("POST", "/v1/notes", json={"content": "<p>hi</p>", "person_id": person["id"]})
    assert note["person"] == {"name": "P"} and " " in note["add_time"]
    assert api.data("PUT", f"/v1/notes/{note['id']}", json={"content": "bye"})["content"] == "bye"
    assert api.post("/v1/notes", json={"content": "orphan"}).status_code == 400
    label = api.data("POST", "/v1/leadLabels", json={"name": "Hot", "color": "red"})
    lead = api.data(
        "POST", "/v1/leads", status=201, json={"title": "L", "person_id": person["id"], "label_ids": [label["id"]]}
    )
    assert len(lead["id"]) == 36
    assert api.data("PATCH", f"/v1/leads/{lead['id']}", json={"title": "L2"})["title"] == "L2"
    assert api.get("/v1/leads/not-a-uuid").status_code == 400
    assert api.data("DELETE", f"/v1/leads/{lead['id']}") == {"id": lead["id"]}


def test_reference_data(api):
    assert {c["code"] for c in api.data("GET", "/v1/currencies")} >= {"EUR", "USD"}
    assert {t["key_string"] for t in api.data("GET", "/v1/activityTypes")} >= {"call", "meeting", "task"}
    assert len(api.data("GET", "/api/v2/stages?pipeline_id=1")) == 3
    assert api.data("GET", "/v1/users/find?term=admin")[0]["id"] == 1
    assert api.data("GET", "/v1/userSettings")["list_limit"] == 500
    assert api.data("GET", "/v1/permissionSets")
    assert api.data("GET", "/v1/noteFields")
    assert api.data("GET", "/v1/filters?type=deals")[0]["type"] == "deals"
