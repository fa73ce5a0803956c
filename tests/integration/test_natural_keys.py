"""A flow step's natural key: a plain create whose outcome was unknown looks for its record before creating
again, whether the job comes back through `requeue --resume` or a runner recovers it after a crash."""

from __future__ import annotations

import json

import pytest

from pipedrive_connect.errors import StepError
from pipedrive_connect.flows import Flow, FlowError
from pipedrive_connect.jobstore import requeue
from pipedrive_connect.runner import HotFolder, WatchSettings
from pipedrive_connect.runtime import Call

EMAIL = "kim@example.org"
FLOW = {
    "steps": [
        {
            "id": "person",
            "action": "addPerson",
            "inputs": {"name": "{{ job.data.name }}", "emails": "{{ job.data.email }}"},
            "naturalKey": {
                "action": "findPerson",
                "inputs": {"matchBy": "email", "matchValue": "{{ job.data.email }}"},
            },
        },
        {"id": "read", "action": "getPerson", "inputs": {"id": "{{ steps.person.result.id }}"}},
    ]
}


@pytest.fixture
def folders(tmp_path):
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    return inbox, out


def run_folder(live, folders):
    HotFolder(live, Flow.from_dict(FLOW, live), *folders, settings=WatchSettings(workers=1, settle=0)).run(once=True)


def people(sandbox) -> list[dict]:
    return [p for p in sandbox.store.rows("persons") if any(e["value"] == EMAIL for e in p["emails"])]


def drop_job(inbox, name="signup"):
    (inbox / f"{name}.json").write_text(json.dumps({"data": {"name": "Kim", "email": EMAIL}}))


@pytest.mark.parametrize("applied", [True, False], ids=["create-happened", "create-lost"])
def test_requeue_resume_after_outcome_unknown_checks_before_creating(live, sandbox, folders, applied, monkeypatch):
    inbox, out = folders
    if applied:
        sandbox.app.ambiguous.arm(1)  # the sandbox makes the person, then answers 502
    else:
        real_submit = Call.submit

        def lost_before_applied(self, request):
            if request.method == "POST":
                raise StepError("outcome_unknown", "injected: the connection dropped before Pipedrive applied it")
            return real_submit(self, request)

        monkeypatch.setattr(Call, "submit", lost_before_applied)
    drop_job(inbox)
    run_folder(live, folders)
    failed = out / "error" / "signup.json"
    assert json.loads(failed.read_text())["error"]["type"] == "outcome_unknown"
    assert len(people(sandbox)) == (1 if applied else 0)
    monkeypatch.undo()
    requeue(failed, inbox, resume=True)
    run_folder(live, folders)
    job = json.loads((out / "success" / "signup-2.json").read_text())
    (person,) = people(sandbox)  # exactly one, either way
    assert job["steps"]["person"]["result"]["id"] == person["id"] == job["steps"]["read"]["result"]["id"]
    assert job["steps"]["person"].get("found_by_natural_key", False) is applied


def test_a_runner_recovering_an_in_flight_create_with_a_natural_key_finds_the_record(live, sandbox, folders):
    inbox, out = folders
    made = live.run("addPerson", inputs={"name": "Kim", "emails": [EMAIL]}).result  # applied before the crash
    processing = inbox / ".processing"
    processing.mkdir()
    (processing / "signup.json").write_text(json.dumps({"data": {"name": "Kim", "email": EMAIL}}))
    started = {"event": "started", "step": "person", "action": "addPerson", "at": "t"}
    (processing / "signup.journal").write_text(json.dumps(started) + "\n")
    run_folder(live, folders)
    job = json.loads((out / "success" / "signup.json").read_text())
    assert job["steps"]["person"]["result"]["id"] == made["id"] and len(people(sandbox)) == 1


def test_a_natural_key_is_checked_when_the_flow_loads(live):
    broken = json.loads(json.dumps(FLOW))
    broken["steps"][0]["naturalKey"] = {"action": "findPersn", "inputs": {"matchValue": "{{ steps.read.result }}"}}
    with pytest.raises(FlowError) as caught:
        Flow.from_dict(broken, live)
    text = str(caught.value)
    assert "naturalKey: unknown action 'findPersn'" in text and "steps.read, which has not run yet" in text
