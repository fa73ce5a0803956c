"""Bad input is refused before anything is sent, naming the input; what is sent is never garbage."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from pipedrive_connect.jobs import Job

from ..conftest import BASE, TOKEN


def refused(runtime, key, inputs, job=None):
    """Run a step that must fail on its input without a single request; return the error."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        outcome = runtime.run(key, job or Job(), inputs)
        assert len(rsps.calls) == 0, "a request was sent"
    assert outcome.route == "error", outcome.result
    assert outcome.error.kind == "input", outcome.error.to_dict()
    return outcome.error


def sent(runtime, key, inputs, method, path, job=None, json=None):
    """Run a step against a mocked endpoint; return the one request it sent and the outcome."""
    with responses.RequestsMock() as rsps:
        rsps.add(method, BASE + path, json=json or {"success": True, "data": {"id": 1}})
        outcome = runtime.run(key, job or Job(), inputs)
        assert outcome.route == "success", outcome.error and outcome.error.to_dict()
        assert len(rsps.calls) == 1
        return rsps.calls[0].request, outcome


def query_of(request) -> dict:
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


# ---- 1. path values cannot change the request path -------------------------------------
@pytest.mark.parametrize(
    "key,name,value",
    [
        ("getCallLog", "id", ".."),
        ("getCallLog", "id", "."),
        ("deleteCallLog", "id", "../../deals/1"),
        ("getCallLog", "id", "a/b"),
        ("getCallLog", "id", "a\\b"),
        ("getCallLog", "id", "%2e%2e"),
        ("getCallLog", "id", "%2E%2e%2Fdeals"),
        ("getCallLog", "id", "%252e%252e"),
        ("getCallLog", "id", "abc\x00"),
        ("getDealField", "id", ".."),
        ("deleteDealField", "id", "%2e"),
        ("getPermissionSet", "id", "../users"),
        ("getPersonFieldDetails", "fieldId", ".."),
    ],
)
def test_path_values_that_would_change_the_path_are_refused(runtime, key, name, value):
    error = refused(runtime, key, {name: value})
    assert error.input_path == name and name in error.message


def test_ordinary_path_values_are_sent_encoded(runtime):
    request, _ = sent(runtime, "getCallLog", {"id": "8a1f.c3 x"}, "GET", "/api/v1/callLogs/8a1f.c3%20x")
    assert urlsplit(request.url).path == "/api/v1/callLogs/8a1f.c3%20x"


# ---- 2. an empty list means "not set" ---------------------------------------------------
@pytest.mark.parametrize(
    "key,inputs,path,absent",
    [
        ("getProducts", {"ids": ","}, "/api/v2/products", "ids"),
        ("getProducts", {"ids": []}, "/api/v2/products", "ids"),
        ("getProducts", {"ids": "[]"}, "/api/v2/products", "ids"),
        ("getDeal", {"id": 1, "includeFields": []}, "/api/v2/deals/1", "include_fields"),
        ("getPersons", {"customFields": " , "}, "/api/v2/persons", "custom_fields"),
    ],
)
def test_empty_list_is_not_sent_as_an_empty_query_value(runtime, key, inputs, path, absent):
    request, _ = sent(runtime, key, inputs, "GET", path, json={"success": True, "data": []})
    assert absent not in query_of(request)


# ---- 7. NaN, infinities and header injection ---------------------------------------------
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", float("nan"), float("inf"), -math.inf])
def test_nan_and_infinities_are_input_errors(runtime, value):
    error = refused(runtime, "addDeal", {"title": "x", "value": value})
    assert error.input_path == "value" and "value" in error.message


def test_nan_inside_a_free_form_body_is_an_input_error(runtime):
    error = refused(
        runtime, "rawRequest", {"method": "POST", "url": "/api/v2/deals", "data": {"title": "x", "value": float("nan")}}
    )
    assert error.input_path == "data.value"


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b"])
def test_header_values_with_line_breaks_are_input_errors(runtime, value):
    error = refused(runtime, "rawRequest", {"method": "GET", "url": "/api/v1/users/me", "headers": {"X-Note": value}})
    assert error.input_path == "headers.X-Note"


