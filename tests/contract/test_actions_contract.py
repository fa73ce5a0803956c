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
    for key, action in sorted(BUNDLE.actions.items()) if not action.removed
    for i, example in enumerate(action.schema.get("examples", []))
]
ANY = re.compile(re.escape(BASE) + r"/.*")
# Multipart fields are text on the wire; openapi-core does not cast them to the integer type the
# spec declares (e.g. addFile's deal_id), so exactly that complaint, about a decimal string, is accepted.
_MULTIPART_INTEGER = re.compile(r"^  at \w+: '\d+' is not of type 'integer'$")


def validate(version, request):
    body = request.body or b""
    content_type = request.headers.get("Content-Type", "application/json")
    try:
        validate_request(version, request.method, request.url, headers=dict(request.headers),
                         body_bytes=body.encode() if isinstance(body, str) else body, content_type=content_type)
    except ContractError as exc:
        details = [line for line in str(exc).splitlines() if line.startswith("  at ")]
        if not (content_type.startswith("multipart/form-data") and details
                and all(_MULTIPART_INTEGER.match(line) for line in details)):
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
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # custom fields named in the example exist as text fields, for actions that read the field list first
        names = list(example.get("customFields") or {}) + [example.get("customFieldKey")]
        fields = [{"field_code": n, "field_name": n, "field_type": "varchar", "is_custom_field": True} for n in names if n]
        rsps.add("GET", re.compile(re.escape(BASE) + r"/api/v2/\w+Fields\b.*"),
                 json={"success": True, "data": fields, "additional_data": {"next_cursor": None}})
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            rsps.add(method, ANY, json={"success": True, "data": data, "additional_data": {}},
                     headers={"Content-Disposition": 'attachment; filename="f.bin"'})
        outcome = runtime.run(key, job, example)
        calls = list(rsps.calls)
    assert outcome.route == "success", outcome.error and outcome.error.to_dict()
    assert calls, "the example sent no request"
    for call in calls:
        validate("v2" if "/api/v2/" in call.request.url else "v1", call.request)


def _spec_enum(version, action, wire):
    """The enum the official operation declares for a query parameter, if any."""
    spec = _raw_spec(version)
    for path_item in spec["paths"].values():
        for op in path_item.values():
            if isinstance(op, dict) and op.get("operationId") == action.operation:
                for param in op.get("parameters", []):
                    if "$ref" in param:
                        param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
                    if param["name"] == wire and param["in"] == "query":
                        return param.get("schema", {}).get("enum")
    return None


@functools.lru_cache(maxsize=None)
def _raw_spec(version):
    import yaml

    from ..support.openapi import spec_dir

    with open(spec_dir() / f"{version}.yaml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


QUERY_PARAMS = [
    pytest.param(key, param.name, id=f"{key}.{param.name}")
    for key, action in sorted(BUNDLE.actions.items()) if not action.removed and action.operation
    for param in action.params if param.location == "query"
]


@requires_spec
@pytest.mark.parametrize("key,name", QUERY_PARAMS)
def test_query_inputs_take_only_the_values_the_spec_lists(key, name):
    """Where Pipedrive enumerates a query parameter's values, the input is an enum (or a list of enum values)."""
    action = BUNDLE.action(key)
    param = next(p for p in action.params if p.name == name)
    allowed = _spec_enum(action.api, action, param.wire)
    prop = action.schema["properties"][name]
    if not allowed or prop.get("type") == "boolean":  # booleans become the spec's 0/1 or true/false
        return
    ours = prop.get("enum") or (prop.get("items") or {}).get("enum")
    assert ours, f"{key}.{name} accepts any value; the spec allows only {allowed}"
    assert {str(v) for v in ours} <= {str(v) for v in allowed}
