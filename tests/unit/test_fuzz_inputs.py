"""Every input schema, fuzzed: no input, however malformed, crashes the runtime or escapes routing."""

from __future__ import annotations

import re

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipedrive_connect.bundle import Bundle
from pipedrive_connect.jobs import Attachment, Job

from ..conftest import BASE

BUNDLE = Bundle.load()
KEYS = sorted(k for k, a in BUNDLE.actions.items())
ANY = re.compile(re.escape(BASE) + r"/.*")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "12",
            "true",
            "Yes",
            "{{ job.data.x }}",
            "{{ 1/0 }}",
            "{% for %}",
            "../../etc/passwd",
            "//evil.example",
            "[1,2]",
            '{"a": 1}',
            "null",
            "\x00",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def inputs_for(key: str):
    names = list(BUNDLE.action(key).schema.get("properties", {})) if not BUNDLE.action(key).removed else ["id"]
    return st.dictionaries(st.sampled_from(names) | st.text(max_size=6), values, max_size=6)


@pytest.mark.slow  # 25 generated inputs for each of the 160-odd actions: about 20 s in all
@pytest.mark.parametrize("key", KEYS)
def test_any_input_routes_to_success_or_error(key, runtime, tmp_path):
    attachment = tmp_path / "a.pdf"
    attachment.write_bytes(b"%PDF")
    job = Job(data={"x": "1"}, files=[Attachment("a.pdf", str(attachment))])

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(inputs_for(key))
    def check(raw):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                rsps.add(method, ANY, json={"success": True, "data": [], "additional_data": {}})
            outcome = runtime.run(key, job, raw)
        assert outcome.route in ("success", "error")
        if outcome.route == "error":
            assert outcome.error.kind != "unexpected", outcome.error.message
            assert outcome.error.message

    check()