@pytest.mark.parametrize("name", [" x-api-token", "X-API-TOKEN ", "\tAuthorization", " Cookie "])
def test_protected_header_names_are_trimmed_and_case_folded(runtime, name):
    request, _ = sent(
        runtime,
        "rawRequest",
        {"method": "GET", "url": "/api/v1/users/me", "headers": {name: "evil", " X-Trace ": "7"}},
        "GET",
        "/api/v1/users/me",
    )
    assert request.headers["x-api-token"] == TOKEN
    assert "evil" not in request.headers.values()
    assert request.headers["X-Trace"] == "7"


# ---- 3. enumerated comma-separated parameters take only the spec's values ----------------
@pytest.mark.parametrize(
    "key,inputs",
    [
        ("getDeal", {"id": 1, "includeFields": "products_count,bogus_count"}),
        ("getPerson", {"id": 1, "includeFields": "open_deals_count, nope"}),
        ("getPersons", {"includeFields": "nope"}),
    ],
)
def test_unknown_values_of_enumerated_lists_are_refused(runtime, key, inputs):
    error = refused(runtime, key, inputs)
    assert error.input_path.startswith("includeFields") and "includeFields" in error.message


def test_enumerated_list_values_are_sent_comma_separated(runtime):
    request, _ = sent(
        runtime,
        "getPerson",
        {"id": 8, "includeFields": ["open_deals_count", "notes_count"]},
        "GET",
        "/api/v2/persons/8",
    )
    assert query_of(request) == {"include_fields": ["open_deals_count,notes_count"]}


# ---- 4. dates and moments are checked -----------------------------------------------------
@pytest.mark.parametrize(
    "key,name,value",
    [
        ("getDeals", "updatedSince", "yesterday"),
        ("getDeals", "updatedSince", "2026-13-45T10:00:00Z"),
        ("getPersons", "updatedUntil", "2026-01-01 10:00"),
        ("getLeads", "updatedSince", "2026-02-30T10:00:00Z"),
        ("getNotes", "updatedSince", "soon"),
        ("getNotes", "startDate", "2026-13-45"),
        ("addOrganization", "addTime", "now"),
        ("addNote", "addTime", "2026-13-45 10:00:00"),
        ("addCallLog", "startTime", "2026-01-01 24:61:00"),
    ],
)
def test_invalid_dates_and_moments_are_input_errors(runtime, key, name, value):
    inputs = {
        "name": "Acme",
        "content": "x",
        "dealId": 1,
        "toPhoneNumber": "+1",
        "outcome": "connected",
        "endTime": "2026-01-01 10:05:00",
        name: value,
    }
    schema_names = runtime.bundle.action(key).schema["properties"]
    error = refused(runtime, key, {k: v for k, v in inputs.items() if k in schema_names})
    assert error.input_path == name and name in error.message


@pytest.mark.parametrize(
    "key,name,value,wire",
    [
        ("getDeals", "updatedSince", "2026-01-01T10:20:00Z", "updated_since"),
        ("getDeals", "updatedSince", "2026-01-01T10:20:00+02:00", "updated_since"),
        ("getNotes", "startDate", "2026-02-28", "start_date"),
    ],
)
def test_valid_dates_and_moments_are_sent_as_given(runtime, key, name, value, wire):
    path = "/api/v2/deals" if key == "getDeals" else "/api/v1/notes"
    request, _ = sent(runtime, key, {name: value}, "GET", path, json={"success": True, "data": []})
    assert query_of(request)[wire] == [value]


