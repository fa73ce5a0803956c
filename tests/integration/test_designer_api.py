"""The designer's HTTP API (docs/designer.md), every endpoint with good and bad input, on a runtime connected
to the sandbox over loopback (Werkzeug's test client calls the WSGI app; the browser tests serve it)."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from pipedrive_connect.designer.service import MAX_BODY, Designer, Settings
from pipedrive_connect.files import FileRoots

from ..conftest import SANDBOX_TOKEN

REGION = "5f2c8a1e9b3d4c7a8e6f1a2b3c4d5e6f7a8b9c0d"  # the sample data's custom deal field "Region"


@pytest.fixture
def api(live):
    return Client(Designer(live))


def post(api, path, body, **kw):
    response = api.post(path, data=json.dumps(body), content_type="application/json", **kw)
    assert SANDBOX_TOKEN not in response.get_data(as_text=True)  # the credentials never reach the browser
    return response


def sent(sandbox, method, path):
    return [r for r in sandbox.request_log if r["method"] == method and r["path"] == path]


# ---- the catalog and the wizard ------------------------------------------------------------------
def test_catalog_is_grouped_by_resource_and_filterable(api, bundle):
    everything = api.get("/api/actions").json
    live_actions = [a for a in bundle.actions.values() if not a.removed]
    assert len(everything["actions"]) == len(live_actions) and "channels" not in everything["resources"]
    assert set(everything["actions"][0]) >= {"key", "label", "description", "resource", "api_version", "method"}
    deals = api.get("/api/actions?resource=deals").json
    assert deals["resources"] == ["deals"] and {a["resource"] for a in deals["actions"]} == {"deals"}
    add_deal = next(a for a in deals["actions"] if a["key"] == "addDeal")
    assert (add_deal["method"], add_deal["path"], add_deal["token_cost"]) == ("POST", "/deals", 5)
    wrong = api.get("/api/actions?resource=dealz")
    assert wrong.status_code == 400 and "choose from" in wrong.json["error"]["message"]


def test_wizard_says_how_to_show_each_input_and_what_the_step_gives(api):
    wizard = api.get("/api/actions/addDeal").json
    fields = {f["name"]: f for f in wizard["fields"]}
    assert list(fields)[:2] == ["title", "value"]  # the schema's order is the form's order
    assert fields["title"]["required"] and not fields["value"]["required"]
    assert fields["stageId"]["picklist"] == {
        "key": "selectStage",
        "searchable": False,
        "fixed": {},
        "depends_on": ["pipelineId"],
    }
    assert fields["personId"]["picklist"]["searchable"] and fields["personId"]["picklist"]["depends_on"] == []
    assert {"value": 3, "label": "Entire company"} in fields["visibleTo"]["choices"]
    assert fields["debugRequest"]["option"] and not fields["title"]["option"]
    assert "addTime" in fields and "API v2" in fields["addTime"]["dropped"]
    assert wizard["schema"]["properties"]["title"]["type"] == "string"
    record = wizard["output"]["schema"]
    assert record["type"] == "object" and {"id", "title", REGION} <= set(record["properties"])
    listing = api.get("/api/actions/getDeals").json
    list_fields = {f["name"]: f for f in listing["fields"]}
    assert listing["output"]["schema"]["type"] == "array"
    assert list_fields["filterId"]["picklist"]["fixed"] == {"filterType": "deals"}  # saved filters of deals only
    assert list_fields["ownerId"]["formerly"] == "userId"
    assert list_fields["customFieldNames"]["option"]


def test_every_filter_input_of_a_list_action_offers_its_saved_filters(bundle):
    types = {"deals", "leads", "org", "people", "products", "activity", "projects"}
    for action in bundle.actions.values():
        prop = {} if action.removed else action.schema["properties"].get("filterId")
        if prop:
            assert prop["x-datasource"] == "selectFilter", action.key
            assert prop["x-datasource-params"]["filterType"] in types, action.key


def test_removed_and_unknown_actions(api):
    removed = api.get("/api/actions/addChannel")
    assert removed.status_code == 200 and "instead" in removed.json["removed"]
    assert "no longer available" in removed.json["message"] and "fields" not in removed.json
    refused = post(api, "/api/run", {"action": "addChannel", "inputs": {}})
    assert refused.status_code == 410 and refused.json["error"]["type"] == "removed"
    assert "Use instead" in refused.json["error"]["message"]
    unknown = api.get("/api/actions/addDael")
    assert unknown.status_code == 404 and "did you mean addDeal" in unknown.json["error"]["message"]


# ---- picklists -----------------------------------------------------------------------------------
def test_picklists_are_listed(api, bundle):
    listed = api.get("/api/picklists").json["picklists"]
    assert {p["key"] for p in listed} == set(bundle.datasources)
    stage = next(p for p in listed if p["key"] == "selectStage")
    assert stage["params"] == ["pipelineId"]


def test_dependent_dropdown_resolves_against_the_form_values(api, live):
    partners = live.run("addPipeline", inputs={"name": "Partners"}).result
    live.run("addStage", inputs={"name": "Lead in", "pipelineId": partners["id"]})
    every = post(api, "/api/picklists/selectStage", {"values": {}}).json["options"]
    assert "Partners › Lead in" in [o["label"] for o in every] and "New business › Lead in" in [
        o["label"] for o in every
    ]
    chosen = post(api, "/api/picklists/selectStage", {"values": {"pipelineId": partners["id"], "title": "x"}}).json
    assert [o["label"] for o in chosen["options"]] == ["Partners › Lead in"] and chosen["next_cursor"] is None
    templated = post(api, "/api/picklists/selectStage", {"values": {"pipelineId": "{{ job.data.p }}"}}).json
    assert len(templated["options"]) == len(every)  # a template is chosen per job: not a filter here


def test_person_labels_search_and_load_more(api):
    first = post(api, "/api/picklists/selectPerson", {"limit": 1}).json
    assert first["options"] == [{"key": 1, "label": "Maria Anders <maria@northwind.example>"}] and first["next_cursor"]
    second = post(api, "/api/picklists/selectPerson", {"limit": 1, "cursor": first["next_cursor"]}).json
    assert second["options"] == [{"key": 2, "label": "Ana Trujillo"}]  # no e-mail: no empty brackets
    found = post(api, "/api/picklists/selectPerson", {"search": "maria"}).json["options"]
    assert found == [{"key": 1, "label": "Maria Anders <maria@northwind.example>"}]


@pytest.mark.parametrize(
    "body,status,says",
    [
        ({"values": [1]}, 400, "'values' must be a JSON object"),
        ({"search": 5}, 400, "'search' must be a string"),
        ({"limit": 0}, 400, "'limit'"),
        ({"filter": "x"}, 400, "unknown key 'filter'"),
    ],
)
def test_picklist_refuses_bad_bodies(api, body, status, says):
    response = post(api, "/api/picklists/selectPerson", body)
    assert response.status_code == status and says in response.json["error"]["message"]


def test_unknown_picklist(api):
    response = post(api, "/api/picklists/selectPersn", {})
    assert response.status_code == 404 and "GET /api/picklists" in response.json["error"]["message"]


# ---- preview and run -----------------------------------------------------------------------------
def test_preview_shows_the_exact_request_without_sending_it(api, sandbox):
    body = {
        "action": "addDeal",
        "inputs": {
            "title": "Order {{ job.data.order }}",
            "value": "12.50",
            "stageId": "2",
            "customFields": {"Region": "EMEA"},
        },
        "job": {"data": {"order": 7001}},
    }
    preview = post(api, "/api/preview", body).json
    assert preview["request"] == {
        "method": "POST",
        "url": f"{sandbox.base_url}/api/v2/deals",
        "query": {},
        "headers": {"x-api-token": "***"},
        "json": {"title": "Order 7001", "value": 12.5, "stage_id": 2, "custom_fields": {REGION: 11}},
    }
    assert preview["token_cost"] == 5 and preview["lookups"] == {"api_calls": 1, "token_cost": 10}  # the field list
    assert not sent(sandbox, "POST", "/api/v2/deals")


def test_preview_of_a_list_with_its_query_and_old_names(api, sandbox):
    preview = post(
        api, "/api/preview", {"action": "getDeals", "inputs": {"userId": 1, "status": "Open", "fetchAll": True}}
    ).json
    assert (
        preview["request"]["url"] == f"{sandbox.base_url}/api/v2/deals?owner_id=1&status=open&limit=500"
    )  # the first page
    assert preview["token_cost"] == 10 and preview["token_cost_per_page"]
    assert any("'userId' is deprecated" in w for w in preview["warnings"])
    assert not sent(sandbox, "GET", "/api/v2/deals")


def test_preview_of_actions_with_handlers(live, sandbox, tmp_path):
    """Uploads and raw requests are previewed from the request their code would send."""
    attachment = tmp_path / "files" / "order.pdf"
    attachment.parent.mkdir()
    attachment.write_bytes(b"%PDF-1.4 order")
    api = Client(Designer(live, Settings(file_roots=FileRoots([attachment.parent]))))
    upload = post(
        api,
        "/api/preview",
        {"action": "addFile", "inputs": {"file": str(attachment), "entityType": "deal", "entityId": 1}},
    ).json
    assert (
        upload["request"]["form"] == {"deal_id": 1} and upload["request"]["files"]["file"]["file_name"] == "order.pdf"
    )
    raw = post(
        api, "/api/preview", {"action": "rawRequest", "inputs": {"method": "GET", "url": "/api/v1/users/me"}}
    ).json
    assert raw["request"]["url"] == f"{sandbox.base_url}/api/v1/users/me" and raw["token_cost"] == 2
    outside = post(
        api,
        "/api/preview",
        {"action": "addFile", "inputs": {"file": "/etc/hostname", "entityType": "deal", "entityId": 1}},
    )
    assert outside.status_code == 422 and outside.json["error"]["input"] == "file"
    assert not sent(sandbox, "POST", "/api/v1/files")


def test_job_files_are_refused_unless_a_folder_is_allowed(api):
    response = post(
        api,
        "/api/run",
        {
            "action": "addFile",
            "inputs": {"entityType": "deal", "entityId": 1},
            "job": {"files": [{"path": "/etc/hostname"}]},
        },
    )
    assert response.status_code == 400 and "outside the folders" in response.json["error"]["message"]


def test_preview_refuses_bad_input_naming_it(api):
    response = post(api, "/api/preview", {"action": "addDeal", "inputs": {"title": "x", "titel": "x"}})
    error = response.json["error"]
    assert response.status_code == 422 and error["type"] == "input" and error["input"] == "titel"
    assert "did you mean 'title'" in error["message"]


def test_run_gives_the_routed_outcome(api, sandbox):
    done = post(api, "/api/run", {"action": "addOrganization", "inputs": {"name": "Fjord Bikes AS"}}).json
    assert done["route"] == "success" and done["result"]["name"] == "Fjord Bikes AS"
    assert (done["api_calls"], done["token_cost"], done["log"]) == (1, 5, [])
    missing = post(api, "/api/run", {"action": "getDeal", "inputs": {"id": 9999}})
    assert missing.status_code == 200 and missing.json["route"] == "error"  # the job's error route, not the API's
    assert missing.json["error"]["type"] == "not_found"


def test_custom_fields_by_name_in_results(api):
    raw = post(api, "/api/run", {"action": "getDeal", "inputs": {"id": 1}}).json["result"]
    assert raw["custom_fields"] == {REGION: 11}
    named = post(api, "/api/run", {"action": "getDeal", "inputs": {"id": 1, "customFieldNames": True}}).json
    assert named["result"]["custom_fields"] == {"Region": "EMEA"} and named["result"]["title"] == "Northwind rollout"
    listed = post(api, "/api/run", {"action": "getDeals", "inputs": {"customFieldNames": "yes"}}).json["result"]
    assert {"Region": "EMEA"} in [d["custom_fields"] for d in listed]
    found = post(api, "/api/run", {"action": "addOrganization", "inputs": {"name": "x", "customFieldNames": True}}).json
    assert found["route"] == "error" and found["error"]["input"] == "customFieldNames"  # only reads offer it


@pytest.mark.parametrize(
    "body,status,says",
    [
        ({"inputs": {}}, 400, "'action' must name an action"),
        ({"action": "addDeal", "inputs": "title=x"}, 400, "'inputs' must be a JSON object"),
        ({"action": "addDeal", "input": {}}, 400, "unknown key 'input'"),
        ({"action": "addDeal", "job": {"dat": {}}}, 400, "unknown job keys: dat"),
        ({"action": "nope"}, 404, "unknown action"),
    ],
)
def test_step_endpoints_refuse_bad_bodies(api, body, status, says):
    for path in ("/api/preview", "/api/run"):
        response = post(api, path, body)
        assert response.status_code == status and says in response.json["error"]["message"], path


# ---- flows ---------------------------------------------------------------------------------------
FLOW = {
    "name": "Order to deal",
    "steps": [
        {"id": "org", "action": "addOrganization", "inputs": {"name": "{{ job.data.company }}"}},
        {"id": "deal", "action": "addDeal", "inputs": {"title": "Order", "orgId": "{{ steps.org.result.id }}"}},
    ],
}


def test_validate_returns_problems_and_the_yaml_watch_runs(api, tmp_path, live):
    good = post(api, "/api/flows/validate", {"flow": FLOW}).json
    assert good["ok"] and good["problems"] == []
    saved = tmp_path / "flow.yaml"
    saved.write_text(good["yaml"], encoding="utf-8")
    from pipedrive_connect.flows import Flow

    assert [s.id for s in Flow.load(saved, live).steps] == ["org", "deal"]
    loaded = post(api, "/api/flows/validate", {"flow": good["yaml"]}).json
    assert loaded["flow"] == FLOW  # a YAML file the page uploads comes back as the flow it holds
    bad = post(api, "/api/flows/validate", {"flow": {"steps": [{"action": "addDeal", "inputs": {"titel": "x"}}]}}).json
    assert not bad["ok"] and "unknown input; did you mean 'title'?" in bad["problems"][0]


@pytest.mark.parametrize(
    "flow,says",
    [("steps: [unclosed", "not valid YAML"), (42, "'flow' must be a flow"), (None, "'flow' must be a flow")],
)
def test_validate_refuses_what_is_not_a_flow(api, flow, says):
    response = post(api, "/api/flows/validate", {"flow": flow})
    assert response.status_code == 400 and says in response.json["error"]["message"]


# ---- triggers ------------------------------------------------------------------------------------
def test_triggers_list_the_events_and_what_each_filter_takes(api):
    offered = api.get("/api/triggers").json
    objects = [o["key"] for o in offered["objects"]]
    assert {"deal", "person", "organization", "activity", "product", "lead", "note", "*"} <= set(objects)
    assert [a["key"] for a in offered["actions"]] == ["create", "change", "delete", "*"]
    kinds = {f["key"]: f for f in offered["filters"]}
    assert set(kinds) == {"stage_changed_to", "status_changed_to", "changed_to", "changed", "where"}
    stage = kinds["stage_changed_to"]
    assert stage["takes"] == "stage" and stage["picklist"]["key"] == "selectStage"
    assert stage["objects"] == ["deal", "*"] and stage["actions"] == ["change", "*"]
    assert [c["value"] for c in kinds["status_changed_to"]["choices"]] == ["open", "won", "lost", "deleted"]
    assert kinds["where"]["takes"] == "field_value" and "create" in kinds["where"]["actions"]
    assert "create" not in kinds["changed"]["actions"] and "person" in kinds["changed"]["objects"]
    # the stage dropdown the page shows is the picklist's, read live
    options = post(api, "/api/picklists/selectStage", {"values": stage["picklist"]["fixed"], "limit": 500}).json
    assert "New business › Contract sent" in [o["label"] for o in options["options"]]


def test_an_event_job_offers_the_records_fields_previous_values_and_meta(api):
    deal = api.get("/api/triggers/deal").json
    assert {"job.data.data.id", "job.data.data.stage_id", "job.data.previous.stage_id", "job.data.meta.user_id"} <= set(
        deal["paths"]
    )
    assert f"job.data.data.custom_fields['{REGION}']" in deal["paths"]  # read live from the deal field list
    assert "job.data.previous.id" not in deal["paths"]  # previous holds only what changed
    sample = deal["sample"]
    assert sample["meta"]["entity"] == "deal" and REGION in sample["data"]["custom_fields"]
    done = post(api, "/api/flows/run", {"flow": TRIGGER_FLOW, "job": {"data": sample}}).json  # a test job as is
    assert done["route"] == "success" and done["steps"][0]["result"]["deal_id"] == sample["data"]["id"]
    assert api.get("/api/triggers/*").json["paths"][0] == "job.data.data.id"
    wrong = api.get("/api/triggers/dael")
    assert wrong.status_code == 404 and "choose from activity, deal" in wrong.json["error"]["message"]


TRIGGER_FLOW = {
    "name": "Deal reached Contract sent",
    "trigger": {"event": "change.deal", "filter": {"stage_changed_to": 3}},
    "steps": [{"id": "note", "action": "addNote", "inputs": {"content": "Sent", "dealId": "{{ job.data.data.id }}"}}],
}


def test_validate_and_save_keep_a_good_trigger(api, tmp_path, live):
    from pipedrive_connect.flows import Flow

    good = post(api, "/api/flows/validate", {"flow": TRIGGER_FLOW}).json
    assert good["ok"] and good["flow"]["trigger"] == TRIGGER_FLOW["trigger"]
    saved = tmp_path / "flow.yaml"
    saved.write_text(good["yaml"], encoding="utf-8")
    flow = Flow.load(saved, live)
    assert flow.trigger is not None and flow.trigger.events == ["change.deal"]
    assert flow.trigger.conditions() == {"stage_id": 3}
    assert post(api, "/api/flows/validate", {"flow": good["yaml"]}).json["flow"] == TRIGGER_FLOW


@pytest.mark.parametrize(
    "trigger,says",
    [
        ({"event": "change.dael"}, "trigger: event 'change.dael' is not ACTION.OBJECT"),
        ({"event": "create.deal", "filter": {"stage_changed_to": 3}}, "needs a change event"),
        ({"event": "change.person", "filter": {"status_changed_to": "won"}}, "are about deals"),
        (
            {"event": "change.deal", "filter": {"stage_changed_to": None}},
            "filter stage_changed_to: None is not a stage",
        ),
        ({"event": "change.deal", "filter": {"status_changed_to": "closed"}}, "is not one of open, won, lost"),
        ({"event": "change.deal", "filter": {"stage_change_to": 3}}, "did you mean 'stage_changed_to'?"),
        ({"filter": {}}, "'event' is a required property"),
    ],
)
def test_validate_names_what_is_wrong_with_a_trigger(api, trigger, says):
    checked = post(api, "/api/flows/validate", {"flow": {**TRIGGER_FLOW, "trigger": trigger}}).json
    assert not checked["ok"] and any(says in p for p in checked["problems"]), checked["problems"]
    refused = post(api, "/api/flows/run", {"flow": {**TRIGGER_FLOW, "trigger": trigger}, "job": {}})
    assert refused.status_code == 422 and refused.json["error"]["type"] == "invalid_flow"


def test_flow_run_reports_each_step(api):
    done = post(api, "/api/flows/run", {"flow": FLOW, "job": {"data": {"company": "Fjord Bikes AS"}}}).json
    assert done["route"] == "success" and [s["status"] for s in done["steps"]] == ["success", "success"]
    assert done["steps"][1]["result"]["org_id"] == done["steps"][0]["result"]["id"]
    failed = post(api, "/api/flows/run", {"flow": FLOW, "job": {"data": {}}}).json
    assert failed["route"] == "error" and [s["status"] for s in failed["steps"]] == ["error", "not run"]
    assert failed["steps"][0]["error"]["type"] == "input"


def test_flow_run_refuses_a_broken_flow(api):
    response = post(api, "/api/flows/run", {"flow": {"steps": [{"action": "addDael"}]}})
    assert response.status_code == 422 and "did you mean addDeal" in response.json["error"]["problems"][0]


def test_flow_level_custom_field_names(api):
    flow = {"customFieldNames": True, "steps": [{"id": "deal", "action": "getDeal", "inputs": {"id": 1}}]}
    done = post(api, "/api/flows/run", {"flow": flow}).json
    assert done["steps"][0]["result"]["custom_fields"] == {"Region": "EMEA"}
    flow["steps"][0]["inputs"]["customFieldNames"] = False  # a step may still say otherwise
    assert post(api, "/api/flows/run", {"flow": flow}).json["steps"][0]["result"]["custom_fields"] == {REGION: 11}


# ---- the HTTP contract: bad requests, security -----------------------------------------------------
def test_bad_requests_are_refused_clearly(api):
    not_json = api.post("/api/run", data="{nope", content_type="application/json")
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json["error"]["message"]
    a_list = api.post("/api/run", data="[1]", content_type="application/json")
    assert a_list.status_code == 400 and "JSON object" in a_list.json["error"]["message"]
    form = api.post("/api/run", data={"action": "addDeal"})
    assert form.status_code == 415  # a page elsewhere cannot send JSON here without a preflight
    huge = api.post("/api/run", data="x" * (MAX_BODY + 1), content_type="application/json")
    assert huge.status_code == 413 and huge.is_json and "bytes" in huge.json["error"]["message"]
    wrong_method = api.get("/api/run")
    assert wrong_method.status_code == 405 and "use POST" in wrong_method.json["error"]["message"]
    nowhere = api.get("/api/nothing")
    assert nowhere.status_code == 404 and nowhere.is_json
    assert api.get("/static/../service.py").status_code == 404 and api.get("/static/service.py").status_code == 404


def test_the_page_and_its_files(api):
    page = api.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html" and b"designer.js" in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert api.get("/static/designer.js").mimetype == "text/javascript"
    assert api.get("/static/designer.css").mimetype == "text/css"


def test_loopback_service_refuses_other_hosts_and_origins(api):
    rebound = api.get("/api/actions", headers={"Host": "evil.example:8080"})
    assert rebound.status_code == 403
    cross = post(api, "/api/run", {"action": "getDeals"}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    same = post(api, "/api/preview", {"action": "getDeals"}, headers={"Origin": "http://localhost"})
    assert same.status_code == 200


def test_auth_token(live):
    with pytest.raises(ValueError, match="needs --auth-token"):
        Designer(live, Settings(host="0.0.0.0"))
    api = Client(Designer(live, Settings(host="0.0.0.0", auth_token="s3cret-designer")))
    assert api.get("/").status_code == 200  # the page holds no secret; it asks for the token
    missing = api.get("/api/actions")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/actions", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.get("/api/actions", headers={"Authorization": "Bearer s3cret-designer"}).status_code == 200
