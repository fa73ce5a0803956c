"""Every resource group's actions against the sandbox, over real loopback HTTP.

Each test drives one resource group through the runtime (create, read, update, list-all,
delete, search, merge, followers, ... where the group has them) and checks the resulting
state with a second action or in the sandbox's store. Every action run goes through `run()`;
`test_every_action_is_exercised` reads this module and checks that every non-removed action of
the bundle is run by it (or is listed in `EXCLUDED` with a reason), so coverage cannot silently
shrink. It reads the source rather than recording runs, so it holds whatever runs and in any order.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

import pytest

from pipedrive_connect.bundle import Bundle
from pipedrive_connect.jobs import Attachment, Job

# Actions the sandbox cannot serve meaningfully, with the reason. Keep this list short and explicit.
EXCLUDED: dict[str, str] = {
    # (none at present: the mailbox actions are routed by the sandbox, which answers them with an
    # empty list or "not found" because it does not model mail; they are exercised for wiring only.)
}

REGION_KEY = "5f2c8a1e9b3d4c7a8e6f1a2b3c4d5e6f7a8b9c0d"  # the enum deal field in sample_data.json


def run(live, key: str, inputs: dict | None = None, job: Job | None = None):
    """runtime.run; every action this module runs goes through here (see test_every_action_is_exercised)."""
    return live.run(key, job or Job(), inputs or {})


def ok(outcome):
    assert outcome.route == "success", outcome.error and outcome.error.to_dict()
    return outcome.result


def fails(outcome, kind: str, status: int | None = None):
    assert outcome.route == "error", f"expected {kind}, got success: {outcome.result!r}"
    assert outcome.error.kind == kind, outcome.error.to_dict()
    if status is not None:
        assert outcome.error.status == status, outcome.error.to_dict()
    return outcome.error


def last_request(sandbox) -> dict:
    return sandbox.request_log[-1]


def ids(records) -> list:
    return [r["id"] for r in records]


def raw(live, method: str, url: str, data=None):
    """Set-up through rawRequest (itself an action: `rawRequest`)."""
    inputs = {"method": method, "url": url}
    if data is not None:
        inputs["data"] = data
    return ok(run(live, "rawRequest", inputs))["data"]


def new_field(live, table: str, name: str, field_type: str = "varchar", **extra) -> str:
    return raw(live, "POST", f"/api/v2/{table}", {"field_name": name, "field_type": field_type, **extra})["field_code"]


# ---- activities ----------------------------------------------------------------------------------


def test_activities(live, sandbox):
    person = ok(run(live, "addPerson", {"name": "Act Person"}))
    org = ok(run(live, "addOrganization", {"name": "Act Org"}))
    deal = ok(run(live, "addDeal", {"title": "Act Deal", "orgId": str(org["id"])}))
    call = ok(
        run(
            live,
            "addActivity",
            {
                "subject": "Call about order 1042",
                "type": "call",
                "dealId": str(deal["id"]),
                "personId": str(person["id"]),
                "orgId": str(org["id"]),
                "dueDate": "2026-03-02",
                "dueTime": "09:30",
                "duration": "00:30",
                "busy": "true",
                "location": "Main street 1, Berlin",
            },
        )
    )
    assert call["participants"] == [{"person_id": person["id"], "primary": True}]
    assert call["location"]["value"] == "Main street 1, Berlin"
    assert (call["deal_id"], call["org_id"], call["type"], call["busy"]) == (deal["id"], org["id"], "call", True)
    task = ok(
        run(
            live,
            "addActivity",
            {"subject": "Send offer", "type": "task", "dealId": deal["id"], "dueDate": "2026-04-15"},
        )
    )

    got = ok(run(live, "getActivity", {"id": str(call["id"])}))
    assert got["subject"] == "Call about order 1042" and got["due_date"] == "2026-03-02"

    updated = ok(run(live, "updateActivity", {"id": call["id"], "subject": "Call done", "done": "true", "note": ""}))
    assert updated["done"] is True and updated["subject"] == "Call done"
    assert ok(run(live, "getActivity", {"id": call["id"]}))["done"] is True

    everything = ok(run(live, "getActivities", {"fetchAll": "true"}))
    assert {call["id"], task["id"]} <= set(ids(everything))
    calls_only = ok(run(live, "getActivities", {"fetchAll": True, "dealId": deal["id"], "type": "call"}))
    assert ids(calls_only) == [call["id"]]
    april = ok(run(live, "getActivities", {"dealId": deal["id"], "startDate": "2026-04-01", "endDate": "2026-04-30"}))
    assert ids(april) == [task["id"]]
    open_ones = ok(run(live, "getActivities", {"fetchAll": True, "dealId": deal["id"], "done": "false"}))
    assert ids(open_ones) == [task["id"]]

    # Person becomes the primary participant, other participants stay as secondary ones
    group = ok(
        run(
            live,
            "addActivity",
            {"subject": "Group call", "personId": "1", "participants": [{"person_id": 2, "primary": True}]},
        )
    )
    assert group["participants"] == [{"person_id": 1, "primary": True}, {"person_id": 2, "primary": False}]
    ok(run(live, "updateActivity", {"id": group["id"], "personId": "3"}))  # replaces the participant list
    assert ok(run(live, "getActivity", {"id": group["id"]}))["participants"] == [{"person_id": 3, "primary": True}]
    assert ids(ok(run(live, "getActivities", {"personId": 3}))) == [group["id"]]

    ok(run(live, "deleteActivity", {"id": task["id"]}))
    fails(run(live, "getActivity", {"id": task["id"]}), "not_found", 404)
    assert task["id"] not in ids(ok(run(live, "getActivities", {"fetchAll": True})))


def test_activity_fields_and_types(live):
    fields = ok(run(live, "getActivityFields", {"fetchAll": "true"}))
    assert {"subject", "type", "due_date", "done"} <= {f["field_code"] for f in fields}
    one_page = ok(run(live, "getActivityFields", {"limit": 2}))
    assert len(one_page) == 2
    types = ok(run(live, "getActivityTypes"))
    assert {"call", "meeting", "task"} <= {t["key_string"] for t in types}


# ---- billing, currencies, settings, connections ---------------------------------------------------


def test_account_level_reads(live, sandbox):
    assert ok(run(live, "getCompanyAddons")) == []
    assert last_request(sandbox)["operation"] == "getCompanyAddons"
    currencies = ok(run(live, "getCurrencies"))
    assert {"EUR", "USD"} <= {c["code"] for c in currencies}
    settings = ok(run(live, "getUserSettings"))
    assert "list_limit" in settings and last_request(sandbox)["operation"] == "getUserSettings"
    connections = ok(run(live, "getUserConnections"))
    assert isinstance(connections, dict) and last_request(sandbox)["operation"] == "getUserConnections"


def test_currencies_term_filters(live, sandbox):
    found = ok(run(live, "getCurrencies", {"term": "EUR"}))
    assert last_request(sandbox)["query"]["term"] == "EUR"  # the connector sends it
    assert [c["code"] for c in found] == ["EUR"]


# ---- call logs -----------------------------------------------------------------------------------


def test_call_logs(live, sandbox):
    first = ok(
        run(
            live,
            "addCallLog",
            {
                "toPhoneNumber": "+49 30 1234",
                "fromPhoneNumber": "+49 30 9999",
                "outcome": "connected",
                "startTime": "2026-02-01T10:00:00Z",
                "endTime": "2026-02-01T10:05:00Z",
                "subject": "Intro call",
                "personId": "1",
                "dealId": "1",
            },
        )
    )
    assert isinstance(first["id"], str) and first["outcome"] == "connected"
    assert (first["person_id"], first["deal_id"]) == (1, 1)
    second = ok(
        run(
            live,
            "addCallLog",
            {
                "toPhoneNumber": "+49 30 5555",
                "outcome": "no_answer",
                "startTime": "2026-02-02T10:00:00Z",
                "endTime": "2026-02-02T10:00:30Z",
            },
        )
    )
    got = ok(run(live, "getCallLog", {"id": first["id"]}))
    assert got["subject"] == "Intro call" and got["to_phone_number"] == "+49 30 1234"
    listed = ok(run(live, "getUserCallLogs", {"fetchAll": "true"}))
    assert {first["id"], second["id"]} <= set(ids(listed))
    ok(run(live, "deleteCallLog", {"id": first["id"]}))
    gone = fails(run(live, "getCallLog", {"id": first["id"]}), "not_found")
    assert gone.status in (404, 410)
    assert ids(ok(run(live, "getUserCallLogs", {"fetchAll": True}))) == [second["id"]]

    # fetchAll walks v1 offset pages of at most 50 call logs
    for i in range(55):
        ok(
            run(
                live,
                "addCallLog",
                {
                    "toPhoneNumber": f"+49 {i}",
                    "outcome": "busy",
                    "startTime": "2026-02-03T10:00:00Z",
                    "endTime": "2026-02-03T10:01:00Z",
                },
            )
        )
    before = len(sandbox.request_log)
    every = ok(run(live, "getUserCallLogs", {"fetchAll": "true"}))
    assert len(every) == len(set(ids(every))) == 56
    assert [q["query"].get("start") for q in sandbox.request_log[before:]] == [None, "50"]
    assert len(ok(run(live, "getUserCallLogs", {"fetchAll": True, "maxItems": "52"}))) == 52
    assert len(ok(run(live, "getUserCallLogs", {"limit": 10}))) == 10


# ---- deal fields, person fields, product fields, note fields --------------------------------------


def test_deal_fields(live):
    fields = ok(run(live, "getDealFields", {"fetchAll": "true"}))
    codes = {f["field_code"] for f in fields}
    assert {"title", "value", REGION_KEY} <= codes
    region = ok(run(live, "getDealField", {"id": REGION_KEY}))
    assert region["field_name"] == "Region" and [o["label"] for o in region["options"]] == ["EMEA", "Americas"]
    custom = new_field(live, "dealFields", "Contract no")
    assert ok(run(live, "getDealField", {"id": custom}))["field_name"] == "Contract no"
    ok(run(live, "deleteDealField", {"id": custom}))
    fails(run(live, "getDealField", {"id": custom}), "not_found", 404)
    assert custom not in {f["field_code"] for f in ok(run(live, "getDealFields", {"fetchAll": True}))}
    fails(run(live, "deleteDealField", {"id": "title"}), "rejected", 400)  # standard fields stay


def test_person_fields(live):
    fields = ok(run(live, "getPersonFields", {"fetchAll": "true"}))
    assert {"name", "emails", "phones"} <= {f["field_code"] for f in fields}
    custom = new_field(live, "personFields", "Tier", "enum", options=[{"label": "Gold"}, {"label": "Silver"}])
    one = ok(run(live, "getPersonField", {"id": custom}))
    assert one["field_name"] == "Tier" and [o["label"] for o in one["options"]] == ["Gold", "Silver"]
    details = ok(run(live, "getPersonFieldDetails", {"fieldId": custom}))
    assert details == one
    ok(run(live, "deletePersonField", {"id": custom}))
    fails(run(live, "getPersonField", {"id": custom}), "not_found", 404)
    fails(run(live, "deletePersonField", {"id": "name"}), "rejected", 400)


def test_product_fields(live):
    fields = ok(run(live, "getProductFields", {"fetchAll": "true"}))
    assert {"name", "code", "prices"} <= {f["field_code"] for f in fields}
    custom = new_field(live, "productFields", "Warranty")
    assert ok(run(live, "getProductField", {"id": custom}))["field_name"] == "Warranty"
    assert ok(run(live, "getProductField", {"id": "code"}))["is_custom_field"] is False
    ok(run(live, "deleteProductField", {"id": custom}))
    fails(run(live, "getProductField", {"id": custom}), "not_found", 404)


def test_note_fields(live):
    fields = ok(run(live, "getNoteFields"))
    assert "content" in {f["key"] for f in fields}


# ---- deals -----------------------------------------------------------------------------------------


def test_deals_crud_list_and_search(live, sandbox):
    org = ok(run(live, "addOrganization", {"name": "Deal Org"}))
    person = ok(run(live, "addPerson", {"name": "Deal Person", "orgId": org["id"]}))
    deal = ok(
        run(
            live,
            "addDeal",
            {
                "title": "Quasar upgrade",
                "value": "2500",
                "currency": "USD",
                "orgId": str(org["id"]),
                "personId": str(person["id"]),
                "stageId": "2",
                "probability": "60",
                "expectedCloseDate": "2026-06-30",
                "visibleTo": "3",
                "customFields": {REGION_KEY: 12},
            },
        )
    )
    assert (deal["value"], deal["currency"], deal["stage_id"], deal["pipeline_id"]) == (2500, "USD", 2, 1)
    assert deal["custom_fields"][REGION_KEY] == 12 and deal["expected_close_date"] == "2026-06-30"

    got = ok(run(live, "getDeal", {"id": str(deal["id"])}))
    assert got["title"] == "Quasar upgrade" and got["person_id"] == person["id"]

    ok(
        run(
            live,
            "updateDeal",
            {
                "id": deal["id"],
                "title": "Quasar upgrade v2",
                "value": "3000",
                "stageId": "3",
                "customFields": {REGION_KEY: 11},
            },
        )
    )
    again = ok(run(live, "getDeal", {"id": deal["id"]}))
    assert (again["title"], again["value"], again["stage_id"]) == ("Quasar upgrade v2", 3000, 3)
    assert again["custom_fields"][REGION_KEY] == 11 and again["currency"] == "USD"  # untouched

    everything = ok(run(live, "getDeals", {"fetchAll": "true"}))
    assert deal["id"] in ids(everything) and len(everything) == sandbox.store.count("deals")
    mine = ok(run(live, "getDeals", {"fetchAll": True, "orgId": org["id"]}))
    assert ids(mine) == [deal["id"]]
    stage3 = ok(run(live, "getDeals", {"fetchAll": True, "stageId": 3, "status": "open"}))
    assert ids(stage3) == [deal["id"]]  # deal 3 of the sample data is in stage 3 but won

    found = ok(run(live, "searchDeals", {"term": "Quasar"}))
    assert [h["item"]["id"] for h in found["items"]] == [deal["id"]]
    by_org = ok(run(live, "searchDeals", {"term": "Quasar", "orgId": str(org["id"] + 1000)}))
    assert by_org["items"] == []
    exact = ok(run(live, "searchDeals", {"term": "quasar upgrade v2", "exactMatch": "true", "fields": "title"}))
    assert [h["result_score"] for h in exact["items"]] == [1.0]

    ok(run(live, "deleteDeal", {"id": deal["id"]}))
    fails(run(live, "getDeal", {"id": deal["id"]}), "not_found", 404)
    assert deal["id"] not in ids(ok(run(live, "getDeals", {"fetchAll": True})))


def test_merge_deals_keeps_the_merge_with_deal(live, sandbox):
    keep = ok(run(live, "addDeal", {"title": "Keep deal", "value": "100"}))
    drop = ok(run(live, "addDeal", {"title": "Drop deal", "value": "200", "personId": "1"}))
    note = ok(run(live, "addNote", {"content": "on the dropped deal", "dealId": drop["id"]}))
    merged = ok(run(live, "mergeDeals", {"id": str(drop["id"]), "mergeWithId": str(keep["id"])}))
    assert merged["id"] == keep["id"] and merged["title"] == "Keep deal"
    kept = ok(run(live, "getDeal", {"id": keep["id"]}))
    assert kept["value"] == 100 and kept["person_id"] == 1  # survivor's values win, empty ones are filled
    fails(run(live, "getDeal", {"id": drop["id"]}), "not_found", 404)
    assert ok(run(live, "getNote", {"id": note["id"]}))["deal_id"] == keep["id"]


def test_deal_reports(live):
    summary = ok(run(live, "getDealsSummary", {"status": "open"}))
    assert summary["total_count"] == 2  # the two open deals of the sample data
    assert summary["values_total"]["EUR"]["value"] == 15000
    by_stage = ok(run(live, "getDealsSummary", {"stageId": "1"}))
    assert by_stage["total_count"] == 1
    ok(run(live, "addDeal", {"title": "Timeline deal", "value": "10", "expectedCloseDate": "2026-05-20"}))
    timeline = ok(
        run(
            live,
            "getDealsTimeline",
            {"startDate": "2026-04-01", "interval": "month", "amount": "3", "fieldKey": "expected_close_date"},
        )
    )
    assert [p["totals"]["count"] for p in timeline] == [0, 1, 0]
    assert timeline[1]["deals"][0]["title"] == "Timeline deal"


def test_deals_timeline_by_week(live):
    ok(run(live, "addDeal", {"title": "Week 2 deal", "expectedCloseDate": "2026-01-09"}))
    weeks = ok(
        run(
            live,
            "getDealsTimeline",
            {"startDate": "2026-01-05", "interval": "week", "amount": "2", "fieldKey": "expected_close_date"},
        )
    )
    assert [p["period_start"][:10] for p in weeks] == ["2026-01-05", "2026-01-12"]
    assert [p["totals"]["count"] for p in weeks] == [1, 0]


def test_deal_followers_and_participants(live):
    deal = ok(run(live, "addDeal", {"title": "Followed deal"}))
    assert ok(run(live, "getDealFollowers", {"id": deal["id"]})) == []
    added = ok(run(live, "addDealFollower", {"id": deal["id"], "userId": "2"}))
    assert added["user_id"] == 2
    fails(run(live, "addDealFollower", {"id": deal["id"], "userId": "2"}), "rejected", 400)  # already follows
    assert [f["user_id"] for f in ok(run(live, "getDealFollowers", {"id": deal["id"], "fetchAll": True}))] == [2]
    ok(run(live, "deleteDealFollower", {"id": deal["id"], "followerId": "2"}))
    assert ok(run(live, "getDealFollowers", {"id": deal["id"], "fetchAll": True})) == []

    part = ok(run(live, "addDealParticipant", {"id": deal["id"], "personId": "3"}))
    listed = ok(run(live, "getDealParticipants", {"id": deal["id"], "fetchAll": "true"}))
    assert ids(listed) == [part["id"]] and listed[0]["person"]["name"] == "Thomas Hardy"
    persons = ok(run(live, "getDealPersons", {"id": deal["id"], "fetchAll": True}))
    assert ids(persons) == [3]
    ok(run(live, "deleteDealParticipant", {"id": deal["id"], "dealParticipantId": part["id"]}))
    assert ok(run(live, "getDealParticipants", {"id": deal["id"], "fetchAll": True})) == []
    assert ok(run(live, "getDealPersons", {"id": deal["id"]})) == []


def test_deal_products(live):
    deal = ok(run(live, "addDeal", {"title": "Product deal", "currency": "EUR"}))
    line = ok(
        run(
            live,
            "addDealProduct",
            {
                "id": deal["id"],
                "productId": "1",
                "itemPrice": "49",
                "quantity": "2",
                "discountPercentage": "10",
                "comments": "first year",
            },
        )
    )
    assert (line["product_id"], line["discount"], line["discount_type"]) == (1, 10, "percentage")
    assert line["sum"] == pytest.approx(88.2)
    other = ok(
        run(
            live,
            "addDealProduct",
            {"id": deal["id"], "productId": 2, "itemPrice": 199, "quantity": 1, "discountAmount": "9"},
        )
    )
    assert other["discount_type"] == "amount" and other["sum"] == pytest.approx(190)

    ok(
        run(
            live,
            "updateDealProduct",
            {"id": deal["id"], "productAttachmentId": line["id"], "quantity": "3", "discountAmount": "7"},
        )
    )
    lines = ok(run(live, "getDealProducts", {"id": deal["id"], "fetchAll": "true"}))
    assert ids(lines) == [line["id"], other["id"]]
    changed = lines[0]
    assert (changed["quantity"], changed["discount"], changed["discount_type"]) == (3, 7, "amount")
    assert changed["sum"] == pytest.approx(49 * 3 - 7) and changed["comments"] == "first year"

    ok(run(live, "deleteDealProduct", {"id": deal["id"], "productAttachmentId": other["id"]}))
    assert ids(ok(run(live, "getDealProducts", {"id": deal["id"]}))) == [line["id"]]


def test_deal_related_lists(live, sandbox, tmp_path):
    deal = ok(run(live, "addDeal", {"title": "Busy deal", "personId": "1"}))
    done = ok(run(live, "addActivity", {"subject": "Done one", "dealId": deal["id"], "done": True}))
    todo = ok(run(live, "addActivity", {"subject": "Open one", "dealId": deal["id"]}))
    ok(run(live, "addActivity", {"subject": "Elsewhere", "dealId": 1}))
    activities = ok(run(live, "getDealActivities", {"id": deal["id"], "fetchAll": "true"}))
    assert set(ids(activities)) == {done["id"], todo["id"]}
    assert ids(ok(run(live, "getDealActivities", {"id": deal["id"], "done": "false"}))) == [todo["id"]]
    assert ids(ok(run(live, "getDealPersons", {"id": deal["id"], "fetchAll": True}))) == [1]

    source = tmp_path / "offer.txt"
    source.write_text("offer")
    uploaded = ok(run(live, "addFile", {"entityType": "deal", "entityId": deal["id"], "file": str(source)}))
    assert ids(ok(run(live, "getDealFiles", {"id": deal["id"], "fetchAll": "true"}))) == [uploaded["id"]]
    assert ok(run(live, "getDealFiles", {"id": 1})) == []

    assert ok(run(live, "getDealMailMessages", {"id": deal["id"], "includeBody": "true"})) == []
    assert last_request(sandbox)["operation"] == "getDealMailMessages"
    fails(run(live, "getDealMailMessages", {"id": 999999}), "not_found", 404)

    assert ok(run(live, "getDealUsers", {"id": deal["id"]})) == [1, 2]
    fails(run(live, "getDealUsers", {"id": 999999}), "not_found", 404)


# ---- files -------------------------------------------------------------------------------------------


def test_files(live, sandbox, tmp_path):
    source = tmp_path / "spec sheet.txt"
    source.write_bytes(b"line one\nline two\n")
    person_file = ok(
        run(live, "addFile", {"entityType": "person", "entityId": "2", "file": str(source), "fileName": "renamed.txt"})
    )
    assert person_file["name"] == "renamed.txt" and person_file["person_id"] == 2
    job = Job(files=[Attachment("attached.txt", str(source), "text/plain")])
    org_file = ok(run(live, "addFile", {"entityType": "organization", "entityId": "1"}, job=job))
    assert org_file["name"] == "attached.txt" and org_file["org_id"] == 1

    meta = ok(run(live, "getFile", {"id": str(person_file["id"])}))
    assert meta["file_size"] == len(source.read_bytes()) and meta["person_name"] == "Ana Trujillo"

    listed = ok(run(live, "getFiles", {"fetchAll": "true"}))
    assert ids(listed) == [person_file["id"], org_file["id"]]

    ok(run(live, "updateFile", {"id": person_file["id"], "name": "final.txt", "description": "the final one"}))
    meta = ok(run(live, "getFile", {"id": person_file["id"]}))
    assert (meta["name"], meta["description"]) == ("final.txt", "the final one")

    outcome = run(live, "downloadFile", {"id": person_file["id"]}, job=Job(id="dl"))
    result = ok(outcome)
    assert result["name"] == "final.txt" and result["size"] == len(source.read_bytes())
    assert Path(outcome.logs[0].path).read_bytes() == source.read_bytes()

    ok(run(live, "deleteFile", {"id": person_file["id"]}))
    fails(run(live, "getFile", {"id": person_file["id"]}), "not_found", 404)
    assert ids(ok(run(live, "getFiles", {"fetchAll": True}))) == [org_file["id"]]


def test_files_sort(live, sandbox, tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("a")
    first = ok(run(live, "addFile", {"entityType": "deal", "entityId": 1, "file": str(source)}))
    second = ok(run(live, "addFile", {"entityType": "deal", "entityId": 2, "file": str(source)}))
    newest_first = ok(run(live, "getFiles", {"sort": "id DESC"}))
    assert last_request(sandbox)["query"]["sort"] == "id DESC"  # the connector sends it
    assert ids(newest_first) == [second["id"], first["id"]]


# ---- filters -----------------------------------------------------------------------------------------


def test_filters(live):
    filters = ok(run(live, "getFilters"))
    assert [f["name"] for f in filters] == ["All open deals"]
    assert ok(run(live, "getFilters", {"type": "deals"})) == filters
    assert ok(run(live, "getFilters", {"type": "people"})) == []
    one = ok(run(live, "getFilter", {"id": "1"}))
    assert one["name"] == "All open deals"
    conditions = {
        "glue": "and",
        "conditions": [
            {
                "glue": "and",
                "conditions": [
                    {"object": "deal", "field_id": "12", "operator": "=", "value": "open", "extra_value": None}
                ],
            }
        ],
    }
    ok(run(live, "updateFilter", {"id": 1, "conditions": conditions, "name": "Open deals only"}))
    again = ok(run(live, "getFilter", {"id": 1}))
    assert again["name"] == "Open deals only" and again["conditions"] == conditions
    fails(run(live, "getFilter", {"id": 99}), "not_found", 404)


# ---- lead labels, lead sources, leads -------------------------------------------------------------------


def test_lead_labels_and_sources(live):
    label = ok(run(live, "addLeadLabel", {"name": "Hot", "color": "red"}))
    assert (label["name"], label["color"]) == ("Hot", "red")
    assert label["id"] in ids(ok(run(live, "getLeadLabels")))
    ok(run(live, "updateLeadLabel", {"id": label["id"], "name": "Very hot", "color": "orange"}))
    [changed] = [lb for lb in ok(run(live, "getLeadLabels")) if lb["id"] == label["id"]]
    assert (changed["name"], changed["color"]) == ("Very hot", "orange")
    ok(run(live, "deleteLeadLabel", {"id": label["id"]}))
    assert label["id"] not in ids(ok(run(live, "getLeadLabels")))
    fails(run(live, "updateLeadLabel", {"id": label["id"], "name": "x"}), "not_found", 404)

    sources = ok(run(live, "getLeadSources"))
    assert {"API", "Manually created"} <= {s["name"] for s in sources}


def test_leads(live):
    label = ok(run(live, "addLeadLabel", {"name": "Warm", "color": "yellow"}))
    lead = ok(
        run(
            live,
            "addLead",
            {
                "title": "Widget inquiry",
                "personId": "1",
                "labelIds": label["id"],
                "value": {"amount": "500", "currency": "EUR"},
                "expectedCloseDate": "2026-07-01",
                "visibleTo": "3",
                "wasSeen": "false",
            },
        )
    )
    assert lead["person_id"] == 1 and lead["label_ids"] == [label["id"]]
    assert lead["value"] == {"amount": 500, "currency": "EUR"}
    org_lead = ok(run(live, "addLead", {"title": "Gadget inquiry", "orgId": "2"}))

    got = ok(run(live, "getLead", {"id": lead["id"]}))
    assert got["title"] == "Widget inquiry" and got["expected_close_date"] == "2026-07-01"

    ok(
        run(
            live,
            "updateLead",
            {"id": lead["id"], "title": "Widget inquiry (qualified)", "wasSeen": "true", "orgId": "1"},
        )
    )
    got = ok(run(live, "getLead", {"id": lead["id"]}))
    assert (got["title"], got["was_seen"], got["organization_id"], got["person_id"]) == (
        "Widget inquiry (qualified)",
        True,
        1,
        1,
    )

    everything = ok(run(live, "getLeads", {"fetchAll": "true"}))
    assert {lead["id"], org_lead["id"]} <= set(ids(everything))
    assert ids(ok(run(live, "getLeads", {"fetchAll": True, "personId": 1}))) == [lead["id"]]

    found = ok(run(live, "searchLeads", {"term": "inquiry"}))
    assert {h["item"]["id"] for h in found["items"]} == {lead["id"], org_lead["id"]}
    found = ok(run(live, "searchLeads", {"term": "Gadget"}))
    assert [h["item"]["id"] for h in found["items"]] == [org_lead["id"]]

    ok(run(live, "deleteLead", {"id": lead["id"]}))
    fails(run(live, "getLead", {"id": lead["id"]}), "not_found", 404)
    assert ids(ok(run(live, "getLeads", {"fetchAll": True}))) == [org_lead["id"]]


# ---- mailbox (not modelled by the sandbox: exercised for routing only) -------------------------------------


def test_mailbox_routes(live, sandbox):
    assert ok(run(live, "getMailThreads", {"folder": "inbox", "fetchAll": "true"})) == []
    assert last_request(sandbox)["operation"] == "getMailThreads"
    assert last_request(sandbox)["query"]["folder"] == "inbox"
    for key, inputs in (
        ("getMailThread", {"id": "5"}),
        ("getMailThreadMessages", {"id": "5"}),
        ("getMailMessage", {"id": "7", "includeBody": "true"}),
        ("deleteMailThread", {"id": "5"}),
    ):
        fails(run(live, key, inputs), "not_found", 404)
        assert last_request(sandbox)["operation"] == key
    assert last_request(sandbox)["method"] == "DELETE"


# ---- misc: raw request ---------------------------------------------------------------------------------------


def test_raw_request(live):
    body = ok(run(live, "rawRequest", {"method": "GET", "url": "/api/v2/deals", "queryParams": {"limit": "1"}}))
    assert body["success"] is True and len(body["data"]) == 1
    created = ok(
        run(live, "rawRequest", {"method": "POST", "url": "/api/v2/organizations", "data": {"name": "Raw Org"}})
    )["data"]
    assert ok(run(live, "getOrganization", {"id": created["id"]}))["name"] == "Raw Org"
    fails(run(live, "rawRequest", {"method": "GET", "url": "https://example.com/api/v2/deals"}), "input")


# ---- notes ---------------------------------------------------------------------------------------------------


def test_notes(live):
    note = ok(run(live, "addNote", {"content": "<b>Budget</b> approved", "dealId": "2", "pinnedToDealFlag": "true"}))
    assert note["deal_id"] == 2 and note["pinned_to_deal_flag"] is True
    person_note = ok(run(live, "addNote", {"content": "Prefers e-mail", "personId": 3}))
    got = ok(run(live, "getNote", {"id": str(note["id"])}))
    assert got["content"] == "<b>Budget</b> approved" and got["deal"]["title"] == "Contoso pilot"

    ok(run(live, "updateNote", {"id": note["id"], "content": "Budget approved by CFO", "pinnedToDealFlag": "false"}))
    got = ok(run(live, "getNote", {"id": note["id"]}))
    assert got["content"] == "Budget approved by CFO" and got["pinned_to_deal_flag"] is False

    everything = ok(run(live, "getNotes", {"fetchAll": "true"}))
    assert {1, note["id"], person_note["id"]} <= set(ids(everything))
    assert ids(ok(run(live, "getNotes", {"fetchAll": True, "dealId": 2}))) == [note["id"]]
    assert ids(ok(run(live, "getNotes", {"personId": 3}))) == [person_note["id"]]

    ok(run(live, "deleteNote", {"id": note["id"]}))
    fails(run(live, "getNote", {"id": note["id"]}), "not_found", 404)
    assert note["id"] not in ids(ok(run(live, "getNotes", {"fetchAll": True})))


def test_notes_date_range(live, sandbox):
    ok(run(live, "addNote", {"content": "today", "dealId": 1}))
    future = ok(run(live, "getNotes", {"startDate": "2030-01-01", "endDate": "2030-12-31"}))
    assert last_request(sandbox)["query"]["start_date"] == "2030-01-01"  # the connector sends it
    assert future == []


# ---- organizations ---------------------------------------------------------------------------------------------


def test_organizations_crud_list_and_search(live, sandbox):
    org = ok(
        run(
            live,
            "addOrganization",
            {
                "name": "Globex Corporation",
                "website": "https://globex.example",
                "address": {"value": "Cypress Creek 1"},
                "visibleTo": "3",
            },
        )
    )
    assert org["website"] == "https://globex.example" and org["address"]["value"] == "Cypress Creek 1"
    got = ok(run(live, "getOrganization", {"id": str(org["id"])}))
    assert got["name"] == "Globex Corporation"
    ok(run(live, "updateOrganization", {"id": org["id"], "name": "Globex Corp", "website": "", "ownerId": "2"}))
    got = ok(run(live, "getOrganization", {"id": org["id"]}))
    assert (got["name"], got["owner_id"], got["website"]) == ("Globex Corp", 2, "https://globex.example")

    everything = ok(run(live, "getOrganizations", {"fetchAll": "true"}))
    assert ids(everything) == [1, 2, org["id"]]
    assert ids(ok(run(live, "getOrganizations", {"fetchAll": True, "ownerId": 2}))) == [org["id"]]

    found = ok(run(live, "searchOrganization", {"term": "Globex"}))
    assert [h["item"]["id"] for h in found["items"]] == [org["id"]]
    fails(run(live, "searchOrganization", {"term": "G"}), "rejected", 400)  # 1 character needs exactMatch
    by_address = ok(run(live, "searchOrganization", {"term": "Cypress", "fields": "address"}))
    assert [h["item"]["id"] for h in by_address["items"]] == [org["id"]]

    ok(run(live, "deleteOrganization", {"id": org["id"]}))
    fails(run(live, "getOrganization", {"id": org["id"]}), "not_found", 404)
    assert org["id"] not in ids(ok(run(live, "getOrganizations", {"fetchAll": True})))


def test_organization_related(live, sandbox, tmp_path):
    org = ok(run(live, "addOrganization", {"name": "Related Org"}))
    person = ok(run(live, "addPerson", {"name": "Org Member", "orgId": org["id"]}))
    deal = ok(run(live, "addDeal", {"title": "Org deal", "orgId": org["id"]}))
    won = ok(run(live, "addDeal", {"title": "Org won deal", "orgId": org["id"], "status": "won"}))
    act = ok(run(live, "addActivity", {"subject": "Org visit", "orgId": org["id"], "type": "meeting"}))
    note = ok(run(live, "addNote", {"content": "Org note", "orgId": org["id"]}))

    assert ids(ok(run(live, "getOrganizationPersons", {"id": org["id"], "fetchAll": "true"}))) == [person["id"]]
    assert ids(ok(run(live, "getOrganizationDeals", {"id": org["id"], "fetchAll": True}))) == [deal["id"], won["id"]]
    assert ids(ok(run(live, "getOrganizationDeals", {"id": org["id"], "status": "won"}))) == [won["id"]]
    assert ids(ok(run(live, "getOrganizationActivities", {"id": org["id"], "fetchAll": True}))) == [act["id"]]

    assert ok(run(live, "getOrganizationFollowers", {"id": org["id"]})) == []
    ok(run(live, "addOrganizationFollower", {"id": org["id"], "userId": 1}))
    assert [f["user_id"] for f in ok(run(live, "getOrganizationFollowers", {"id": org["id"], "fetchAll": True}))] == [1]
    ok(run(live, "deleteOrganizationFollower", {"id": org["id"], "followerId": 1}))
    assert ok(run(live, "getOrganizationFollowers", {"id": org["id"]})) == []

    source = tmp_path / "org.txt"
    source.write_text("org file")
    uploaded = ok(run(live, "addFile", {"entityType": "organization", "entityId": org["id"], "file": str(source)}))
    assert ids(ok(run(live, "getOrganizationFiles", {"id": org["id"], "fetchAll": True}))) == [uploaded["id"]]

    assert ok(run(live, "getOrganizationMailMessages", {"id": org["id"]})) == []
    assert last_request(sandbox)["operation"] == "getOrganizationMailMessages"

    updates = ok(run(live, "getOrganizationUpdates", {"id": org["id"], "fetchAll": "true"}))
    assert {(u["object"], u["data"]["id"]) for u in updates} == {
        ("note", note["id"]),
        ("file", uploaded["id"]),
        ("activity", act["id"]),
    }
    assert ok(run(live, "getOrganizationUsers", {"id": org["id"]})) == [1, 2]


def test_merge_organizations_keeps_the_merge_with_org(live):
    keep = ok(run(live, "addOrganization", {"name": "Keep Org"}))
    drop = ok(run(live, "addOrganization", {"name": "Drop Org", "website": "https://drop.example"}))
    person = ok(run(live, "addPerson", {"name": "Moving Person", "orgId": drop["id"]}))
    deal = ok(run(live, "addDeal", {"title": "Moving deal", "orgId": drop["id"]}))
    ok(run(live, "addOrganizationFollower", {"id": drop["id"], "userId": 2}))
    merged = ok(run(live, "mergeOrganizations", {"id": drop["id"], "mergeWithId": keep["id"]}))
    assert merged["id"] == keep["id"] and merged["name"] == "Keep Org"
    fails(run(live, "getOrganization", {"id": drop["id"]}), "not_found", 404)
    kept = ok(run(live, "getOrganization", {"id": keep["id"]}))
    assert kept["name"] == "Keep Org" and kept["website"] == "https://drop.example"
    assert ok(run(live, "getPerson", {"id": person["id"]}))["org_id"] == keep["id"]
    assert ok(run(live, "getDeal", {"id": deal["id"]}))["org_id"] == keep["id"]
    assert [f["user_id"] for f in ok(run(live, "getOrganizationFollowers", {"id": keep["id"]}))] == [2]


# ---- permission sets -------------------------------------------------------------------------------------------


def test_permission_sets(live):
    sets = ok(run(live, "getPermissionSets"))
    assert {"Global admin", "Regular user"} <= {s["name"] for s in sets}
    admin_id = next(s["id"] for s in sets if s["name"] == "Global admin")
    assert ok(run(live, "getPermissionSet", {"id": admin_id}))["name"] == "Global admin"
    assignments = ok(run(live, "getPermissionSetAssignments", {"id": admin_id, "fetchAll": "true"}))
    assert [a["user_id"] for a in assignments] == [1]
    fails(run(live, "getPermissionSet", {"id": "00000000-0000-4000-8000-000000000099"}), "not_found", 404)


def test_permission_sets_by_app(live, sandbox):
    sales = ok(run(live, "getPermissionSets", {"app": "sales"}))
    assert last_request(sandbox)["query"]["app"] == "sales"  # the connector sends it
    assert [s["name"] for s in sales] == ["Regular user"]


# ---- persons ------------------------------------------------------------------------------------------------------


def test_persons_crud_list_and_search(live, sandbox):
    person = ok(
        run(
            live,
            "addPerson",
            {
                "name": "Harriet Quimby",
                "emails": "harriet@air.example, hq@home.example",
                "phones": "+1 555 0199",
                "orgId": "1",
                "marketingStatus": "subscribed",
            },
        )
    )
    assert [e["value"] for e in person["emails"]] == ["harriet@air.example", "hq@home.example"]
    assert [e["primary"] for e in person["emails"]] == [True, False]
    assert person["phones"][0]["value"] == "+1 555 0199" and person["org_id"] == 1
    got = ok(run(live, "getPerson", {"id": str(person["id"])}))
    assert (got["first_name"], got["last_name"]) == ("Harriet", "Quimby")

    ok(run(live, "updatePerson", {"id": person["id"], "name": "Harriet Q.", "emails": "new@air.example", "orgId": "2"}))
    got = ok(run(live, "getPerson", {"id": person["id"]}))
    assert (got["name"], got["org_id"]) == ("Harriet Q.", 2)
    assert [e["value"] for e in got["emails"]] == ["new@air.example"]
    assert got["phones"][0]["value"] == "+1 555 0199"  # untouched

    tier = new_field(live, "personFields", "Tier")
    ok(run(live, "setFieldValueForPerson", {"personId": person["id"], "customFieldKey": tier, "value": "Gold"}))
    assert ok(run(live, "getPerson", {"id": person["id"]}))["custom_fields"][tier] == "Gold"
    score = new_field(live, "personFields", "Score", "double")
    ok(
        run(
            live,
            "setFieldValueForPerson",
            {"personId": person["id"], "customFieldKey": score, "value": "4.5", "valueIsJson": "true"},
        )
    )
    custom = ok(run(live, "getPerson", {"id": person["id"]}))["custom_fields"]
    assert (custom[tier], custom[score]) == ("Gold", 4.5)

    everything = ok(run(live, "getPersons", {"fetchAll": "true"}))
    assert ids(everything) == [1, 2, 3, person["id"]]
    assert ids(ok(run(live, "getPersons", {"fetchAll": True, "orgId": 2}))) == [2, person["id"]]

    found = ok(run(live, "searchPersons", {"term": "new@air.example"}))
    assert [h["item"]["id"] for h in found["items"]] == [person["id"]]
    found = ok(run(live, "searchPersons", {"term": "Harriet", "orgId": "1"}))
    assert found["items"] == []

    ok(run(live, "deletePersonPicture", {"id": person["id"]}))
    assert last_request(sandbox)["operation"] == "deletePersonPicture"
    assert ok(run(live, "getPerson", {"id": person["id"]}))["picture_id"] is None

    ok(run(live, "deletePerson", {"id": person["id"]}))
    fails(run(live, "getPerson", {"id": person["id"]}), "not_found", 404)
    assert person["id"] not in ids(ok(run(live, "getPersons", {"fetchAll": True})))


def test_person_related(live, sandbox, tmp_path):
    person = ok(run(live, "addPerson", {"name": "Related Person"}))
    deal = ok(run(live, "addDeal", {"title": "Person deal", "personId": person["id"]}))
    lost = ok(run(live, "addDeal", {"title": "Person lost deal", "personId": person["id"], "status": "lost"}))
    act = ok(run(live, "addActivity", {"subject": "Person call", "personId": person["id"], "type": "call"}))
    note = ok(run(live, "addNote", {"content": "Person note", "personId": person["id"]}))
    line = ok(run(live, "addDealProduct", {"id": deal["id"], "productId": 2, "itemPrice": 199, "quantity": 1}))

    assert ids(ok(run(live, "getPersonDeals", {"id": person["id"], "fetchAll": "true"}))) == [deal["id"], lost["id"]]
    assert ids(ok(run(live, "getPersonDeals", {"id": person["id"], "status": "lost"}))) == [lost["id"]]
    assert ids(ok(run(live, "getPersonActivities", {"id": person["id"], "fetchAll": True}))) == [act["id"]]

    ok(run(live, "addPersonFollower", {"id": person["id"], "userId": "2"}))
    assert [f["user_id"] for f in ok(run(live, "getPersonFollowers", {"id": person["id"], "fetchAll": True}))] == [2]
    ok(run(live, "deletePersonFollower", {"id": person["id"], "followerId": "2"}))
    assert ok(run(live, "getPersonFollowers", {"id": person["id"]})) == []

    source = tmp_path / "cv.txt"
    source.write_text("cv")
    uploaded = ok(run(live, "addFile", {"entityType": "person", "entityId": person["id"], "file": str(source)}))
    assert ids(ok(run(live, "getPersonFiles", {"id": person["id"], "fetchAll": True}))) == [uploaded["id"]]

    assert ok(run(live, "getPersonMailMessages", {"id": person["id"], "fetchAll": True})) == []
    assert last_request(sandbox)["operation"] == "getPersonMailMessages"

    products = ok(run(live, "getPersonProducts", {"id": person["id"], "fetchAll": "true"}))
    assert [(p["deal_id"], p["product_id"]) for p in products] == [(deal["id"], 2)] and products[0]["id"] == line["id"]

    updates = ok(run(live, "getPersonUpdates", {"id": person["id"], "fetchAll": True}))
    assert {(u["object"], u["data"]["id"]) for u in updates} == {
        ("note", note["id"]),
        ("file", uploaded["id"]),
        ("activity", act["id"]),
    }
    assert ok(run(live, "getPersonUsers", {"id": person["id"]})) == [1, 2]


def test_merge_persons_keeps_the_merge_with_person(live):
    keep = ok(run(live, "addPerson", {"name": "Keep Person", "emails": "keep@x.example"}))
    drop = ok(run(live, "addPerson", {"name": "Drop Person", "phones": "+1 555 0000", "orgId": "1"}))
    deal = ok(run(live, "addDeal", {"title": "Drop's deal", "personId": drop["id"]}))
    act = ok(run(live, "addActivity", {"subject": "Drop's call", "personId": drop["id"]}))
    merged = ok(run(live, "mergePersons", {"id": drop["id"], "mergeWithId": keep["id"]}))
    assert merged["id"] == keep["id"] and merged["name"] == "Keep Person"
    fails(run(live, "getPerson", {"id": drop["id"]}), "not_found", 404)
    kept = ok(run(live, "getPerson", {"id": keep["id"]}))
    assert kept["org_id"] == 1 and [e["value"] for e in kept["emails"]] == ["keep@x.example"]
    assert ok(run(live, "getDeal", {"id": deal["id"]}))["person_id"] == keep["id"]
    assert ok(run(live, "getActivity", {"id": act["id"]}))["participants"] == [
        {"person_id": keep["id"], "primary": True}
    ]


# ---- pipelines and stages ---------------------------------------------------------------------------------------


def test_pipelines(live):
    assert ids(ok(run(live, "getPipelines", {"fetchAll": "true"}))) == [1]
    pipeline = ok(run(live, "addPipeline", {"name": "Renewals", "isDealProbabilityEnabled": "true"}))
    assert pipeline["is_deal_probability_enabled"] is True
    assert ok(run(live, "getPipeline", {"id": str(pipeline["id"])}))["name"] == "Renewals"
    ok(
        run(
            live, "updatePipeline", {"id": pipeline["id"], "name": "Renewals 2026", "isDealProbabilityEnabled": "false"}
        )
    )
    got = ok(run(live, "getPipeline", {"id": pipeline["id"]}))
    assert (got["name"], got["is_deal_probability_enabled"]) == ("Renewals 2026", False)
    assert ids(ok(run(live, "getPipelines", {"fetchAll": True}))) == [1, pipeline["id"]]

    stage = ok(run(live, "addStage", {"name": "Renewal due", "pipelineId": pipeline["id"]}))
    deal = ok(run(live, "addDeal", {"title": "Renewal deal", "stageId": stage["id"]}))
    won = ok(run(live, "addDeal", {"title": "Renewal won", "stageId": stage["id"], "status": "won"}))
    assert deal["pipeline_id"] == pipeline["id"]
    in_pipeline = ok(run(live, "getPipelineDeals", {"id": pipeline["id"], "fetchAll": "true"}))
    assert ids(in_pipeline) == [deal["id"], won["id"]]
    assert ids(ok(run(live, "getPipelineDeals", {"id": pipeline["id"], "status": "won"}))) == [won["id"]]
    assert len(ok(run(live, "getPipelineDeals", {"id": 1, "fetchAll": True}))) == 3  # the sample deals

    conversion = ok(
        run(
            live,
            "getPipelineConversionStatistics",
            {"id": pipeline["id"], "startDate": "2026-01-01", "endDate": "2026-12-31"},
        )
    )
    assert conversion["won_conversion"] == 50
    movement = ok(
        run(
            live,
            "getPipelineMovementStatistics",
            {"id": pipeline["id"], "startDate": "2026-01-01", "endDate": "2026-12-31", "userId": "1"},
        )
    )
    assert movement["new_deals"]["count"] == 2 and movement["won_deals"]["count"] == 1

    empty = ok(run(live, "addPipeline", {"name": "Scratch"}))
    ok(run(live, "deletePipeline", {"id": empty["id"]}))
    fails(run(live, "getPipeline", {"id": empty["id"]}), "not_found", 404)
    assert empty["id"] not in ids(ok(run(live, "getPipelines", {"fetchAll": True})))


def test_stages(live):
    stages = ok(run(live, "getStages", {"pipelineId": "1", "fetchAll": "true"}))
    assert [s["name"] for s in stages] == ["Lead in", "Demo booked", "Contract sent"]
    stage = ok(
        run(
            live,
            "addStage",
            {"name": "Closing", "pipelineId": "1", "dealProbability": "80", "rottenFlag": "true", "rottenDays": "14"},
        )
    )
    assert (stage["order_nr"], stage["deal_probability"], stage["is_deal_rot_enabled"], stage["days_to_rotten"]) == (
        4,
        80,
        True,
        14,
    )
    assert ok(run(live, "getStage", {"id": stage["id"]}))["name"] == "Closing"
    ok(run(live, "updateStage", {"id": stage["id"], "name": "Closing soon", "dealProbability": "90"}))
    got = ok(run(live, "getStage", {"id": stage["id"]}))
    assert (got["name"], got["deal_probability"], got["days_to_rotten"]) == ("Closing soon", 90, 14)
    assert ids(ok(run(live, "getStages", {"fetchAll": True})))[-1] == stage["id"]

    deal = ok(run(live, "addDeal", {"title": "Closing deal", "stageId": stage["id"]}))
    assert ids(ok(run(live, "getStageDeals", {"id": stage["id"], "fetchAll": "true"}))) == [deal["id"]]
    assert ids(ok(run(live, "getStageDeals", {"id": "2"}))) == [1]
    ok(run(live, "deleteDeal", {"id": deal["id"]}))

    ok(run(live, "deleteStage", {"id": stage["id"]}))
    fails(run(live, "getStage", {"id": stage["id"]}), "not_found", 404)
    assert stage["id"] not in ids(ok(run(live, "getStages", {"fetchAll": True})))


# ---- products -----------------------------------------------------------------------------------------------------


def test_products_crud_list_and_search(live):
    product = ok(
        run(
            live,
            "addProduct",
            {
                "name": "Enterprise plan",
                "code": "ENT",
                "unit": "seat",
                "tax": "19",
                "prices": [{"price": "999", "currency": "EUR"}],
                "selectable": "true",
                "billingFrequency": "monthly",
                "billingFrequencyCycles": "12",
            },
        )
    )
    assert product["prices"][0]["price"] == 999 and product["prices"][0]["product_id"] == product["id"]
    assert (product["billing_frequency"], product["billing_frequency_cycles"]) == ("monthly", 12)
    got = ok(run(live, "getProduct", {"id": str(product["id"])}))
    assert (got["code"], got["tax"], got["is_linkable"]) == ("ENT", 19, True)
    ok(
        run(
            live,
            "updateProduct",
            {
                "id": product["id"],
                "name": "Enterprise plan+",
                "selectable": "false",
                "prices": [{"price": 1099, "currency": "EUR"}, {"price": 1199, "currency": "USD"}],
            },
        )
    )
    got = ok(run(live, "getProduct", {"id": product["id"]}))
    assert (got["name"], got["is_linkable"], got["code"]) == ("Enterprise plan+", False, "ENT")
    assert [(p["price"], p["currency"]) for p in got["prices"]] == [(1099, "EUR"), (1199, "USD")]

    assert ids(ok(run(live, "getProducts", {"fetchAll": "true"}))) == [1, 2, product["id"]]
    assert ids(ok(run(live, "getProducts", {"ids": f"2,{product['id']}"}))) == [2, product["id"]]

    found = ok(run(live, "searchProducts", {"term": "ENT", "fields": "code", "exactMatch": "true"}))
    assert [h["item"]["id"] for h in found["items"]] == [product["id"]]
    found = ok(run(live, "searchProducts", {"term": "plan"}))
    assert {h["item"]["id"] for h in found["items"]} == {1, 2, product["id"]}

    ok(run(live, "deleteProduct", {"id": product["id"]}))
    fails(run(live, "getProduct", {"id": product["id"]}), "not_found", 404)
    assert ids(ok(run(live, "getProducts", {"fetchAll": True}))) == [1, 2]


def test_product_related(live, tmp_path):
    product = ok(run(live, "addProduct", {"name": "Add-on"}))
    assert ok(run(live, "getProductFollowers", {"id": product["id"]})) == []
    ok(run(live, "addProductFollower", {"id": product["id"], "userId": "2"}))
    assert [f["user_id"] for f in ok(run(live, "getProductFollowers", {"id": product["id"], "fetchAll": True}))] == [2]
    ok(run(live, "deleteProductFollower", {"id": product["id"], "followerId": "2"}))
    assert ok(run(live, "getProductFollowers", {"id": product["id"]})) == []

    open_deal = ok(run(live, "addDeal", {"title": "Add-on deal"}))
    won_deal = ok(run(live, "addDeal", {"title": "Add-on won", "status": "won"}))
    for deal in (open_deal, won_deal):
        ok(run(live, "addDealProduct", {"id": deal["id"], "productId": product["id"], "itemPrice": 5, "quantity": 1}))
    assert ids(ok(run(live, "getProductDeals", {"id": product["id"], "fetchAll": "true"}))) == [
        open_deal["id"],
        won_deal["id"],
    ]
    assert ids(ok(run(live, "getProductDeals", {"id": product["id"], "status": "won"}))) == [won_deal["id"]]

    source = tmp_path / "datasheet.txt"
    source.write_text("datasheet")
    uploaded = ok(run(live, "addFile", {"entityType": "product", "entityId": product["id"], "file": str(source)}))
    assert ids(ok(run(live, "getProductFiles", {"id": product["id"], "fetchAll": True}))) == [uploaded["id"]]
    assert ok(run(live, "getProductUsers", {"id": product["id"]})) == [1, 2]


# ---- users ---------------------------------------------------------------------------------------------------------


def test_users(live):
    me = ok(run(live, "getCurrentUser"))
    assert me["id"] == 1 and me["company_name"]
    users = ok(run(live, "getUsers"))
    assert ids(users) == [1, 2]
    seller = users[1]
    assert ok(run(live, "getUser", {"id": "2"}))["email"] == seller["email"]
    fails(run(live, "getUser", {"id": 99}), "not_found", 404)

    first_name = seller["name"].split()[0]
    assert ids(ok(run(live, "findUsersByName", {"term": first_name}))) == [2]
    domain = seller["email"].split("@")[0]
    assert ids(ok(run(live, "findUsersByName", {"term": domain, "searchByEmail": "true"}))) == [2]

    deal = ok(run(live, "addDeal", {"title": "x"}))
    ok(run(live, "addDealFollower", {"id": deal["id"], "userId": 2}))
    assert ok(run(live, "getUserFollowers", {"id": 2, "fetchAll": "true"})) == []

    assert ok(run(live, "getUserPermissions", {"id": 1}))["can_use_api"] is True
    assert [r["user_id"] for r in ok(run(live, "getUserRoleAssignments", {"id": 1, "fetchAll": True}))] == [1]
    assert "deal_default_visibility" in ok(run(live, "getUserRoleSettings", {"id": 2}))


# ---- full API coverage, part B: histories, field administration, conversions, money, media, comments ---------------


def test_deal_histories_duplicate_and_archive(live, sandbox):
    deal = ok(run(live, "addDeal", {"title": "History deal", "personId": 1, "value": "100"}))
    ok(run(live, "updateDeal", {"id": deal["id"], "value": "250"}))
    changes = ok(run(live, "getDealChangelog", {"id": deal["id"], "fetchAll": True}))
    assert [(c["field_key"], c["old_value"], c["new_value"]) for c in changes] == [("value", "100", "250")]
    ok(run(live, "addNote", {"content": "Called", "dealId": deal["id"]}))
    feed = ok(run(live, "getDealUpdates", {"id": deal["id"], "allChanges": True, "items": ["note", "dealChange"]}))
    assert {u["object"] for u in feed} == {"note", "dealChange"}
    assert [u["object"] for u in ok(run(live, "getDealUpdates", {"id": deal["id"], "items": ["note"]}))] == ["note"]
    ok(run(live, "addDealParticipant", {"id": deal["id"], "personId": 2}))
    assert [p["person_id"] for p in ok(run(live, "getDealParticipantsChangelog", {"id": deal["id"]}))] == [2]
    ok(run(live, "addDealFollower", {"id": deal["id"], "userId": 2}))
    followed = ok(run(live, "getDealFollowersChangelog", {"id": deal["id"], "fetchAll": True}))
    assert [(f["action"], f["follower_user_id"]) for f in followed] == [("added", 2)]

    ok(run(live, "addDealProduct", {"id": deal["id"], "productId": 1, "itemPrice": 49, "quantity": 2}))
    copy = ok(run(live, "duplicateDeal", {"id": deal["id"]}))
    assert copy["id"] != deal["id"] and copy["title"] == "History deal (copy)" and copy["value"] == 250
    assert [p["product_id"] for p in ok(run(live, "getDealProducts", {"id": copy["id"]}))] == [1]

    raw(live, "PATCH", f"/api/v2/deals/{copy['id']}", {"is_archived": True})
    archived = ok(run(live, "getArchivedDeals", {"fetchAll": True}))
    assert ids(archived) == [copy["id"]]
    assert copy["id"] not in ids(ok(run(live, "getDeals", {"fetchAll": True})))  # archived deals have their own list
    assert ok(run(live, "getArchivedDeals", {"personId": 2})) == []


def test_person_and_organization_histories(live):
    person = ok(run(live, "addPerson", {"name": "Ann Old"}))
    ok(run(live, "updatePerson", {"id": person["id"], "name": "Ann New"}))
    changes = ok(run(live, "getPersonChangelog", {"id": person["id"]}))
    assert [(c["field_key"], c["new_value"]) for c in changes if c["field_key"] == "name"] == [("name", "Ann New")]
    ok(run(live, "addPersonFollower", {"id": person["id"], "userId": 2}))
    assert [f["follower_user_id"] for f in ok(run(live, "getPersonFollowersChangelog", {"id": person["id"]}))] == [2]

    org = ok(run(live, "addOrganization", {"name": "Old Org"}))
    ok(run(live, "updateOrganization", {"id": org["id"], "name": "New Org"}))
    assert [c["new_value"] for c in ok(run(live, "getOrganizationChangelog", {"id": org["id"]}))] == ["New Org"]
    ok(run(live, "addOrganizationFollower", {"id": org["id"], "userId": 2}))
    assert [f["follower_user_id"] for f in ok(run(live, "getOrganizationFollowersChangelog", {"id": org["id"]}))] == [2]


def test_products_of_deals_in_bulk(live):
    first = ok(run(live, "addDeal", {"title": "Bulk 1"}))
    second = ok(run(live, "addDeal", {"title": "Bulk 2"}))
    lines = [{"product_id": 1, "item_price": 49, "quantity": 1}, {"product_id": 2, "item_price": 99, "quantity": 3}]
    added = ok(run(live, "addManyDealProducts", {"id": first["id"], "products": json.dumps(lines)}))
    assert [(a["product_id"], a["sum"]) for a in added] == [(1, 49), (2, 297)]
    ok(run(live, "addManyDealProducts", {"id": second["id"], "products": lines[:1]}))
    both = ok(run(live, "getDealsProducts", {"dealIds": f"{first['id']},{second['id']}", "fetchAll": True}))
    assert sorted(p["deal_id"] for p in both) == [first["id"], first["id"], second["id"]]
    removed = ok(run(live, "deleteManyDealProducts", {"id": first["id"], "productAttachmentIds": [added[0]["id"]]}))
    assert removed == {"ids": [added[0]["id"]]}
    assert ids(ok(run(live, "getDealProducts", {"id": first["id"]}))) == [added[1]["id"]]
    ok(run(live, "deleteManyDealProducts", {"id": first["id"]}))  # no ids: every line goes
    assert ok(run(live, "getDealProducts", {"id": first["id"]})) == []


def test_deal_discounts_and_installments(live):
    deal = ok(run(live, "addDeal", {"title": "Paid in parts", "value": "1000"}))
    discount = ok(
        run(live, "addDealDiscount", {"id": deal["id"], "description": "Loyalty", "amount": "5", "type": "percentage"})
    )
    changed = ok(run(live, "updateDealDiscount", {"id": deal["id"], "discountId": discount["id"], "amount": 7.5}))
    assert (changed["amount"], changed["type"]) == (7.5, "percentage")
    assert [d["amount"] for d in ok(run(live, "getDealDiscounts", {"id": deal["id"]}))] == [7.5]
    ok(run(live, "deleteDealDiscount", {"id": deal["id"], "discountId": discount["id"]}))
    assert ok(run(live, "getDealDiscounts", {"id": deal["id"]})) == []
    fails(run(live, "deleteDealDiscount", {"id": deal["id"], "discountId": discount["id"]}), "not_found", 404)

    first = ok(
        run(
            live,
            "addDealInstallment",
            {"id": deal["id"], "description": "First", "amount": 500, "billingDate": "2026-04-01"},
        )
    )
    second = ok(
        run(
            live,
            "addDealInstallment",
            {"id": deal["id"], "description": "Second", "amount": 500, "billingDate": "2026-03-01"},
        )
    )
    ok(run(live, "updateDealInstallment", {"id": deal["id"], "installmentId": first["id"], "amount": 600}))
    listed = ok(run(live, "getDealInstallments", {"dealIds": [deal["id"]], "sortBy": "billing_date", "fetchAll": True}))
    assert [(i["id"], i["amount"]) for i in listed] == [(second["id"], 500), (first["id"], 600)]
    ok(run(live, "deleteDealInstallment", {"id": deal["id"], "installmentId": second["id"]}))
    assert ids(ok(run(live, "getDealInstallments", {"dealIds": str(deal["id"])}))) == [first["id"]]


def test_lead_to_deal_conversion_waits_for_the_new_deal(live, sandbox):
    lead = ok(run(live, "addLead", {"title": "Convert me", "personId": 1, "value": {"amount": 300, "currency": "EUR"}}))
    note = ok(run(live, "addNote", {"content": "From the lead", "leadId": lead["id"]}))
    deal = ok(run(live, "convertLeadToDeal", {"id": lead["id"], "stageId": 3, "waitSeconds": 30}))
    assert (deal["title"], deal["value"], deal["stage_id"], deal["source_lead_id"]) == (
        "Convert me",
        300,
        3,
        lead["id"],
    )
    fails(run(live, "getLead", {"id": lead["id"]}), "not_found", 404)
    assert ok(run(live, "getNote", {"id": note["id"]}))["deal_id"] == deal["id"]
    polls = [r for r in sandbox.request_log if r["operation"] == "getLeadConversionStatus"]
    assert len(polls) == 2  # running, then completed


def test_deal_to_lead_conversion_and_its_status(live, sandbox):
    deal = ok(run(live, "addDeal", {"title": "Back to lead", "orgId": 1, "value": "80"}))
    lead = ok(run(live, "convertDealToLead", {"id": deal["id"]}))
    assert (lead["title"], lead["organization_id"], lead["value"]) == (
        "Back to lead",
        1,
        {"amount": 80, "currency": "EUR"},
    )
    fails(run(live, "getDeal", {"id": deal["id"]}), "not_found", 404)
    [poll, *_] = [r for r in sandbox.request_log if r["operation"] == "getDealConversionStatus"]
    conversion_id = poll["path"].rsplit("/", 1)[-1]  # the ID the action polled with
    status = ok(run(live, "getDealConversionStatus", {"id": deal["id"], "conversionId": conversion_id}))
    assert (status["status"], status["lead_id"]) == ("completed", lead["id"])


def test_conversion_that_does_not_finish_in_time_fails_with_its_id(live, sandbox):
    lead = ok(run(live, "addLead", {"title": "Slow", "orgId": 1}))
    error = fails(run(live, "convertLeadToDeal", {"id": lead["id"], "waitSeconds": 0}), "outcome_unknown")
    conversion_id = error.details["conversion_id"]
    assert conversion_id in error.message and error.details["status"] == "running"
    assert [r["operation"] for r in sandbox.request_log[-2:]] == ["convertLeadToDeal", "getLeadConversionStatus"]
    # the conversion goes on: its status, read once more, completes it
    status = ok(run(live, "getLeadConversionStatus", {"id": lead["id"], "conversionId": conversion_id}))
    assert status["status"] == "completed" and ok(run(live, "getDeal", {"id": status["deal_id"]}))["title"] == "Slow"


@pytest.mark.parametrize("entity", ["Deal", "Person", "Organization", "Product"])
def test_custom_field_administration(live, entity):
    # (fields table, a standard field, add field, update field, add options, update options, delete options)
    table, standard, add, update, add_options, update_options, delete_options = {
        "Deal": (
            "dealFields",
            "title",
            "addDealField",
            "updateDealField",
            "addDealFieldOptions",
            "updateDealFieldOptions",
            "deleteDealFieldOptions",
        ),
        "Person": (
            "personFields",
            "name",
            "addPersonField",
            "updatePersonField",
            "addPersonFieldOptions",
            "updatePersonFieldOptions",
            "deletePersonFieldOptions",
        ),
        "Organization": (
            "organizationFields",
            "name",
            "addOrganizationField",
            "updateOrganizationField",
            "addOrganizationFieldOptions",
            "updateOrganizationFieldOptions",
            "deleteOrganizationFieldOptions",
        ),
        "Product": (
            "productFields",
            "name",
            "addProductField",
            "updateProductField",
            "addProductFieldOptions",
            "updateProductFieldOptions",
            "deleteProductFieldOptions",
        ),
    }[entity]
    field = ok(
        run(live, add, {"fieldName": "Tier", "fieldType": "enum", "options": [{"label": "Gold"}, {"label": "Silver"}]})
    )
    code = field["field_code"]
    renamed = ok(run(live, update, {"id": code, "fieldName": "Level", "uiVisibility": {"add_visible_flag": True}}))
    assert renamed["field_name"] == "Level" and renamed["ui_visibility"] == {"add_visible_flag": True}
    added = ok(run(live, add_options, {"id": code, "options": [{"label": "Bronze"}]}))
    assert [o["label"] for o in added] == ["Bronze"]
    gold, silver = (o["id"] for o in field["options"])
    ok(run(live, update_options, {"id": code, "options": [{"id": gold, "label": "Platinum"}]}))
    removed = ok(run(live, delete_options, {"id": code, "options": [{"id": silver}]}))
    assert [o["label"] for o in removed] == ["Silver"]
    got = raw(live, "GET", f"/api/v2/{table}/{code}")
    assert [o["label"] for o in got["options"]] == ["Platinum", "Bronze"]
    fails(run(live, update, {"id": standard, "fieldName": "x"}), "rejected", 400)  # standard fields stay as they are
    text = ok(run(live, add, {"fieldName": "Notes", "fieldType": "text"}))
    fails(run(live, add_options, {"id": text["field_code"], "options": [{"label": "x"}]}), "rejected", 400)


def test_organization_fields(live):
    field = ok(run(live, "addOrganizationField", {"fieldName": "Size", "fieldType": "double"}))
    listed = ok(run(live, "getOrganizationFields", {"fetchAll": True}))
    assert field["field_code"] in [f["field_code"] for f in listed]
    assert ok(run(live, "getOrganizationField", {"id": field["field_code"]}))["field_name"] == "Size"
    ok(run(live, "deleteOrganizationField", {"id": field["field_code"]}))
    fails(run(live, "getOrganizationField", {"id": field["field_code"]}), "not_found", 404)


def test_activity_and_lead_fields(live):
    assert ok(run(live, "getActivityField", {"id": "subject"}))["field_code"] == "subject"
    lead_fields = ok(run(live, "getLeadFields", {"fetchAll": True}))
    assert "title" in [f["key"] for f in lead_fields]


def test_product_variations_images_and_duplicates(live, tmp_path, bundle):
    product = ok(run(live, "addProduct", {"name": "Boots", "prices": [{"price": 80, "currency": "EUR"}]}))
    large = ok(
        run(
            live,
            "addProductVariation",
            {"id": product["id"], "name": "Large", "prices": [{"price": 90, "currency": "EUR"}]},
        )
    )
    ok(run(live, "addProductVariation", {"id": product["id"], "name": "Small"}))
    ok(
        run(
            live,
            "updateProductVariation",
            {"id": product["id"], "productVariationId": large["id"], "name": "Extra large"},
        )
    )
    names = [v["name"] for v in ok(run(live, "getProductVariations", {"id": product["id"], "fetchAll": True}))]
    assert names == ["Extra large", "Small"]
    picklist = live.picklist("selectProductVariation", params={"id": product["id"]})
    assert [o["label"] for o in picklist.options] == ["Extra large", "Small"]
    ok(run(live, "deleteProductVariation", {"id": product["id"], "productVariationId": large["id"]}))
    assert [v["name"] for v in ok(run(live, "getProductVariations", {"id": product["id"]}))] == ["Small"]

    image = tmp_path / "boots.png"
    image.write_bytes(b"\x89PNG boots")
    job = Job(files=[Attachment("boots.png", str(image), "image/png")])
    uploaded = ok(run(live, "uploadProductImage", {"id": product["id"]}, job=job))
    assert uploaded["product_id"] == product["id"]
    fails(run(live, "uploadProductImage", {"id": product["id"]}, job=job), "rejected", 400)  # one image per product
    other = tmp_path / "boots2.jpg"
    other.write_bytes(b"JPEG boots")
    replaced = ok(
        run(
            live,
            "updateProductImage",
            {"id": product["id"], "file": str(other)},
            job=Job(files=[Attachment("boots2.jpg", str(other), "image/jpeg")]),
        )
    )
    got = ok(run(live, "getProductImage", {"id": product["id"]}))
    assert (got["id"], got["name"], got["mime_type"]) == (replaced["id"], "boots2.jpg", "image/jpeg")
    ok(run(live, "deleteProductImage", {"id": product["id"]}))
    fails(run(live, "getProductImage", {"id": product["id"]}), "not_found", 404)

    copy = ok(run(live, "duplicateProduct", {"id": product["id"]}))
    assert copy["id"] != product["id"] and copy["name"] == "Boots (copy)" and copy["prices"][0]["price"] == 80
    ok(run(live, "addProductFollower", {"id": product["id"], "userId": 2}))
    assert [f["follower_user_id"] for f in ok(run(live, "getProductFollowersChangelog", {"id": product["id"]}))] == [2]


def test_person_picture(live, tmp_path):
    person = ok(run(live, "addPerson", {"name": "Pictured"}))
    fails(run(live, "getPersonPicture", {"id": person["id"]}), "not_found", 404)
    image = tmp_path / "face.png"
    image.write_bytes(b"\x89PNG face")
    job = Job(files=[Attachment("face.png", str(image), "image/png")])
    added = ok(
        run(
            live,
            "addPersonPicture",
            {"id": person["id"], "cropX": 0, "cropY": 0, "cropWidth": 64, "cropHeight": 64},
            job=job,
        )
    )
    got = ok(run(live, "getPersonPicture", {"id": person["id"]}))
    assert (
        got["id"] == added["id"] and got["file_size"] == len(b"\x89PNG face") and set(got["pictures"]) == {"128", "512"}
    )


def test_archived_leads_and_lead_users(live):
    kept = ok(run(live, "addLead", {"title": "Keep", "personId": 1}))
    gone = ok(run(live, "addLead", {"title": "Archive", "personId": 2}))
    ok(run(live, "updateLead", {"id": gone["id"], "isArchived": "true"}))
    assert [lead["id"] for lead in ok(run(live, "getArchivedLeads", {"fetchAll": True}))] == [gone["id"]]
    assert [lead["id"] for lead in ok(run(live, "getLeads", {"fetchAll": True}))] == [kept["id"]]
    assert ok(run(live, "getArchivedLeads", {"personId": 1})) == []
    assert ok(run(live, "getLeadUsers", {"id": kept["id"]})) == [1, 2]


def test_note_comments(live):
    note = ok(run(live, "addNote", {"content": "Quote sent", "dealId": 1}))
    first = ok(run(live, "addNoteComment", {"id": note["id"], "content": "They liked it"}))
    ok(run(live, "addNoteComment", {"id": note["id"], "content": "Follow up Monday"}))
    changed = ok(
        run(live, "updateNoteComment", {"id": note["id"], "commentId": first["uuid"], "content": "They loved it"})
    )
    assert changed["content"] == "They loved it"
    assert ok(run(live, "getNoteComment", {"id": note["id"], "commentId": first["uuid"]}))["content"] == "They loved it"
    listed = ok(run(live, "getNoteComments", {"id": note["id"], "fetchAll": True}))
    assert [c["content"] for c in listed] == ["They loved it", "Follow up Monday"]
    assert ok(run(live, "deleteNoteComment", {"id": note["id"], "commentId": first["uuid"]})) is True
    fails(run(live, "getNoteComment", {"id": note["id"], "commentId": first["uuid"]}), "not_found", 404)


# ---- find, upsert, search everything, customer events (behaviour in test_upserts.py and test_events.py) -------------
def test_find_upsert_and_item_search(live):
    org = ok(run(live, "upsertOrganization", {"matchBy": "name", "record": {"name": "Upsert Org"}}))["record"]
    assert (
        ok(run(live, "findOrganization", {"matchBy": "name", "matchValue": "Upsert Org"}))["record"]["id"] == org["id"]
    )
    person = {"name": "Upsert Person", "emails": ["up@example.org"], "orgId": org["id"]}
    person_id = ok(run(live, "upsertPerson", {"matchBy": "email", "record": person}))["record"]["id"]
    assert (
        ok(run(live, "findPerson", {"matchBy": "email", "matchValue": "UP@example.org"}))["record"]["id"] == person_id
    )
    deal = {"title": "Upsert Deal", "orgId": org["id"]}
    deal_id = ok(run(live, "upsertDeal", {"matchBy": "title", "record": deal}))["record"]["id"]
    assert ok(run(live, "findDeal", {"matchBy": "title", "matchValue": "Upsert Deal"}))["record"]["id"] == deal_id
    product = {"name": "Upsert Product", "code": "UP-1"}
    product_id = ok(run(live, "upsertProduct", {"matchBy": "code", "record": product}))["record"]["id"]
    assert ok(run(live, "findProduct", {"matchBy": "code", "matchValue": "UP-1"}))["record"]["id"] == product_id
    lead = ok(run(live, "upsertLead", {"matchBy": "title", "record": {"title": "Upsert Lead", "personId": person_id}}))
    assert lead["action"] == "created"
    hits = ok(run(live, "searchItem", {"term": "Upsert", "itemTypes": "deal,product"}))["items"]
    assert {(h["item"]["type"], h["item"]["id"]) for h in hits} == {("deal", deal_id), ("product", product_id)}
    by_field = ok(run(live, "searchItemByField", {"term": "UP-1", "entityType": "product", "field": "code"}))
    assert [hit["id"] for hit in by_field] == [product_id]
    event = {"type": "identify", "userId": "u-1", "traits": {"email": "up@example.org"}}
    handled = ok(run(live, "handleEvent", {"event": event, "mapping": {"personTraits": {"email": "emails"}}}))
    assert handled["person"]["record"]["id"] == person_id


# ---- the registry --------------------------------------------------------------------------------------------------


def exercised_keys() -> set[str]:
    """The action keys this module (and its siblings test_resources_*.py) pass to `run()`: a literal key, or,
    where the key is a variable (a loop over cases), every string literal of the function that makes that call."""
    here = Path(__file__)
    trees = [ast.parse(f.read_text(encoding="utf-8")) for f in (here, *sorted(here.parent.glob("test_resources_*.py")))]
    keys: set[str] = set()
    for function in (n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for call in (n for n in ast.walk(function) if isinstance(n, ast.Call)):
            if not (isinstance(call.func, ast.Name) and call.func.id == "run" and len(call.args) >= 2):
                continue
            key = call.args[1]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.add(key.value)
            else:
                keys |= {
                    c.value for c in ast.walk(function) if isinstance(c, ast.Constant) and isinstance(c.value, str)
                }
    return keys


def test_webhooks(live):
    assert ok(run(live, "getWebhooks")) == []
    hook = ok(
        run(
            live,
            "addWebhook",
            {
                "subscriptionUrl": "http://127.0.0.1:9/pipedrive/events",
                "eventAction": "change",
                "eventObject": "Deal",
                "name": "Deal changes",
                "httpAuthUser": "hooks",
                "httpAuthPassword": "s3cret",
            },
        )
    )
    assert (hook["event_action"], hook["event_object"], hook["version"]) == ("change", "deal", "2.0")
    assert ids(ok(run(live, "getWebhooks"))) == [hook["id"]]
    public = {"subscriptionUrl": "https://example.com/h", "eventAction": "create", "eventObject": "deal", "name": "x"}
    assert "127.0.0.1" in fails(run(live, "addWebhook", public), "rejected", 400).message  # loopback only
    ok(run(live, "deleteWebhook", {"id": hook["id"]}))
    assert ok(run(live, "getWebhooks")) == []
    fails(run(live, "deleteWebhook", {"id": hook["id"]}), "not_found", 404)


def test_every_action_is_exercised():
    """Every non-removed action is run by a test of this module or a sibling, or is excluded with a reason."""
    bundle = Bundle.load()
    groups: dict[str, set[str]] = defaultdict(set)
    for key, action in bundle.actions.items():
        if not action.removed:
            groups[action.resource].add(key)
    live_keys = set().union(*groups.values())
    assert not set(EXCLUDED) - live_keys, "EXCLUDED names actions that do not exist or are removed"
    assert all(reason.strip() for reason in EXCLUDED.values())
    exercised = exercised_keys() & live_keys
    missing = sorted(live_keys - exercised - set(EXCLUDED))
    assert not missing, f"actions no test exercises: {missing}"
    assert not exercised & set(EXCLUDED), "an excluded action is exercised: drop it from EXCLUDED"
    untested_groups = sorted(g for g, keys in groups.items() if not keys & exercised)
    assert not untested_groups
