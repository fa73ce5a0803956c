"""Every action's schema examples, sent through the runtime, make requests the official spec accepts.

The transport is captured (no network); each captured request is validated with openapi-core
against the operation in Pipedrive's OpenAPI spec: path, method, parameters and body types.
"""

from __future__ import annotations

import functools
import re

import pytest
import responses

from pipedrive_connect.bundle import Bundle
from pipedrive_connect.jobs import Attachment, Job

from ..conftest import BASE
from ..support.openapi import ContractError, requires_spec, validate_request

BUNDLE = Bundle.load()
EXAMPLES = [
    pytest.param(key, i, example, id=f"{key}-{i}")
    for key, action in sorted(BUNDLE.actions.items())
    if not action.removed
    for i, example in enumerate(action.schema.get("examples", []))
]
ANY = re.compile(re.escape(BASE) + r"/.*")
_UUID = "00000000-0000-4000-8000-000000000001"
# Multipart fields are text on the wire; openapi-core does not cast them to the integer type the
# spec declares (e.g. addFile's deal_id), so exactly that complaint, about a decimal string, is accepted.
_MULTIPART_INTEGER = re.compile(r"^  at \w+: '\d+' is not of type 'integer'$")


def validate(version, request):
    body = request.body or b""
    content_type = request.headers.get("Content-Type", "application/json")
    try:
        validate_request(
            version,
            request.method,
            request.url,
            headers=dict(request.headers),
            body_bytes=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
        )
    except ContractError as exc:
        details = [line for line in str(exc).splitlines() if line.startswith("  at ")]
        if not (
            content_type.startswith("multipart/form-data")
            and details
            and all(_MULTIPART_INTEGER.match(line) for line in details)
        ):
            raise


def test_every_action_has_an_example():
    missing = sorted(k for k, a in BUNDLE.actions.items() if not a.removed and not a.schema.get("examples"))
    assert not missing


@requires_spec
@pytest.mark.parametrize("key,index,example", EXAMPLES)
def test_example_request_matches_the_official_operation(key, index, example, runtime, tmp_path):
    attachment = tmp_path / "order.pdf"
    attachment.write_bytes(b"%PDF-1.4 example")
    job = Job(files=[Attachment("order.pdf", str(attachment), "application/pdf")])
    data = [] if BUNDLE.action(key).paging else {"id": 1, "items": []}
    if (
        BUNDLE.action(key).decl.get("handler") == "conversions:convert"
    ):  # started, then done at once: the record is read
        data = {"id": 1, "conversion_id": _UUID, "status": "completed", "deal_id": 1, "lead_id": _UUID}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # custom fields named in the example exist as text fields, for actions that read the field list first
        names = list(example.get("customFields") or {}) + [example.get("customFieldKey")]
        fields = [
            {"field_code": n, "field_name": n, "field_type": "varchar", "is_custom_field": True} for n in names if n
        ]
        rsps.add(
            "GET",
            re.compile(re.escape(BASE) + r"/api/v2/\w+Fields\b.*"),
            json={"success": True, "data": fields, "additional_data": {"next_cursor": None}},
        )
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            rsps.add(
                method,
                ANY,
                json={"success": True, "data": data, "additional_data": {}},
                headers={"Content-Disposition": 'attachment; filename="f.bin"'},
            )
        outcome = runtime.run(key, job, example)
        calls = list(rsps.calls)
    assert outcome.route == "success", outcome.error and outcome.error.to_dict()
    assert calls, "the example sent no request"
    for call in calls:
        validate("v2" if "/api/v2/" in call.request.url else "v1", call.request)


@functools.cache
def _raw_spec(version):
    import yaml

    from ..support.openapi import spec_dir

    with open(spec_dir() / f"{version}.yaml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        node = functools.reduce(lambda n, part: n[part], node["$ref"][2:].split("/"), spec)
    return node


def _spec_input(action, param):
    """The official schema of the query parameter or top-level body property an input becomes,
    with the parameter's description; {} when the spec has none."""
    spec = _raw_spec(action.api)
    op = next(
        op
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and op.get("operationId") == action.operation
    )
    if param.location == "query":
        for prm in map(lambda p: _resolve(spec, p), op.get("parameters", [])):
            if prm["name"] == param.wire and prm["in"] == "query":
                return {**_resolve(spec, prm.get("schema", {})), "description": prm.get("description", "")}
        return {}
    found = {}

    def collect(node):
        node = _resolve(spec, node)
        for sub in node.get("allOf", []) + node.get("anyOf", []) + node.get("oneOf", []):
            collect(sub)
        found.update({k: _resolve(spec, v) for k, v in (node.get("properties") or {}).items()})

    for content in (_resolve(spec, op.get("requestBody", {})).get("content") or {}).values():
        collect(content.get("schema", {}))
    return found.get(param.wire, {})


SENT_INPUTS = [
    pytest.param(key, param.name, id=f"{key}.{param.name}")
    for key, action in sorted(BUNDLE.actions.items())
    if not action.removed and action.operation
    for param in action.params
    if param.location in ("query", "body")
]


@requires_spec
@pytest.mark.parametrize("key,name", SENT_INPUTS)
def test_enumerated_query_inputs_take_only_the_values_the_spec_lists(key, name):
    """Where Pipedrive enumerates a query parameter's values, the input is an enum (or a list of enum values)."""
    action = BUNDLE.action(key)
    param = next(p for p in action.params if p.name == name)
    allowed = _spec_input(action, param).get("enum")
    prop = action.schema["properties"][name]
    if param.location != "query" or not allowed or prop.get("type") == "boolean":  # booleans become 0/1
        return
    ours = prop.get("enum") or (prop.get("items") or {}).get("enum")
    assert ours, f"{key}.{name} accepts any value; the spec allows only {allowed}"
    assert {str(v) for v in ours} <= {str(v) for v in allowed}


_DATE_WORDS = re.compile(r"RFC ?3339|ISO 8601|YYYY-MM-DD")


@requires_spec
@pytest.mark.parametrize("key,name", SENT_INPUTS)
def test_date_inputs_are_checked_before_sending(key, name):
    """An input the spec says is a date or a moment has a format (date, date-time), a pattern, or a list of choices
    (a field type such as `date` is a choice, not a date)."""
    action = BUNDLE.action(key)
    official = _spec_input(action, next(p for p in action.params if p.name == name))
    if official.get("type") != "string" or (
        official.get("format") not in ("date", "date-time") and not _DATE_WORDS.search(official.get("description", ""))
    ):
        return
    prop = action.schema["properties"][name]
    # an enum is a closed set of values: a field type named "date" is not a date
    assert (
        prop.get("format") in ("date", "date-time") or prop.get("pattern") or "enum" in prop or "x-dropped" in prop
    ), f"{key}.{name} carries a date but nothing checks it"
