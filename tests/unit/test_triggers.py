"""Trigger filters, the checks Flow.load makes on `trigger:`, and the durable queue's dedup and crash recovery."""

from __future__ import annotations

import json

import pytest

from pipedrive_connect.flows import Flow, FlowError, Trigger
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.triggers import PENDING, EventQueue, Poller

STEPS = [{"action": "getDeal", "inputs": {"id": "{{ job.data.data.id }}"}}]


def event(action="change", entity="deal", data=None, previous=None, event_id="e1"):
    return {"meta": {"id": event_id, "action": action, "entity": entity}, "data": data, "previous": previous}


# ---- the filter language ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, previous, fires",
    [
        ({"stage_id": 3}, {"stage_id": 2}, True),
        ({"stage_id": 3}, {"title": "old"}, False),  # an edit of another field while in stage 3
        ({"stage_id": 4}, {"stage_id": 3}, False),  # moved out of 3
        ({"stage_id": 3}, None, False),  # previous values unknown (a polled record)
    ],
)
def test_stage_changed_to_fires_only_when_previous_shows_the_move(data, previous, fires):
    trigger = Trigger(["change.deal"], {"stage_changed_to": 3})
    assert trigger.matches(event(data=data, previous=previous)) is fires


def test_status_changed_to_fires_on_the_status_change_not_on_every_edit_of_a_won_deal():
    trigger = Trigger(["*.deal"], {"status_changed_to": "won"})
    assert trigger.matches(event(data={"status": "won"}, previous={"status": "open"}))
    assert not trigger.matches(event(data={"status": "won", "value": 9}, previous={"value": 5}))
    assert not trigger.matches(event("create", data={"status": "won"}))


def test_changed_changed_to_and_where_combine():
    trigger = Trigger(
        ["change.deal"],
        {"changed": ["value", "title"], "where": {"pipeline_id": 1}, "changed_to": {"custom_fields.tier": "gold"}},
    )
    now = {"pipeline_id": 1, "value": 10, "custom_fields": {"tier": "gold"}}
    assert trigger.matches(event(data=now, previous={"value": 5, "custom_fields": {"tier": "silver"}}))
    assert not trigger.matches(event(data={**now, "pipeline_id": 2}, previous={"value": 5, "custom_fields": {}}))
    assert not trigger.matches(event(data=now, previous={"custom_fields": {"tier": "silver"}}))  # value unchanged


def test_events_match_by_action_and_object_with_wildcards():
    assert Trigger(["*.deal"]).matches(event("delete", previous={"id": 1}))
    assert not Trigger(["create.deal"]).matches(event("change", data={"id": 1}))
    assert Trigger(["create.*"]).matches(event("create", "person", data={"id": 1}))
    assert Trigger(["*.*"]).objects == Trigger(["change.*"]).objects and "activity" in Trigger(["*.*"]).objects


@pytest.mark.parametrize(
    "trigger, problem",
    [
        ({"event": "change.dael"}, "event 'change.dael' is not ACTION.OBJECT"),
        ({"event": "update.deal"}, "event 'update.deal' is not ACTION.OBJECT"),
        ({"event": "change.deal", "filter": {"stage_change_to": 3}}, "did you mean 'stage_changed_to'?"),
        ({"event": "change.deal", "filter": {"stage_changed_to": "three"}}, "is not a stage ID"),
        ({"event": "change.deal", "filter": {"status_changed_to": "closed"}}, "one of open, won, lost, deleted"),
        ({"event": "create.deal", "filter": {"changed": "title"}}, "needs a change event"),
        ({"event": "change.person", "filter": {"stage_changed_to": 2}}, "are about deals"),
        ({"event": "change.deal", "filter": {"where": {"owner": [1]}}}, "mapping of field names to values"),
        ({"filter": {}}, "'event' is a required property"),
    ],
)
def test_flow_load_checks_the_trigger(bundle, trigger, problem):
    with pytest.raises(FlowError) as info:
        Flow.from_dict({"trigger": trigger, "steps": STEPS}, Runtime(bundle), "won.yaml")
    assert any(problem in p and p.startswith("won.yaml: ") for p in info.value.problems), info.value.problems


def test_a_flow_with_a_trigger_loads_it(bundle):
    flow = Flow.from_dict(
        {"trigger": {"event": ["change.deal", "create.deal"], "filter": {"status_changed_to": "won"}}, "steps": STEPS},
        Runtime(bundle),
    )
    assert flow.trigger == Trigger(["change.deal", "create.deal"], {"status_changed_to": "won"})


# ---- the durable queue ------------------------------------------------------------------------
def queue(tmp_path, trigger=None) -> EventQueue:
    return EventQueue(tmp_path / "inbox", tmp_path, trigger)


