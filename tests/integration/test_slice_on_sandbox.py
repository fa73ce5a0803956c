"""The first slice of actions and the record picklists, over loopback HTTP against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipedrive_connect.jobs import Attachment, Job
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.sandbox import Sandbox

from .conftest import FAST_RETRY, SAMPLE_DATA, SANDBOX_TOKEN, connect


def ok(outcome):
    assert outcome.route == "success", outcome.error and outcome.error.to_dict()
    return outcome.result


def test_create_read_update_delete_a_deal(live):
    org = ok(live.run("addOrganization", Job(), {"name": "Acme Corp"}))
    person = ok(
        live.run("addPerson", Job(), {"name": "Jane Roe", "emails": "jane@acme.example", "orgId": str(org["id"])})
    )
    assert person["emails"][0] == {
        "value": "jane@acme.example",
        "primary": True,
        "label": person["emails"][0].get("label"),
    }
    deal = ok(
        live.run(
            "addDeal",
            Job(),
            {
                "title": "Order 1",
                "value": "120.5",
                "currency": "EUR",
                "orgId": str(org["id"]),
                "personId": str(person["id"]),
            },
        )
    )
    assert (deal["org_id"], deal["person_id"], deal["value"]) == (org["id"], person["id"], 120.5)
    assert ok(live.run("getDeal", Job(), {"id": deal["id"]}))["title"] == "Order 1"
    updated = ok(live.run("updateDeal", Job(), {"id": deal["id"], "status": "won", "title": ""}))
    assert updated["status"] == "won" and updated["title"] == "Order 1"  # empty input = unchanged
    ok(live.run("deleteDeal", Job(), {"id": deal["id"]}))
    gone = live.run("getDeal", Job(), {"id": deal["id"]})
    assert gone.route == "error" and gone.error.kind == "not_found" and gone.error.status == 404


def test_fetch_all_walks_every_page_with_the_largest_page(bundle, tmp_path):
    with Sandbox(token=SANDBOX_TOKEN, generate={"deals": 1203}, seed=3) as sb:
        runtime = Runtime(bundle, connect(sb), out_dir=tmp_path, retry=FAST_RETRY)
        before = len(sb.request_log)
        outcome = runtime.run("getDeals", Job(), {"fetchAll": "true"})
        deals = ok(outcome)
        calls = sb.request_log[before:]
    assert len(deals) == len({d["id"] for d in deals}) >= 1203
    assert len(calls) == outcome.calls == -(-len(deals) // 500)
    assert all(c["query"]["limit"] == "500" for c in calls)
    assert outcome.cost == 10 * len(calls)


def test_fetch_all_respects_max_items(live):
    deals = ok(live.run("getDeals", Job(), {"fetchAll": True, "maxItems": "2"}))
    assert len(deals) == 2


def test_one_page_returns_the_next_cursor(live):
    outcome = live.run("getDeals", Job(), {"limit": 1})
    assert len(ok(outcome)) == 1
    cursor = outcome.job.steps["getDeals"]["additional_data"]["next_cursor"]
    second = ok(live.run("getDeals", Job(), {"limit": 1, "cursor": cursor}))
    assert second[0]["id"] != outcome.result[0]["id"]


def test_search_deals(live):
    ok(live.run("addDeal", Job(), {"title": "Zebra crossing contract"}))
    found = ok(live.run("searchDeals", Job(), {"term": "Zebra"}))
    assert [hit["item"]["title"] for hit in found["items"]] == ["Zebra crossing contract"]


def test_merge_persons_keeps_the_merge_with_record(live):
    keep = ok(live.run("addPerson", Job(), {"name": "Kept Person", "emails": "kept@x.example"}))
    drop = ok(live.run("addPerson", Job(), {"name": "Dropped Person", "phones": "+1 555"}))
    ok(live.run("addNote", Job(), {"content": "note on the dropped one", "personId": drop["id"]}))
    merged = ok(live.run("mergePersons", Job(), {"id": str(drop["id"]), "mergeWithId": str(keep["id"])}))
    assert merged["id"] == keep["id"] and merged["name"] == "Kept Person"
    assert live.run("getPerson", Job(), {"id": drop["id"]}).error.kind == "not_found"
    notes = ok(live.run("rawRequest", Job(), {"method": "GET", "url": f"/api/v1/notes?person_id={keep['id']}"}))
    assert [n["content"] for n in notes["data"]] == ["note on the dropped one"]


def test_file_upload_and_download_round_trip_with_non_ascii_name(live, tmp_path):
    deal = ok(live.run("addDeal", Job(), {"title": "Files"}))
    source = tmp_path / "Angebot Größe ½.pdf"
    source.write_bytes(b"%PDF-1.4 \x00\xff binary body")
    job = Job(id="files-job", files=[Attachment(source.name, str(source), "application/pdf")])
    uploaded = ok(live.run("addFile", job, {"entityType": "deal", "entityId": str(deal["id"])}))
    assert uploaded["name"] == "Angebot Größe ½.pdf" and uploaded["deal_id"] == deal["id"]
    outcome = live.run("downloadFile", job, {"id": uploaded["id"]})
    result = ok(outcome)
    assert result["name"] == "Angebot Größe ½.pdf" and result["size"] == source.stat().st_size
    [logged] = outcome.logs
    assert logged.kind == "file" and Path(logged.path).read_bytes() == source.read_bytes()
    assert Path(logged.path).name == "Angebot Größe ½.pdf"


@pytest.mark.parametrize(
    "key,search,expect",
    [
        ("selectDeal", None, "Northwind rollout - open"),
        ("selectOrganization", None, "Contoso Ltd"),
        ("selectPerson", "Maria", "Maria Anders <maria@northwind.example>"),
        ("selectDeal", "Contoso", "Contoso pilot - open"),
    ],
)
def test_record_picklists(bundle, tmp_path, key, search, expect):
    with Sandbox(token=SANDBOX_TOKEN, data=SAMPLE_DATA) as sb:
        runtime = Runtime(bundle, connect(sb), out_dir=tmp_path)
        page = runtime.picklist(key, search=search)
        assert expect in [o["label"] for o in page.options]
        assert all(set(o) == {"key", "label"} and isinstance(o["key"], int) for o in page.options)
        calls = len(sb.request_log)
        again = runtime.picklist(key, search=search)
        assert again.options == page.options and len(sb.request_log) == calls  # served from the cache


def test_picklist_pages(bundle, tmp_path):
    with Sandbox(token=SANDBOX_TOKEN, generate={"persons": 30}, seed=1) as sb:
        runtime = Runtime(bundle, connect(sb), out_dir=tmp_path)
        first = runtime.picklist("selectPerson", limit=10)
        second = runtime.picklist("selectPerson", limit=10, cursor=first.next_cursor)
    assert len(first.options) == len(second.options) == 10 and first.next_cursor
    assert not {o["key"] for o in first.options} & {o["key"] for o in second.options}


def test_raw_request_binary_goes_to_log(live, tmp_path):
    deal = ok(live.run("addDeal", Job(), {"title": "Raw"}))
    source = tmp_path / "raw.txt"
    source.write_text("raw upload")
    uploaded = ok(
        live.run(
            "rawRequest",
            Job(),
            {
                "method": "POST",
                "url": "/api/v1/files",
                "fileData": {"file": str(source)},
                "formData": {"deal_id": deal["id"]},
            },
        )
    )
    outcome = live.run(
        "rawRequest",
        Job(id="rawjob"),
        {"method": "GET", "url": f"/files/{uploaded['data']['id']}/download", "responseType": "binary"},
    )
    assert ok(outcome)["size"] == len("raw upload")
    assert Path(outcome.logs[0].path).read_text() == "raw upload"


def test_wrong_token_is_a_connection_error(sandbox, bundle, tmp_path):
    runtime = Runtime(bundle, connect(sandbox, token="wrong-token-123"), out_dir=tmp_path)
    outcome = runtime.run("getDeal", Job(), {"id": 1})
    assert outcome.route == "error" and outcome.error.kind == "connection" and outcome.error.status == 401
    assert "wrong-token-123" not in repr(outcome.to_dict())


def test_schema_violation_is_rejected_by_the_sandbox(live):
    outcome = live.run(
        "rawRequest", Job(), {"method": "POST", "url": "/api/v2/deals", "data": {"title": "x", "org_id": "12"}}
    )
    assert outcome.route == "error" and outcome.error.kind == "rejected" and outcome.error.status == 400


def test_burst_limit_429_is_waited_out(bundle, tmp_path):
    from pipedrive_connect.limits import RateLimiter

    with Sandbox(token=SANDBOX_TOKEN, data=SAMPLE_DATA, burst_limit=3) as sb:
        # a limiter that believes in a higher limit, so the server's 429 path is exercised
        runtime = Runtime(bundle, connect(sb), out_dir=tmp_path, retry=FAST_RETRY, limiter=RateLimiter(limit=1000))
        runtime.client.limiter.observe = lambda headers, search=False: None
        results = [runtime.run("getDeal", Job(), {"id": 1}) for _ in range(5)]
        statuses = [entry["status"] for entry in sb.request_log]
    assert all(r.route == "success" for r in results)
    assert 429 in statuses


def test_gone_record_is_not_found(live):
    outcome = live.run("rawRequest", Job(), {"method": "GET", "url": "/api/v1/callLogs/does-not-exist"})
    assert outcome.route == "error" and outcome.error.kind == "not_found" and outcome.error.status in (404, 410)


def test_fetch_all_can_stream_to_a_file(bundle, tmp_path):
    import json as _json

    with Sandbox(token=SANDBOX_TOKEN, generate={"deals": 1100}, seed=4) as sb:
        runtime = Runtime(bundle, connect(sb), out_dir=tmp_path, retry=FAST_RETRY)
        outcome = runtime.run(
            "getDeals", Job(id="stream"), {"fetchAll": "yes", "saveToFile": "yes", "maxItems": "1050"}
        )
        calls = len(sb.request_log)
    result = ok(outcome)
    [logged] = outcome.logs
    lines = Path(logged.path).read_text(encoding="utf-8").splitlines()
    assert result["count"] == len(lines) == 1050 and logged.content_type == "application/x-ndjson"
    assert len({_json.loads(line)["id"] for line in lines}) == 1050
    assert calls == 3  # maxItems stops the walk: ceil(1050 / 500) pages


def test_custom_fields_by_name_are_resolved_once_and_typed(live, sandbox):
    first = ok(live.run("addDeal", Job(), {"title": "Regional", "customFields": '{"region": "Americas"}'}))
    second = ok(live.run("updateDeal", Job(), {"id": first["id"], "customFields": {"Region": "EMEA"}}))
    assert first["custom_fields"]["5f2c8a1e9b3d4c7a8e6f1a2b3c4d5e6f7a8b9c0d"] == 12
    assert second["custom_fields"]["5f2c8a1e9b3d4c7a8e6f1a2b3c4d5e6f7a8b9c0d"] == 11
    assert sum(1 for entry in sandbox.request_log if entry["path"] == "/api/v2/dealFields") == 1  # cached


@pytest.mark.parametrize(
    "custom,message",
    [
        ({"Regoin": "EMEA"}, "no deal field has this name or key"),
        ({"Region": "Mars"}, "is not an option of Region: EMEA (11), Americas (12)"),
        ({"Title": "x"}, "is a standard field; use its own input"),
    ],
)
def test_custom_field_mistakes_are_input_errors(live, sandbox, custom, message):
    outcome = live.run("addDeal", Job(), {"title": "x", "customFields": custom})
    assert outcome.route == "error" and outcome.error.kind == "input" and message in outcome.error.message
    assert outcome.error.input_path == f"customFields.{next(iter(custom))}"
    reads = sum(1 for entry in sandbox.request_log if entry["path"] == "/api/v2/dealFields")
    assert reads == (2 if "Regoin" in custom else 1)  # an unknown name re-reads the list once, then fails
    assert not any(entry["path"] == "/api/v2/deals" and entry["method"] == "POST" for entry in sandbox.request_log)
