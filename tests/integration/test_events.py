"""handleEvent end to end on the sandbox: each Segment/RudderStack event type through a mapping, replays
that change nothing, alias merging, and an order with three products of which one already exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipedrive_connect.flows import Flow
from pipedrive_connect.jobs import Job
from pipedrive_connect.runner import HotFolder, WatchSettings

from .test_upserts import custom_field, ok

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "pipedrive_connect" / "samples"
FLOW_FILE = SAMPLES / "events-flow.yaml"
MAPPING = yaml.safe_load(FLOW_FILE.read_text(encoding="utf-8"))["steps"][0]["inputs"]["mapping"]  # the sample mapping


@pytest.fixture
def fields(sandbox):
    """The custom fields the sample mapping names, as an account set up for it has them."""
    return {
        "user": custom_field(sandbox, "personFields", "External user id")["field_code"],
        "plan": custom_field(sandbox, "personFields", "Plan")["field_code"],
        "group": custom_field(sandbox, "organizationFields", "External account id")["field_code"],
        "order": custom_field(sandbox, "dealFields", "Order number")["field_code"],
    }


def handle(live, event: dict):
    return live.run("handleEvent", Job(), {"event": event, "mapping": MAPPING})


def persons_with_user(sandbox, fields, user: str) -> list[dict]:
    return [p for p in sandbox.store.rows("persons") if (p.get("custom_fields") or {}).get(fields["user"]) == user]


IDENTIFY = {
    "type": "identify",
    "userId": "u-1",
    "traits": {"name": "Ada Lovelace", "email": "ada@example.org", "plan": "Pro"},
    "timestamp": "2026-11-29T10:00:00Z",
}


def test_identify_upserts_the_person_by_user_id(live, sandbox, fields):
    first = ok(handle(live, IDENTIFY))
    assert first["type"] == "identify" and first["person"]["action"] == "created"
    (person,) = persons_with_user(sandbox, fields, "u-1")
    assert person["name"] == "Ada Lovelace" and person["custom_fields"][fields["plan"]] == "Pro"
    assert person["emails"][0]["value"] == "ada@example.org"
    assert ok(handle(live, IDENTIFY))["person"]["action"] == "unchanged"
    nameless = ok(handle(live, {**IDENTIFY, "traits": {"plan": "Pro"}}))  # the id's placeholder name is not used
    assert nameless["person"]["action"] == "unchanged" and nameless["person"]["record"]["name"] == "Ada Lovelace"
    upgraded = ok(handle(live, {**IDENTIFY, "traits": {**IDENTIFY["traits"], "plan": "Enterprise"}}))
    assert upgraded["person"]["action"] == "updated" and upgraded["person"]["changed"] == ["custom_fields"]
    assert len(persons_with_user(sandbox, fields, "u-1")) == 1


def test_group_upserts_the_organization_and_links_the_person(live, sandbox, fields):
    ok(handle(live, IDENTIFY))
    event = {"type": "group", "userId": "u-1", "groupId": "acct-9", "traits": {"name": "Analytical Engines Ltd"}}
    first = ok(handle(live, event))
    org = first["organization"]["record"]
    assert first["organization"]["action"] == "created" and first["link"] == "linked"
    assert sandbox.store.get("organizations", org["id"])["custom_fields"][fields["group"]] == "acct-9"
    assert persons_with_user(sandbox, fields, "u-1")[0]["org_id"] == org["id"]
    again = ok(handle(live, event))
    assert (again["organization"]["action"], again["link"]) == ("unchanged", "already linked")


def test_alias_merges_the_previous_person_into_the_current_one(live, sandbox, fields):
    ok(handle(live, {"type": "identify", "anonymousId": "anon-7", "traits": {"name": "Visitor 7"}}))
    ok(handle(live, {**IDENTIFY, "userId": "u-7"}))
    (old,) = persons_with_user(sandbox, fields, "anon-7")
    (new,) = persons_with_user(sandbox, fields, "u-7")
    note = ok(live.run("addNote", Job(), {"content": "visited pricing", "personId": old["id"]}))
    merged = ok(handle(live, {"type": "alias", "previousId": "anon-7", "userId": "u-7"}))
    assert merged["action"] == "merged" and (merged["person_id"], merged["merged_id"]) == (new["id"], old["id"])
    assert sandbox.store.get("persons", old["id"]) is None
    assert sandbox.store.get("notes", note["id"])["person_id"] == new["id"]  # what was linked moved over
    assert ok(handle(live, {"type": "alias", "previousId": "anon-7", "userId": "u-7"}))["action"] == "unchanged"


def test_alias_with_only_the_previous_person_gives_them_the_new_id(live, sandbox, fields):
    ok(handle(live, {"type": "identify", "anonymousId": "anon-8", "traits": {"name": "Visitor 8"}}))
    renamed = ok(handle(live, {"type": "alias", "previousId": "anon-8", "userId": "u-8"}))
    assert renamed["action"] == "renamed"
    assert persons_with_user(sandbox, fields, "anon-8") == [] and len(persons_with_user(sandbox, fields, "u-8")) == 1


def test_track_makes_one_lead_per_mapped_event_and_ignores_others(live, sandbox, fields):
    event = {"type": "track", "userId": "u-1", "event": "Trial Started", "properties": {"plan": "Pro", "amount": 49}}
    first = ok(handle(live, event))
    lead = first["lead"]["record"]
    assert first["lead"]["action"] == "created" and lead["title"] == "Trial: Pro"
    stored = sandbox.store.get("leads", lead["id"])
    assert stored["value"] == {"amount": 49, "currency": "EUR"}
    assert stored["person_id"] == persons_with_user(sandbox, fields, "u-1")[0]["id"]
    assert ok(handle(live, event))["lead"]["action"] == "unchanged"
    assert len([row for row in sandbox.store.rows("leads") if row["title"] == "Trial: Pro"]) == 1
    assert ok(handle(live, {**event, "event": "Page Scrolled"})) == {
        "type": "track",
        "action": "ignored",
        "event": "Page Scrolled",
    }


ORDER = {
    "type": "track",
    "userId": "u-1",
    "event": "Order Completed",
    "properties": {
        "order_id": "50314",
        "total": 117.5,
        "currency": "EUR",
        "products": [
            {"sku": "SKU-A", "name": "Punch cards", "price": 10, "quantity": 5},
            {"sku": "SKU-B", "name": "Brass gears", "price": 40, "quantity": 1},
            {"sku": "SKU-C", "name": "Oil can", "price": 27.5, "quantity": 1},
        ],
    },
}


def test_an_order_makes_a_deal_with_three_lines_reusing_the_product_that_exists(live, sandbox, fields):
    existing = ok(
        live.run(
            "addProduct", Job(), {"name": "Brass gears", "code": "SKU-B", "prices": [{"price": 40, "currency": "EUR"}]}
        )
    )
    products_before = len(sandbox.store.rows("products"))
    result = ok(handle(live, ORDER))
    deal = result["deal"]["record"]
    assert result["deal"]["action"] == "created" and deal["title"] == "Order 50314"
    assert sandbox.store.get("deals", deal["id"])["custom_fields"][fields["order"]] == "50314"
    assert [(p["sku"], p["action"]) for p in result["products"]] == [
        ("SKU-A", "created"),
        ("SKU-B", "unchanged"),
        ("SKU-C", "created"),
    ]
    assert result["products"][1]["id"] == existing["id"]
    assert len(sandbox.store.rows("products")) == products_before + 2
    lines = ok(live.run("getDealProducts", Job(), {"id": deal["id"]}))
    assert sorted((line["product_id"], line["quantity"]) for line in lines) == sorted(
        [(result["products"][0]["id"], 5), (existing["id"], 1), (result["products"][2]["id"], 1)]
    )
    replay = ok(handle(live, ORDER))  # delivered twice: nothing more
    assert replay["deal"]["action"] == "unchanged" and replay["lines_added"] == 0
    assert len(ok(live.run("getDealProducts", Job(), {"id": deal["id"]}))) == 3


def test_an_unknown_event_type_is_an_input_error_naming_it(live, sandbox):
    outcome = handle(live, {"type": "page", "userId": "u-1", "name": "Pricing"})
    assert outcome.route == "error" and outcome.error.kind == "input"
    assert outcome.error.input_path == "event.type" and "'page'" in outcome.error.message
    assert sandbox.request_log == []


def test_the_sample_flow_runs_the_sample_events(sandbox, live, fields, tmp_path):
    flow = Flow.load(FLOW_FILE, live)
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    for job in sorted((SAMPLES / "events").glob("[0-9]*.json")):
        (inbox / job.name).write_text(job.read_text(encoding="utf-8"))
        HotFolder(live, flow, inbox, out, settings=WatchSettings(workers=1, settle=0)).run(once=True)
    routed = {p.name: json.loads(p.read_text())["steps"]["event"]["result"] for p in (out / "success").glob("*.json")}
    assert len(routed) == len(list((SAMPLES / "events").glob("[0-9]*.json"))) and not list(out.glob("error/*.json"))
    assert [r["type"] for _, r in sorted(routed.items())] == [
        "identify",
        "group",
        "identify",
        "alias",
        "track",
        "track",
    ]
