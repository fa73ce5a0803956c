"""The hot-folder runner: exactly one route per job, atomic outputs, recovery from a crash at any step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipedrive_connect.flows import Flow
from pipedrive_connect.jobstore import Journal
from pipedrive_connect.runner import HotFolder, WatchSettings

FLOW = {
    "name": "two steps",
    "steps": [
        {"id": "deal", "action": "addDeal", "inputs": {"title": "{{ job.data.title }}"}},
        {"id": "read", "action": "getDeal", "inputs": {"id": "{{ steps.deal.result.id }}"}},
    ],
}


@pytest.fixture
def folders(tmp_path):
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    return inbox, out


def make_folder(live, folders, workers=2, **settings) -> HotFolder:
    settings.setdefault("settle", 0)
    return HotFolder(
        live, Flow.from_dict(FLOW, live), folders[0], folders[1], settings=WatchSettings(workers=workers, **settings)
    )


def drop(inbox: Path, name: str, title: str) -> Path:
    path = inbox / f"{name}.json"
    path.write_text(json.dumps({"data": {"title": title}}))
    return path


def routed(out: Path) -> dict[str, str]:
    """Run name -> route, for every routed job (a quarantined file's reason is not a job)."""
    return {
        p.stem: route
        for route in ("success", "error")
        for p in (out / route).glob("*.json")
        if not p.name.endswith(".reason.json")
    }


def deal_titles(sandbox) -> list[str]:
    return [d["title"] for d in sandbox.store.rows("deals")]


def test_every_job_routes_once_and_no_input_remains(live, sandbox, folders):
    inbox, out = folders
    for i in range(30):
        drop(inbox, f"job-{i:02}", f"Runner deal {i}")
    drop(inbox, "broken", "x").write_text("{ not json")
    stats = make_folder(live, folders, workers=4).run(once=True)
    assert routed(out) == {**{f"job-{i:02}": "success" for i in range(30)}, "broken": "error"}
    assert stats.success == 30 and stats.error == 1
    assert not list(inbox.glob("*.json")) and not list((inbox / ".processing").iterdir())
    titles = deal_titles(sandbox)
    assert all(titles.count(f"Runner deal {i}") == 1 for i in range(30))
    job = json.loads((out / "success" / "job-07.json").read_text())
    assert job["steps"]["read"]["result"]["title"] == "Runner deal 7"
    assert (out / "error" / "broken.json").read_text() == "{ not json"  # the original, as it came
    reason = json.loads((out / "error" / "broken.reason.json").read_text())
    assert reason["error"]["type"] == "input" and "not a valid job" in reason["error"]["message"]


def claim_with_journal(folders, name: str, entries: list[dict]) -> Path:
    inbox, _ = folders
    processing = inbox / ".processing"
    processing.mkdir(parents=True, exist_ok=True)
    claimed = processing / f"{name}.json"
    claimed.write_text(json.dumps({"data": {"title": name}}))
    claimed.with_suffix(".journal").write_text("".join(json.dumps(e) + "\n" for e in entries))
    return claimed


def test_crash_during_a_create_is_outcome_unknown_not_repeated(live, sandbox, folders):
    claim_with_journal(
        folders, "crashed-create", [{"event": "started", "step": "deal", "action": "addDeal", "at": "t"}]
    )
    folder = make_folder(live, folders)
    folder.run(once=True)
    error = json.loads((folders[1] / "error" / "crashed-create.json").read_text())["error"]
    assert error["type"] == "outcome_unknown" and error["step"] == "deal"
    assert error["details"]["action"] == "addDeal"
    assert "crashed-create" not in deal_titles(sandbox)  # nothing was re-sent
    assert folder.stats.recovered == 1 and folder.stats.outcome_unknown == 1


def test_crash_after_a_finished_create_resumes_without_repeating_it(live, sandbox, folders):
    created = live.run("addDeal", inputs={"title": "made before the crash"}).result
    record = {"action": "addDeal", "result": created}
    claim_with_journal(
        folders,
        "resumed",
        [
            {"event": "started", "step": "deal", "action": "addDeal", "at": "t"},
            {"event": "done", "step": "deal", "record": record, "at": "t"},
            {"event": "started", "step": "read", "action": "getDeal", "at": "t"},  # a read: safe to repeat
        ],
    )
    make_folder(live, folders).run(once=True)
    job = json.loads((folders[1] / "success" / "resumed.json").read_text())
    assert job["steps"]["read"]["result"]["id"] == created["id"]
    assert deal_titles(sandbox).count("made before the crash") == 1
    assert "resumed" not in deal_titles(sandbox)


def test_torn_journal_line_counts_as_not_finished(folders):
    claimed = claim_with_journal(
        folders, "torn", [{"event": "started", "step": "deal", "action": "addDeal", "at": "t"}]
    )
    with claimed.with_suffix(".journal").open("a") as fh:
        fh.write('{"event": "done", "step": "deal", "rec')
    state = Journal(claimed.with_suffix(".journal")).read()
    assert state.finished == {} and state.in_flight["step"] == "deal"


def test_torn_line_never_spoils_the_entries_written_after_it(folders):
    """Item 7: a crash mid-line, then a restart that goes on writing: every later entry still counts."""
    claimed = claim_with_journal(folders, "torn-then-more", [])
    path = claimed.with_suffix(".journal")
    path.write_text('{"event": "started", "step": "deal", "action": "addDeal", "at": "t"}\n{"event": "do')
    journal = Journal(path)
    step = type("Step", (), {"id": "read", "action": "getDeal"})()
    journal.started(step)
    journal.done(step, {"action": "getDeal", "result": {"id": 7}})
    state = Journal(path).read()
    assert state.finished == {"read": {"action": "getDeal", "result": {"id": 7}}}
    assert state.in_flight is None


def test_crash_after_delivery_only_cleans_up(live, sandbox, folders):
    claimed = claim_with_journal(folders, "delivered", [])
    (folders[1] / "success").mkdir(parents=True)
    (folders[1] / "success" / "delivered.json").write_text("{}")
    make_folder(live, folders).run(once=True)
    assert not claimed.exists() and (folders[1] / "success" / "delivered.json").read_text() == "{}"
    assert "delivered" not in deal_titles(sandbox)


def test_attachments_travel_with_the_job(live, folders):
    inbox, out = folders
    (inbox / "scan.pdf").write_bytes(b"%PDF-1.4")
    (inbox / "with-file.json").write_text(
        json.dumps({"data": {"title": "attach"}, "files": [{"name": "scan.pdf", "path": "scan.pdf"}]})
    )
    flow = Flow.from_dict(
        {
            "steps": [
                {"id": "deal", "action": "addDeal", "inputs": {"title": "{{ job.data.title }}"}},
                {
                    "id": "file",
                    "action": "addFile",
                    "inputs": {"entityType": "deal", "entityId": "{{ steps.deal.result.id }}"},
                },
            ]
        },
        live,
    )
    HotFolder(live, flow, inbox, out, settings=WatchSettings(settle=0)).run(once=True)
    job = json.loads((out / "success" / "with-file.json").read_text())
    assert job["files"][0]["path"] == "with-file.files/scan.pdf"
    assert (out / "success" / "with-file.files" / "scan.pdf").read_bytes() == b"%PDF-1.4"
    assert not (inbox / "scan.pdf").exists()


def test_sigterm_finishes_in_flight_jobs_and_exits_cleanly(sandbox, folders, tmp_path):
    import signal
    import subprocess
    import time

    from .conftest import watch_command

    inbox, out = folders
    for i in range(40):
        drop(inbox, f"term-{i:02}", f"term deal {i}")
    command, env = watch_command(sandbox.base_url, FLOW, tmp_path, inbox, out, "--workers", "2")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not list((out / "success").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert json.loads(stdout)["success"] >= 1
    assert not list((inbox / ".processing").glob("*.json"))  # nothing left half-done
    done = set(routed(out))
    waiting = {p.stem for p in inbox.glob("*.json")}
    assert done | waiting == {f"term-{i:02}" for i in range(40)} and not done & waiting