def test_date_time_checks_really_run():
    """jsonschema checks "date-time" only when rfc3339-validator is installed: it is a declared dependency."""
    from importlib.metadata import requires

    from pipedrive_connect.bundle import Bundle

    assert any(r.startswith("rfc3339-validator") for r in requires("pipedrive-connect"))
    assert {"date", "date-time", "uuid"} <= set(Bundle.load().action("getDeals").validator.format_checker.checkers)


# ---- 5. addFile: a lead by UUID, every other record by number, said by the schema ----------
@pytest.mark.parametrize(
    "entity_type,entity_id",
    [
        ("lead", "12"),
        ("lead", 12),
        ("lead", "adf21080-0e10-11eb-879b"),
        ("deal", "abc"),
        ("deal", "adf21080-0e10-11eb-879b-05d71fb426ec"),
        ("person", "0"),
        ("organization", "-3"),
        ("product", 0),
        ("activity", "1.5"),
    ],
)
def test_add_file_record_ids_match_the_record_type(runtime, bundle, tmp_path, entity_type, entity_id):
    from pipedrive_connect.inputs import validation_error
    from pipedrive_connect.jobs import Attachment

    inputs = {"entityType": entity_type, "entityId": entity_id}
    assert validation_error(bundle.action("addFile").validator, inputs) is not None  # the schema says so
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF")
    error = refused(runtime, "addFile", inputs, Job(files=[Attachment("a.pdf", str(pdf))]))
    assert error.input_path == "entityId" and "entityId" in error.message


# ---- 6. nested objects have the spec's parts and nothing else ------------------------------
@pytest.mark.parametrize(
    "key,inputs,where",
    [
        ("addOrganization", {"name": "Acme", "address": {"value": "1 Main St", "stret": "Main St"}}, "address"),
        ("updateOrganization", {"id": 7, "address": '{"city": "Springfield"}'}, "address"),
        ("addActivity", {"subject": "Visit", "location": {"town": "Springfield"}}, "location"),
        ("updateFilter", {"id": 4, "conditions": {"glue": "and", "conditions": [], "extra": 1}}, "conditions"),
        (
            "updateFilter",
            {"id": 4, "conditions": {"glue": "and", "conditions": [{"glue": "or", "conditions": [], "x": 1}]}},
            "conditions.conditions.0",
        ),
        (
            "updateFilter",
            {
                "id": 4,
                "conditions": {
                    "glue": "and",
                    "conditions": [
                        {
                            "glue": "or",
                            "conditions": [{"object": "deal", "field_id": "12", "operater": "=", "value": "open"}],
                        }
                    ],
                },
            },
            "conditions.conditions.0.conditions.0",
        ),
    ],
)
def test_nested_objects_refuse_unknown_parts(runtime, key, inputs, where):
    error = refused(runtime, key, inputs)
    assert error.input_path.startswith(where), error.input_path


def test_organization_address_parts_are_sent(runtime):
    address = {
        "value": "Domkloster 4, 50667 Köln",
        "route": "Domkloster",
        "street_number": "4",
        "postal_code": "50667",
        "locality": "Köln",
        "country": "Germany",
    }
    request, _ = sent(runtime, "updateOrganization", {"id": 7, "address": address}, "PATCH", "/api/v2/organizations/7")
    import json

    assert json.loads(request.body) == {"address": address}


# ---- 8. a null from a template means "not set" ------------------------------------------
NULLS = Job(data={"org": None, "reason": None, "title": None, "zip": "0478", "customer": {"name": None}})


def test_a_null_rendered_into_an_optional_input_leaves_it_out(runtime):
    import json

    request, _ = sent(
        runtime,
        "addDeal",
        {
            "title": "Order {{ job.data.reason }}",
            "orgId": "{{ job.data.org }}",
            "lostReason": "{{ job.data.reason }}",
            "personId": "{{ job.data.customer.name }}",
        },
        "POST",
        "/api/v2/deals",
        NULLS,
    )
    assert json.loads(request.body) == {"title": "Order "}


