"""Templates (sandboxed, strict) and coercion of designer strings."""

from __future__ import annotations

import pytest
import responses

from pipedrive_connect.errors import StepError
from pipedrive_connect.inputs import coerce, render
from pipedrive_connect.jobs import Job

CTX = Job(data={"customer": {"email": "a@b.example", "zip": "0478"}}, metadata={"orderId": "1042"}).template_context()


def test_renders_job_data_and_metadata():
    assert render("{{ job.data.customer.email }}", CTX) == "a@b.example"
    assert render({"t": "Order {{ job.metadata.orderId }}"}, CTX) == {"t": "Order 1042"}


def test_undefined_variable_is_an_error_naming_the_input():
    with pytest.raises(StepError) as info:
        render({"title": "{{ job.data.nope.deeper }}"}, CTX)
    assert info.value.kind == "input" and info.value.input_path == "title"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ job.__class__ }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{{ environ }}",
        "{{ range.__self__ }}",
    ],
)
def test_templates_cannot_reach_python_internals_or_environment(template):
    with pytest.raises(StepError) as info:
        render({"x": template}, CTX)
    assert info.value.kind == "input" and info.value.input_path == "x"


def test_template_cannot_mutate_the_job():
    with pytest.raises(StepError):
        render("{{ job.data.update({'x': 1}) }}", CTX)


def test_numbers_from_templates_stay_strings_for_string_inputs():
    rendered = render("{{ job.data.customer.zip }}", CTX)
    assert coerce(rendered, {"type": "string"}) == "0478"


@pytest.mark.parametrize(
    "value,schema,expected",
    [
        ("12", {"type": "integer"}, 12),
        (" 12 ", {"type": "integer"}, 12),
        ("12.5", {"type": "number"}, 12.5),
        ("3", {"type": "number"}, 3),
        ("true", {"type": "boolean"}, True),
        ("Yes", {"type": "boolean"}, True),
        ("off", {"type": "boolean"}, False),
        ("1,2, 3", {"type": "array", "items": {"type": "integer"}}, [1, 2, 3]),
        ('["a", "b"]', {"type": "array", "items": {"type": "string"}}, ["a", "b"]),
        ('{"k": "12"}', {"type": "object", "properties": {"k": {"type": "integer"}}}, {"k": 12}),
        ("12a", {"type": "integer"}, "12a"),  # left for the validator to reject
        ("maybe", {"type": "boolean"}, "maybe"),
        (7, {"type": "string"}, "7"),
    ],
)
def test_coercion(value, schema, expected):
    assert coerce(value, schema) == expected


def test_empty_optional_input_is_absent():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    assert coerce({"a": "", "b": "x"}, schema) == {"b": "x"}


def test_bad_inputs_route_to_error_with_the_input_named(runtime):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        outcome = runtime.run("addDeal", Job(), {"title": "x", "orgId": "twelve"})
        assert outcome.route == "error" and outcome.error.input_path == "orgId"
        assert "twelve" in outcome.error.message
        outcome = runtime.run("addDeal", Job(), {"title": "{{ job.data.missing }}"})
        assert outcome.route == "error" and outcome.error.input_path == "title"
        assert "template failed" in outcome.error.message
        assert len(rsps.calls) == 0


def test_unknown_action_routes_to_error(runtime):
    outcome = runtime.run("addDael", Job(), {})
    assert outcome.route == "error" and outcome.error.kind == "input"
    assert "unknown action 'addDael'" in outcome.error.message


def test_validators_are_compiled_once(bundle):
    action = bundle.action("addDeal")
    assert action.validator is action.validator
