"""Lead <-> deal conversions (actions/conversions.py): polling, its pauses, and how it ends.

Pipedrive is mocked; `time.sleep` is replaced so the pauses are recorded instead of waited.
"""

from __future__ import annotations

import time

import pytest
import responses

from ..conftest import BASE

LEAD = "adf21080-0e10-11eb-879b-05d71fb426ec"
CONV = "5d3c9f0a-8b1e-4a7c-9f21-3e6b2d1c4a55"
START = f"{BASE}/api/v2/leads/{LEAD}/convert/deal"
STATUS = f"{BASE}/api/v2/leads/{LEAD}/convert/status/{CONV}"


@pytest.fixture
def pauses(monkeypatch):
    taken: list[float] = []
    monkeypatch.setattr(time, "sleep", taken.append)
    return taken


def _status(rsps, *states, **extra):
    for state in states:
        rsps.add("GET", STATUS, json={"success": True, "data": {"conversion_id": CONV, "status": state, **extra}})


def test_polls_with_growing_pauses_until_completed(runtime, pauses):
    with responses.RequestsMock() as rsps:
        rsps.add("POST", START, json={"success": True, "data": {"conversion_id": CONV}})
        _status(rsps, "not_started", "running", "running", "running")
        _status(rsps, "completed", deal_id=77)
        rsps.add("GET", f"{BASE}/api/v2/deals/77", json={"success": True, "data": {"id": 77, "title": "Won"}})
        outcome = runtime.run("convertLeadToDeal", inputs={"id": LEAD})
    assert outcome.route == "success" and outcome.result == {"id": 77, "title": "Won"}
    assert pauses == [0.5, 1.0, 2.0, 4.0]
    assert outcome.cost == 40 + 5 * 1 + 1


@pytest.mark.parametrize("state", ["failed", "rejected"])
def test_a_failed_conversion_is_rejected_with_its_id(runtime, pauses, state):
    with responses.RequestsMock() as rsps:
        rsps.add("POST", START, json={"success": True, "data": {"conversion_id": CONV}})
        _status(rsps, state)
        outcome = runtime.run("convertLeadToDeal", inputs={"id": LEAD})
    assert outcome.route == "error" and outcome.error.kind == "rejected"
    assert outcome.error.details == {"conversion_id": CONV, "lead_id": LEAD, "status": state}
    assert CONV in outcome.error.message and pauses == []


def test_the_wait_is_bounded_and_the_timeout_carries_the_id(runtime, monkeypatch):
    """Virtual time: each pause moves the clock forward instead of waiting."""
    offset, pauses, real = [0.0], [], time.monotonic

    def sleep(seconds):
        pauses.append(seconds)
        offset[0] += seconds

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(time, "monotonic", lambda: real() + offset[0])
    with responses.RequestsMock() as rsps:
        rsps.add("POST", START, json={"success": True, "data": {"conversion_id": CONV}})
        _status(rsps, "running", "running", "running", "running")
        outcome = runtime.run("convertLeadToDeal", inputs={"id": LEAD, "waitSeconds": 2})
        assert len(rsps.calls) == 5  # the start and four status reads: at 0, 0.5, 1.5 and 2 seconds
    assert outcome.route == "error" and outcome.error.kind == "outcome_unknown"
    assert outcome.error.details["conversion_id"] == CONV and CONV in outcome.error.message
    assert pauses[:2] == [0.5, 1.0] and 0 < pauses[2] <= 0.5 and sum(pauses) <= 2  # never past the deadline


@pytest.mark.parametrize("bad", [None, "../../users/me", "12"])
def test_an_unusable_conversion_id_is_not_put_in_a_path(runtime, pauses, bad):
    with responses.RequestsMock() as rsps:
        rsps.add("POST", START, json={"success": True, "data": {"conversion_id": bad}})
        outcome = runtime.run("convertLeadToDeal", inputs={"id": LEAD})
        assert len(rsps.calls) == 1
    assert outcome.route == "error" and outcome.error.kind == "server"


def test_wait_seconds_has_a_cap(runtime):
    outcome = runtime.run("convertLeadToDeal", inputs={"id": LEAD, "waitSeconds": 601})
    assert outcome.route == "error" and outcome.error.kind == "input" and outcome.error.input_path == "waitSeconds"
    assert outcome.calls == 0
