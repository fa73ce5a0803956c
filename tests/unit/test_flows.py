"""Flows are checked when they load: every problem at once, each naming the flow file, the step and the input."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipedrive_connect.flows import Flow, FlowError
from pipedrive_connect.runtime import Runtime

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "pipedrive_connect" / "samples" / "order-flow.yaml"


@pytest.fixture
def rt(bundle):
    return Runtime(bundle)


def problems(raw, rt, source="orders.yaml") -> list[str]:
    with pytest.raises(FlowError) as info:
        Flow.from_dict(raw, rt, source)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def one(raw, rt) -> str:
    found = problems(raw, rt)
    assert len(found) == 1, found
    return found[0]


def deal(**inputs) -> dict:
    return {"id": "deal", "action": "addDeal", "inputs": {"title": "Order", **inputs}}


def test_the_sample_flow_loads(rt):
    flow = Flow.load(SAMPLE, rt)
    assert len(flow.steps) == 7 and flow.name == "Order to deal"


def test_a_bare_list_of_steps_is_a_flow(rt):
    flow = Flow.from_dict(
        [deal(), {"action": "getDeal", "inputs": {"id": "{{ steps.deal.result.id }}"}}], rt, "flows/quick.yaml"
    )
    assert [s.id for s in flow.steps] == ["deal", "getDeal"] and flow.name == "quick"


def test_unknown_input_suggests_the_close_one(rt):
    raw = [{"id": "deal", "action": "addDeal", "inputs": {"titel": "{{ job.data.title }}"}}]
    found = problems(raw, rt)
    assert "orders.yaml: step 'deal' input 'titel': unknown input; did you mean 'title'?" in found


def test_unknown_input_without_a_close_match_points_to_describe(rt):
    assert "describe addDeal" in one([deal(zzzqqq="1")], rt)


@pytest.mark.parametrize("text", ["{{ job.data.title ", "{% if job.data.x %}open", "{{ job.data.x | nosuchfilter }}"])
def test_template_errors_in_inputs(rt, text):
    problem = one([deal(title=text)], rt)
    assert problem.startswith("orders.yaml: step 'deal' input 'title': template error:") and "line 1" in problem


def test_template_errors_in_nested_inputs_and_when(rt):
    raw = [
        {**deal(), "when": "{{ job.data.go }"},
        {"id": "note", "action": "addNote", "inputs": {"content": "x", "dealId": "1", "nothing": {"a": ["{{ oops"]}}},
    ]
    found = problems(raw, rt)
    assert any(p.startswith("orders.yaml: step 'deal' when: template error:") for p in found)
    assert any(p.startswith("orders.yaml: step 'note' input 'nothing': unknown input") for p in found)


def test_template_error_inside_a_known_object_input(rt):
    raw = [
        {
            "id": "raw",
            "action": "rawRequest",
            "inputs": {"method": "GET", "url": "/v1/deals", "queryParams": {"term": "{{ job.data.term"}},
        }
    ]
    assert one(raw, rt).startswith("orders.yaml: step 'raw' input 'queryParams': template error:")


def test_unknown_names_and_job_fields(rt):
    found = problems([deal(title="{{ jbo.data.x }}", value="{{ job.dta.total }}")], rt)
    assert found == [
        "orders.yaml: step 'deal' input 'title': unknown name 'jbo' (templates see job and steps); did you mean 'job'?",
        "orders.yaml: step 'deal' input 'value': unknown job field 'dta' (a job has id, data, "
        "metadata, files); did you mean 'data'?",
    ]


def test_step_references_must_point_to_earlier_steps(rt):
    raw = [
        deal(orgId="{{ steps.org.result.id }}", personId="{{ steps['deal'].result.id }}"),
        {"id": "org", "action": "addOrganization", "inputs": {"name": "{{ steps.dael.result.title }}"}},
    ]
    found = problems(raw, rt)
    assert found == [
        "orders.yaml: step 'deal' input 'orgId': refers to steps.org, which has not run yet at this point "
        "(steps run in order)",
        "orders.yaml: step 'deal' input 'personId': refers to steps.deal, which has not run yet at this point "
        "(steps run in order)",
        "orders.yaml: step 'org' input 'name': refers to steps.dael, which is not a step of this flow; "
        "did you mean 'deal'?",
    ]


@pytest.mark.parametrize(
    "inputs, expected",
    [
        ({"value": "abc"}, "input 'value': 'abc' is not of type 'number'"),
        ({"visibleTo": "12"}, "input 'visibleTo': 12 is not one of [1, 3, 5, 7]"),
        ({"status": "gone"}, "input 'status': 'gone' is not one of ['open', 'won', 'lost']"),
        ({"title": ""}, "input 'title': required, but the step does not set it"),
    ],
)
def test_constants_are_checked_after_coercion(rt, inputs, expected):
    assert expected in one([deal(**inputs)], rt)


def test_constants_that_coerce_are_fine(rt):
    flow = Flow.from_dict(
        [
            deal(value="1250.50", orgId="3"),
            {"action": "addNote", "inputs": {"content": "x", "dealId": "1", "pinnedToDealFlag": "yes"}},
        ],
        rt,
    )
    assert len(flow.steps) == 2


def test_missing_required_input(rt):
    assert one([{"id": "deal", "action": "addDeal", "inputs": {"value": "3"}}], rt) == (
        "orders.yaml: step 'deal' input 'title': required, but the step does not set it"
    )


def test_unknown_and_removed_actions(rt):
    found = problems([{"action": "addDael"}, {"id": "sub", "action": "getSubscription", "inputs": {"id": 1}}], rt)
    assert found[0] == "orders.yaml: step 'addDael': unknown action 'addDael' (did you mean addDeal?)"
    assert found[1].startswith("orders.yaml: step 'sub': action getSubscription is no longer available:")
    assert "instead" in found[1]


def test_structure_problems_name_the_step(rt):
    found = problems(
        {"steps": [deal(), {"id": "x", "inputs": {}}, {"id": "deal", "action": "getDeal", "input": {}}]}, rt
    )
    assert "orders.yaml: step 2 ('x'): 'action' is a required property" in found
    assert any(p.startswith("orders.yaml: step 3 ('deal'): Additional properties") for p in found)
    assert problems("just text", rt) == [
        "orders.yaml: a flow is a mapping with a `steps:` list (or a bare list of steps)"
    ]


def test_duplicate_ids(rt):
    assert "used twice" in one([deal(), deal()], rt)


def test_all_problems_at_once(rt):
    raw = [
        deal(titel="x", value="abc"),
        {
            "id": "n",
            "action": "addNote",
            "when": "{{ ",
            "inputs": {"content": "{{ steps.nope.result }}", "dealId": "1"},
        },
    ]
    found = problems(raw, rt)
    assert len(found) == 4 and all(p.startswith("orders.yaml: step ") for p in found)


def test_without_a_bundle_templates_and_structure_are_still_checked():
    with pytest.raises(FlowError, match="template error"):
        Flow.from_dict([deal(title="{{ x")])


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("flow.yaml", "steps:\n  - action: addDeal\n   inputs: {}\n", "flow.yaml: not valid YAML:"),
        ("flow.json", "{ nope", "flow.json: not valid JSON:"),
        ("missing.yaml", None, "missing.yaml: cannot read the flow file"),
    ],
)
def test_unreadable_flow_files_blame_the_flow(rt, tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(FlowError) as info:
        Flow.load(path, rt)
    assert str(info.value).startswith(str(tmp_path / expected)) and "bundle" not in str(info.value)