def jobs(tmp_path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "inbox").glob("*.json"))]


def test_an_event_id_is_queued_once_even_across_restarts(tmp_path):
    first = queue(tmp_path)
    payload = event("create", data={"id": 7, "update_time": "2026-05-01T10:00:00Z"})
    assert first.put([payload, payload], "webhook") == ["queued", "duplicate"]
    first.close()
    again = queue(tmp_path)
    assert again.put([payload], "webhook") == ["duplicate"]
    (job,) = jobs(tmp_path)
    assert job["data"] == payload and job["metadata"]["trigger"]["source"] == "webhook"


def test_two_changes_in_one_second_are_two_events_and_a_poll_of_that_state_adds_nothing(tmp_path):
    q = queue(tmp_path)
    state = {"id": 7, "update_time": "2026-05-01T10:00:00Z"}
    first = event(data={**state, "stage_id": 2}, previous={"stage_id": 1}, event_id="a")
    second = event(data={**state, "stage_id": 3}, previous={"stage_id": 2}, event_id="b")
    polled = {"meta": {"action": "change", "entity": "deal", "id": None}, "data": state, "previous": None}
    assert q.put([first, second], "webhook") == ["queued", "queued"]
    assert q.put([polled], "poll") == ["duplicate"]


def test_a_webhook_retry_for_a_state_the_poll_already_took_is_a_duplicate(tmp_path):
    q = queue(tmp_path)
    state = {"id": 7, "update_time": "2026-05-01T10:00:00Z"}
    assert q.put([{"meta": {"action": "create", "entity": "deal"}, "data": state}], "poll") == ["queued"]
    assert q.put([event("create", data=state, event_id="late")], "webhook") == ["duplicate"]


def test_filtered_events_are_decided_but_not_queued(tmp_path):
    q = queue(tmp_path, Trigger(["change.deal"], {"stage_changed_to": 3}))
    edit = event(data={"id": 1, "stage_id": 3, "update_time": "2026-05-01T10:00:00Z"}, previous={"title": "x"})
    assert q.put([edit], "webhook") == ["filtered"]
    assert q.put([edit], "webhook") == ["duplicate"]
    assert jobs(tmp_path) == []


def test_a_crash_before_the_seen_log_drops_the_pending_file_and_after_it_finishes_the_queueing(tmp_path):
    q = queue(tmp_path)
    acknowledged = event("create", data={"id": 1, "update_time": "2026-05-01T10:00:00Z"}, event_id="ack")
    unacknowledged = event("create", data={"id": 2, "update_time": "2026-05-01T10:00:00Z"}, event_id="lost")
    q._write_pending(unacknowledged, ["event:lost"], "webhook")  # crashed before the seen log
    placed = q._write_pending(acknowledged, ["event:ack", "change:deal:1:2026-05-01T10:00:00Z"], "webhook")
    q.seen.add(["event:ack", "change:deal:1:2026-05-01T10:00:00Z"])  # crashed before the rename
    with (tmp_path / "seen.jsonl").open("a") as fh:
        fh.write('{"key": "event:torn", "a')  # and a line torn by the crash
    q.close()
    assert placed.exists()
    again = queue(tmp_path)
    assert [j["data"]["meta"]["id"] for j in jobs(tmp_path)] == ["ack"]
    assert not list((tmp_path / "inbox").glob(f"{PENDING}*"))
    assert again.put([unacknowledged], "webhook") == ["queued"], "never acknowledged, so a retry is welcome"


# ---- the poller's overlap window ----------------------------------------------------------------
def test_a_change_in_the_same_second_as_the_cursor_is_not_missed(tmp_path, bundle):
    from pipedrive_connect.connection import Connection
    from pipedrive_connect.sandbox import Sandbox

    with Sandbox(token="t0k3n-for-poll", seed=3) as sandbox:
        connection = Connection.from_settings(
            {"type": "apiToken", "api_token": "t0k3n-for-poll", "base_url": sandbox.base_url}
        )
        runtime = Runtime(bundle, connection)
        stamp = "2026-05-01T10:00:00Z"
        sandbox.store.insert("deals", {"title": "A", "add_time": stamp, "update_time": stamp, "stage_id": 1})
        q = queue(tmp_path)
        poller = Poller(runtime, "deals", q, tmp_path / "poll.json")
        assert poller.run_once().queued == 1
        sandbox.store.insert("deals", {"title": "B", "add_time": stamp, "update_time": stamp, "stage_id": 1})
        second = poller.run_once()
        assert (second.queued, second.duplicate) == (1, 1)
        assert sorted(j["data"]["data"]["title"] for j in jobs(tmp_path)) == ["A", "B"]
        assert json.loads((tmp_path / "poll.json").read_text())["cursor"] == stamp