def test_a_null_rendered_into_a_required_input_is_missing(runtime):
    error = refused(runtime, "addDeal", {"title": "{{ job.data.title }}"}, NULLS)
    assert error.input_path == "title" and error.message == "Input 'title' is required"


def test_template_values_stay_text(runtime):
    from pipedrive_connect.inputs import render

    context = NULLS.template_context()
    assert render("{{ job.data.zip }}", context) == "0478"
    assert render("{{ job.data.title }}-{{ job.data.zip }}", context) == "-0478"
    assert render(["{{ job.data.org }}", "a"], context) == ["", "a"]


# ---- 9. enum inputs take their value or label, in any case ----------------------------------
@pytest.mark.parametrize(
    "key,inputs,method,path,field,expected",
    [
        ("addDeal", {"title": "x", "status": "Open"}, "POST", "/api/v2/deals", "status", "open"),
        ("addDeal", {"title": "x", "status": " WON "}, "POST", "/api/v2/deals", "status", "won"),
        ("addDeal", {"title": "x", "visibleTo": "entire company"}, "POST", "/api/v2/deals", "visible_to", 3),
        ("addDeal", {"title": "x", "visibleTo": "Owner and followers"}, "POST", "/api/v2/deals", "visible_to", 1),
        (
            "addLead",
            {"title": "x", "personId": 1, "visibleTo": "Entire Company"},
            "POST",
            "/api/v1/leads",
            "visible_to",
            "3",
        ),
        ("getFiles", {"sort": "last update, newest first"}, "GET", "/api/v1/files", "sort", "update_time DESC"),
        (
            "getDeal",
            {"id": 1, "includeFields": "Products_Count, NOTES_COUNT"},
            "GET",
            "/api/v2/deals/1",
            "include_fields",
            "products_count,notes_count",
        ),
        ("rawRequest", {"method": "get", "url": "/api/v1/users/me"}, "GET", "/api/v1/users/me", None, None),
    ],
)
def test_enum_inputs_take_value_or_label_in_any_case(runtime, key, inputs, method, path, field, expected):
    import json

    request, _ = sent(runtime, key, inputs, method, path)
    if field is None:
        return
    sent_value = query_of(request)[field][0] if method == "GET" else json.loads(request.body)[field]
    assert sent_value == expected


def test_unknown_enum_values_are_still_refused(runtime):
    error = refused(runtime, "addDeal", {"title": "x", "status": "opened"})
    assert error.input_path == "status" and "'open'" in error.message


def test_blank_text_matches_no_enum_value():
    from pipedrive_connect.inputs import coerce

    schema = {"type": "string", "enum": ["open", "won"], "x-enum-labels": {"open": "Open"}}
    assert coerce("  ", schema) == "  "


# ---- 10. errors that say what to do -----------------------------------------------------------
def test_unknown_input_names_get_a_suggestion(runtime):
    error = refused(runtime, "addDeal", {"title": "x", "orgID": 1})
    assert error.input_path == "orgID"
    assert error.message == "Unknown input 'orgID' (did you mean 'orgId'?)"


def test_unknown_nested_keys_get_a_suggestion(runtime):
    error = refused(runtime, "addOrganization", {"name": "Acme", "address": {"postal code": "50667"}})
    assert error.input_path == "address.postal code"
    assert "did you mean 'postal_code'?" in error.message


def test_undefined_template_variables_name_the_path_and_what_is_there(runtime):
    job = Job(data={"company": "Acme", "orderId": "1042"})
    error = refused(runtime, "addOrganization", {"name": "{{ job.data.compnay }}"}, job)
    assert error.input_path == "name"
    assert error.message == (
        "Input 'name': template failed: job.data has no 'compnay'; it has: company, orderId (did you mean 'company'?)"
    )
    error = refused(runtime, "addOrganization", {"name": "{{ job.data.customer.name }}"}, job)
    assert "job.data has no 'customer'; it has: company, orderId" in error.message
    error = refused(runtime, "addOrganization", {"name": "{{ job.files[0].name }}"}, job)
    assert "job.files has no item 0; it is a list of 0" in error.message
    error = refused(runtime, "addOrganization", {"name": "{{ jobs.data }}"}, job)
    assert "'jobs' is not defined; templates see: job, steps" in error.message


@pytest.mark.parametrize(
    "template", ["{{ job.data.labels }}", "{{ job.data.customer }}", "Items: {{ job.data.labels }}"]
)
def test_lists_and_objects_in_templates_need_tojson(runtime, template):
    job = Job(data={"labels": [1, 2], "customer": {"name": "Jane"}})
    error = refused(runtime, "addDeal", {"title": "x", "labelIds": template}, job)
    assert error.input_path == "labelIds" and "| tojson" in error.message


def test_lists_pass_through_tojson(runtime):
    import json

    request, _ = sent(
        runtime,
        "addDeal",
        {"title": "x", "labelIds": "{{ job.data.labels | tojson }}"},
        "POST",
        "/api/v2/deals",
        Job(data={"labels": [1, 2]}),
    )
    assert json.loads(request.body)["label_ids"] == [1, 2]


# ---- 11. one name per concept; old names still work for a release ----------------------------
def test_old_input_names_still_work_with_a_deprecation_warning(runtime):
    import json

    request, outcome = sent(
        runtime,
        "addPerson",
        {"name": "Jane", "email": "jane@acme.example", "phone": "+1 555", "ownerId": 3},
        "POST",
        "/api/v2/persons",
    )
    assert json.loads(request.body) == {
        "name": "Jane",
        "emails": [{"value": "jane@acme.example", "primary": True}],
        "phones": [{"value": "+1 555", "primary": True}],
        "owner_id": 3,
    }
    warnings = sorted(item.name for item in outcome.logs if item.kind == "warning")
    assert warnings == [
        "Input 'email' is deprecated; use 'emails' (the old name is accepted until the next release)",
        "Input 'phone' is deprecated; use 'phones' (the old name is accepted until the next release)",
    ]
    request, outcome = sent(runtime, "addDeal", {"title": "x", "userId": "3"}, "POST", "/api/v2/deals")
    assert json.loads(request.body) == {"title": "x", "owner_id": 3}
    assert [item.name for item in outcome.logs if item.kind == "warning"] == [
        "Input 'userId' is deprecated; use 'ownerId' (the old name is accepted until the next release)"
    ]


def test_an_input_given_under_both_names_is_refused(runtime):
    error = refused(runtime, "addDeal", {"title": "x", "userId": 3, "ownerId": 4})
    assert error.input_path == "userId" and "ownerId" in error.message


def test_current_names_leave_no_warning(runtime):
    _, outcome = sent(
        runtime, "addPerson", {"name": "Jane", "emails": "jane@acme.example", "orgId": 7}, "POST", "/api/v2/persons"
    )
    assert not [item for item in outcome.logs if item.kind == "warning"]


@pytest.mark.parametrize(
    "field_type,value", [("double", "nan"), ("double", "inf"), ("monetary", "NaN EUR"), ("monetary", "-infinity")]
)
def test_nan_in_a_custom_field_is_an_input_error(runtime, field_type, value):
    fields = [{"field_code": "abc123", "field_name": "Budget", "field_type": field_type, "is_custom_field": True}]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add("GET", BASE + "/api/v2/dealFields", json={"success": True, "data": fields, "additional_data": {}})
        outcome = runtime.run("addDeal", Job(), {"title": "x", "customFields": {"Budget": value}})
        assert [call.request.method for call in rsps.calls] == ["GET"]  # the field list, never the deal
    assert outcome.error.kind == "input" and outcome.error.input_path == "customFields.Budget"
