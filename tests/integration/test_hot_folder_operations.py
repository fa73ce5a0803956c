"""The hot folder under what operators and producers actually do (issue 9): re-drops, bad files,
files still being written, shared and hostile attachments, two runners, a full disk, outages.

Every test runs the real runner against the sandbox over loopback and looks at the folders."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipedrive_connect.cli import main
from pipedrive_connect.client import RetrySettings
from pipedrive_connect.connection import Connection
from pipedrive_connect.flows import Flow
from pipedrive_connect.jobstore import FolderStore, Journal
from pipedrive_connect.runner import HotFolder, WatchSettings, configure_logging
from pipedrive_connect.runtime import Runtime

from ..conftest import SANDBOX_TOKEN
from .conftest import connect, watch_command

CREATE = {"steps": [{"id": "deal", "action": "addDeal", "inputs": {"title": "{{ job.data.title }}"}}]}
CREATE_AND_READ = {
    "steps": [
        {"id": "deal", "action": "addDeal", "inputs": {"title": "{{ job.data.title }}"}},
        {"id": "read", "action": "getDeal", "inputs": {"id": "{{ steps.deal.result.id }}"}},
    ]
}
UPLOAD = {
    "steps": [
        {"id": "deal", "action": "addDeal", "inputs": {"title": "{{ job.data.title }}"}},
        {"id": "file", "action": "addFile", "inputs": {"entityType": "deal", "entityId": "{{ steps.deal.result.id }}"}},
    ]
}


@pytest.fixture
def inbox(tmp_path) -> Path:
    path = tmp_path / "in"
    path.mkdir()
    return path


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "out"


def folder(runtime, inbox, out, flow=CREATE, **settings) -> HotFolder:
    settings.setdefault("settle", 0)
    settings.setdefault("workers", 2)
    return HotFolder(runtime, Flow.from_dict(flow, runtime), inbox, out, settings=WatchSettings(**settings))


def drop(inbox: Path, name: str, job: dict | str | bytes) -> Path:
    path = inbox / name
    data = job if isinstance(job, bytes) else (job if isinstance(job, str) else json.dumps(job)).encode()
    path.write_bytes(data)
    return path


def outputs(out: Path, route: str) -> dict[str, dict]:
    return {
        p.stem: json.loads(p.read_text())
        for p in sorted((out / route).glob("*.json"))
        if not p.name.endswith(".reason.json")
    }


def titles(sandbox) -> list[str]:
    return [d["title"] for d in sandbox.store.rows("deals")]


# ---- 1. re-dropping --------------------------------------------------------------------------
def test_a_redropped_name_is_a_new_job_and_no_output_is_overwritten(live, sandbox, inbox, out):
    drop(inbox, "order.json", {"data": {"title": "first order"}})
    folder(live, inbox, out).run(once=True)
    first = (out / "success" / "order.json").read_bytes()
    drop(inbox, "order.json", {"data": {"title": "second order"}})
    folder(live, inbox, out).run(once=True)
    done = outputs(out, "success")
    assert set(done) == {"order", "order-2"}
    assert (out / "success" / "order.json").read_bytes() == first
    assert done["order"]["input"] == {"file": "order.json", "run": "order"}
    assert done["order-2"]["input"] == {"file": "order.json", "run": "order-2"}
    assert done["order-2"]["steps"]["deal"]["result"]["title"] == "second order"
    assert titles(sandbox).count("first order") == 1 and titles(sandbox).count("second order") == 1


def test_the_readme_advice_for_outcome_unknown_works_drop_the_job_back(live, sandbox, inbox, out):
    """A create in flight at a crash is outcome_unknown; dropping that error output back runs the
    job again: steps that had finished are not repeated, the unknown one is run."""
    store = FolderStore(inbox, out)
    created = live.run("addDeal", inputs={"title": "made before the crash"}).result
    drop(inbox, "crashed.json", {"data": {"title": "after the crash"}})
    claim = store.claim(inbox / "crashed.json")
    claim.journal.append({"event": "started", "step": "deal", "action": "addDeal", "at": "t"})
    claim.journal.append({"event": "done", "step": "deal", "record": {"action": "addDeal", "result": created}})
    claim.journal.append({"event": "started", "step": "read", "action": "addNote", "at": "t"})
    store.let_go(claim)  # the runner died here
    flow = {
        "steps": [
            CREATE_AND_READ["steps"][0],
            {"id": "read", "action": "getDeal", "inputs": {"id": "{{ steps.deal.result.id }}"}},
        ]
    }
    folder(live, inbox, out, flow).run(once=True)
    error = outputs(out, "error")["crashed"]
    assert error["error"]["type"] == "outcome_unknown"
    shutil.copy(out / "error" / "crashed.json", inbox / "crashed.json")  # what the README says to do
    folder(live, inbox, out, flow).run(once=True)
    again = outputs(out, "success")["crashed-2"]
    assert again["steps"]["read"]["result"]["id"] == created["id"]
    assert titles(sandbox).count("made before the crash") == 1 and "after the crash" not in titles(sandbox)
    assert outputs(out, "error")["crashed"] == error  # the earlier output is untouched


def test_a_job_in_flight_shares_nothing_with_a_redrop_of_its_name(live, sandbox, inbox, out):
    store = FolderStore(inbox, out)
    drop(inbox, "same.json", {"data": {"title": "in flight"}})
    in_flight = store.claim(inbox / "same.json")  # owned by a live runner (this test)
    drop(inbox, "same.json", {"data": {"title": "dropped again"}})
    flow = {
        "steps": [
            {"id": "deal", "action": "addDeal", "inputs": {"title": "{{ job.data.title }}", "debugRequest": True}}
        ]
    }
    folder(live, inbox, out, flow).run(once=True)
    assert in_flight.path.exists()  # untouched, not taken over
    assert not in_flight.journal.path.exists()  # nothing was written for it by the other run
    assert set(outputs(out, "success")) == {"same-2"}
    assert (out / "log" / "same-2" / "deal-debug.json").is_file() and not (out / "log" / "same").exists()
    assert titles(sandbox).count("dropped again") == 1 and "in flight" not in titles(sandbox)
    store.release(in_flight)


# ---- 2. bad files are never destroyed; outputs can be re-dropped; requeue --------------------------
@pytest.mark.parametrize(
    "name, payload, reason",
    [
        ("not-json.json", b"{ not json", "not valid JSON"),
        ("unknown-keys.json", b'{"data": {}, "dta": {}}', "unknown job keys: dta"),
        ("latin1.json", '{"data": {"title": "Köln"}}'.encode("latin-1"), "not UTF-8"),
        ("array.json", b"[1, 2]", "must be a JSON object"),
        ("bad-id.json", b'{"id": "../../escape", "data": {}}', "job id"),
        ("bad-files.json", b'{"data": {}, "files": 7}', "'files' must be a JSON array"),
    ],
)
def test_a_bad_job_file_goes_to_error_byte_for_byte_with_its_reason(live, inbox, out, name, payload, reason):
    drop(inbox, name, payload)
    stats = folder(live, inbox, out).run(once=True)
    stem = name[:-5]
    assert (out / "error" / name).read_bytes() == payload
    note = json.loads((out / "error" / f"{stem}.reason.json").read_text())
    assert note["error"]["type"] == "input" and reason in note["error"]["message"]
    assert note["input"] == {"file": name, "run": stem} and note["quarantined"] == name
    assert stats.quarantined == 1 and not list(inbox.glob("*.json"))


def test_a_byte_order_mark_is_accepted(live, sandbox, inbox, out):
    drop(inbox, "bom.json", b"\xef\xbb\xbf" + json.dumps({"data": {"title": "with a BOM"}}).encode())
    folder(live, inbox, out).run(once=True)
    assert "bom" in outputs(out, "success") and "with a BOM" in titles(sandbox)


def test_an_error_output_dropped_back_is_a_valid_job(live, sandbox, inbox, out):
    drop(inbox, "needs-fix.json", {"data": {}})  # no title: addDeal refuses it
    folder(live, inbox, out).run(once=True)
    failed = out / "error" / "needs-fix.json"
    job = json.loads(failed.read_text())
    assert job["error"]["input"] == "title" and "log" in job and "input" in job
    job["data"]["title"] = "fixed by hand"
    drop(inbox, "needs-fix.json", job)
    folder(live, inbox, out).run(once=True)
    assert outputs(out, "success")["needs-fix-2"]["steps"]["deal"]["result"]["title"] == "fixed by hand"


def test_requeue_starts_over_or_resumes_at_the_failed_step(live, sandbox, inbox, out, capsys):
    flow = {
        "steps": [CREATE["steps"][0], {"id": "read", "action": "getDeal", "inputs": {"id": "{{ job.data.readId }}"}}]
    }
    drop(inbox, "two-steps.json", {"data": {"title": "requeued deal", "readId": 999999}})
    folder(live, inbox, out, flow).run(once=True)
    failed = out / "error" / "two-steps.json"
    assert json.loads(failed.read_text())["error"]["type"] == "not_found"
    assert main(["requeue", str(failed), "--in", str(inbox), "--resume"]) == 0
    assert "goes on at the failed step" in capsys.readouterr().out
    queued = json.loads((inbox / "two-steps.json").read_text())
    assert set(queued) == {"id", "data", "metadata", "steps"} and "deal" in queued["steps"]
    queued["data"]["readId"] = queued["steps"]["deal"]["result"]["id"]
    drop(inbox, "two-steps.json", queued)
    folder(live, inbox, out, flow).run(once=True)
    assert titles(sandbox).count("requeued deal") == 1  # the finished create was not repeated
    assert outputs(out, "success")["two-steps-2"]["steps"]["read"]["result"]["title"] == "requeued deal"
    assert main(["requeue", str(failed), "--in", str(inbox)]) == 0  # start over: no steps travel
    assert "steps" not in json.loads((inbox / "two-steps.json").read_text())


def test_requeue_carries_attachments_and_refuses_what_is_not_a_routed_job(live, inbox, out, tmp_path, capsys):
    drop(inbox, "scan.pdf", b"%PDF-1.4 scan")
    drop(inbox, "with-file.json", {"data": {}, "files": [{"name": "scan.pdf", "path": "scan.pdf"}]})
    folder(live, inbox, out, UPLOAD).run(once=True)  # no title: error, with its attachment beside it
    again = tmp_path / "again"
    again.mkdir()
    assert main(["requeue", str(out / "error" / "with-file.json"), "--in", str(again)]) == 0
    queued = json.loads((again / "with-file.json").read_text())
    assert (again / queued["files"][0]["path"]).read_bytes() == b"%PDF-1.4 scan"
    drop(inbox, "junk.json", b"{oops")
    folder(live, inbox, out).run(once=True)
    assert main(["requeue", str(out / "error" / "junk.reason.json"), "--in", str(again)]) == 2
    assert "fix that file" in capsys.readouterr().err


# ---- 3. files still being written ------------------------------------------------------------------
def slow_writer(path: Path, content: bytes, chunk: int, pause: float) -> threading.Thread:
    """A producer writing `path` a chunk at a time, as a slow upload or a network share would."""
    path.write_bytes(b"")

    def produce() -> None:
        with path.open("wb") as fh:
            for i in range(0, len(content), chunk):
                fh.write(content[i : i + chunk])
                fh.flush()
                time.sleep(pause)

    writer = threading.Thread(target=produce)
    writer.start()
    return writer


def test_a_file_still_being_written_is_not_taken_even_with_once(live, sandbox, inbox, out):
    writer = slow_writer(inbox / "slow.json", json.dumps({"data": {"title": "written slowly"}}).encode(), 8, 0.05)
    stats = folder(live, inbox, out, settle=0.6).run(once=True)
    writer.join()
    assert stats.quarantined == 0 and "slow" in outputs(out, "success")
    assert "written slowly" in titles(sandbox)


def test_an_attachment_still_being_written_is_waited_for(live, sandbox, inbox, out):
    content = b"%PDF-1.4\n" + b"x" * 4000
    drop(inbox, "late-file.json", {"data": {"title": "late file"}, "files": [{"name": "big.pdf", "path": "big.pdf"}]})
    writer = slow_writer(inbox / "big.pdf", content, 500, 0.06)
    folder(live, inbox, out, UPLOAD, settle=0.4).run(once=True)
    writer.join()
    assert (out / "success" / "late-file.files" / "big.pdf").read_bytes() == content
    uploaded = sandbox.store.rows("files")[-1]
    assert uploaded["file_size"] == len(content)


# ---- 4. attachments are the job's own ----------------------------------------------------------------
def test_attachments_in_subfolders_resolve_against_the_inbox(live, inbox, out):
    (inbox / "scans").mkdir()
    drop(inbox / "scans", "a.pdf", b"%PDF sub")
    drop(inbox, "sub.json", {"data": {"title": "sub"}, "files": [{"name": "a.pdf", "path": "scans/a.pdf"}]})
    folder(live, inbox, out, UPLOAD).run(once=True)
    assert (out / "success" / "sub.files" / "a.pdf").read_bytes() == b"%PDF sub"
    assert not (inbox / "scans" / "a.pdf").exists()


@pytest.mark.parametrize("path", ["/etc/passwd", "../secret.txt", "link-out.pdf", "/dev/zero", "/proc/self/environ"])
def test_attachments_outside_the_inbox_are_refused(live, sandbox, inbox, out, tmp_path, path):
    (tmp_path / "secret.txt").write_text("TOKEN=do-not-upload")
    (inbox / "link-out.pdf").symlink_to(tmp_path / "secret.txt")
    drop(inbox, "hostile.json", {"data": {"title": "hostile"}, "files": [{"name": "x", "path": path}]})
    folder(live, inbox, out, UPLOAD).run(once=True)
    error = outputs(out, "error")["hostile"]["error"]
    assert error["type"] == "input" and "files[0]" in error["message"]
    assert "--allow-files-from" in error["message"] or "not a regular file" in error["message"]
    assert not sandbox.store.rows("files") and "hostile" not in titles(sandbox)
    assert (tmp_path / "secret.txt").exists()


def test_an_allowed_root_lets_attachments_in(live, inbox, out, tmp_path):
    shared = tmp_path / "shared-scans"
    shared.mkdir()
    (shared / "catalog.pdf").write_bytes(b"%PDF shared")
    drop(
        inbox,
        "allowed.json",
        {"data": {"title": "allowed"}, "files": [{"name": "catalog.pdf", "path": str(shared / "catalog.pdf")}]},
    )
    folder(live, inbox, out, UPLOAD, allow_files_from=[shared]).run(once=True)
    assert "allowed" in outputs(out, "success")
    assert (shared / "catalog.pdf").exists()  # never removed: it is not the inbox's


def test_a_file_input_from_job_data_cannot_read_outside_the_roots(live, sandbox, inbox, out, tmp_path):
    (tmp_path / "token.txt").write_text("secret")
    flow = {
        "steps": [
            {
                "id": "file",
                "action": "addFile",
                "inputs": {"entityType": "deal", "entityId": 1, "file": "{{ job.data.path }}"},
            }
        ]
    }
    drop(inbox, "steal.json", {"data": {"path": str(tmp_path / "token.txt")}})
    folder(live, inbox, out, flow).run(once=True)
    error = outputs(out, "error")["steal"]["error"]
    assert error["type"] == "input" and error["input"] == "file" and not sandbox.store.rows("files")


def test_clean_up_never_removes_what_another_pending_job_needs(live, inbox, out):
    drop(inbox, "shared.pdf", b"%PDF shared by two")
    drop(inbox, "a.json", {"data": {"title": "a"}, "files": [{"name": "s.pdf", "path": "shared.pdf"}]})
    drop(inbox, "b.json", {"data": {"title": "b"}, "files": [{"name": "s.pdf", "path": "shared.pdf"}]})
    hot = folder(live, inbox, out, UPLOAD, workers=1)
    b = hot.store.claim(inbox / "b.json")  # b waits, claimed by a live runner, while a is done
    hot.run(once=True)
    assert "a" in outputs(out, "success") and (inbox / "shared.pdf").exists()  # b still needs it
    hot.store.let_go(b)
    folder(live, inbox, out, UPLOAD).run(once=True)
    assert "b" in outputs(out, "success") and not (inbox / "shared.pdf").exists()  # the last one cleans up


def test_clean_up_never_removes_another_job_file_or_anything_outside_the_inbox(live, inbox, out, tmp_path):
    store = FolderStore(inbox, out)
    drop(inbox, "c.json", {"data": {}, "files": [{"path": "d.json"}]})
    drop(inbox, "d.json", {"data": {"title": "d"}})
    (tmp_path / "elsewhere.pdf").write_bytes(b"%PDF")
    (inbox / "scans").mkdir()
    drop(inbox / "scans", "own.pdf", b"%PDF own")
    claim = store.claim(inbox / "c.json")
    candidates = [inbox / "d.json", tmp_path / "elsewhere.pdf", inbox / "scans" / "own.pdf"]
    assert store.removable(claim, candidates) == [inbox / "scans" / "own.pdf"]


def test_attachment_size_is_bounded(live, inbox, out):
    drop(inbox, "large.pdf", b"x" * 2048)
    drop(inbox, "large.json", {"data": {"title": "large"}, "files": [{"name": "large.pdf", "path": "large.pdf"}]})
    folder(live, inbox, out, UPLOAD, max_attachment_bytes=1024).run(once=True)
    error = outputs(out, "error")["large"]["error"]
    assert error["type"] == "input" and "over the limit of 1024" in error["message"]


# ---- 5. a job id is never a path -------------------------------------------------------------------------
def test_run_job_refuses_a_path_as_job_id_and_keeps_logs_under_out(sandbox, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIPEDRIVE_API_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("PIPEDRIVE_BASE_URL", sandbox.base_url)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"id": "../../outside", "data": {}}))
    assert main(["run", "getDeals", "--job", str(job), "--out", str(tmp_path / "out")]) == 2
    assert "job id" in capsys.readouterr().err
    job.write_text(json.dumps({"id": "order 7", "data": {}}))
    assert (
        main(["run", "getDeals", "--job", str(job), "--out", str(tmp_path / "out"), "--input", "debugRequest=true"])
        == 0
    )
    assert (tmp_path / "out" / "log" / "order 7" / "getDeals-debug.json").is_file()
    assert not (tmp_path / "outside").exists()


# ---- 6. two runners on one folder -----------------------------------------------------------------------------
def test_two_runners_in_one_process_never_duplicate(bundle, sandbox, inbox, out, tmp_path):
    for i in range(40):
        drop(inbox, f"pair-{i:02}.json", {"data": {"title": f"pair {i}"}})
    runners = [folder(Runtime(bundle, connect(sandbox), out_dir=out), inbox, out, workers=2) for _ in range(2)]
    threads = [threading.Thread(target=r.run, kwargs={"once": True}) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outputs(out, "success")) == [f"pair-{i:02}" for i in range(40)]
    assert all(titles(sandbox).count(f"pair {i}") == 1 for i in range(40))
    assert sum(r.stats.success for r in runners) == 40


def test_two_watch_processes_on_one_inbox_never_duplicate(sandbox, inbox, out, tmp_path):
    for i in range(40):
        drop(inbox, f"proc-{i:02}.json", {"data": {"title": f"proc {i}"}})
    settings = ["--once", "--settle", "0", "--workers", "2"]
    command, env = watch_command(sandbox.base_url, CREATE, tmp_path, inbox, out, *settings)
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert sorted(outputs(out, "success")) == [f"proc-{i:02}" for i in range(40)]
    assert all(titles(sandbox).count(f"proc {i}") == 1 for i in range(40))
    assert all("Traceback" not in err for _, err in results)


def test_recovery_takes_over_only_claims_whose_owner_is_gone(live, sandbox, inbox, out):
    store = FolderStore(inbox, out)
    drop(inbox, "owned.json", {"data": {"title": "owned elsewhere"}})
    claim = store.claim(inbox / "owned.json")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time\n"
                f"fd = os.open({str(store.processing / 'owned.lock')!r}, os.O_RDWR)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    store.let_go(claim)  # this process gives it up; the other process now holds it
    assert holder.stdout.readline().strip() == "locked"
    try:
        hot = folder(live, inbox, out)
        assert hot.recover() == []  # a live owner: not taken over
        hot.run(once=True)
        assert claim.path.exists() and not outputs(out, "success")
    finally:
        holder.kill()
        holder.wait()
    hot = folder(live, inbox, out)
    hot.run(once=True)  # the owner is gone now: provably, its lock is free
    assert "owned" in outputs(out, "success") and hot.stats.recovered == 1
    assert titles(sandbox).count("owned elsewhere") == 1


# ---- 7. full disk, read-only output, durable renames -------------------------------------------------------------
@pytest.mark.slow
def test_a_failed_journal_write_after_a_create_pauses_and_never_repeats_it(live, sandbox, inbox, out, monkeypatch):
    failures = {"left": 3}
    original = Journal._write

    def flaky(self, line, sync):
        if b'"event": "done"' in line and failures["left"]:
            failures["left"] -= 1
            self.path.open("ab").write(line[:10])  # half a line made it to disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, line, sync)

    monkeypatch.setattr(Journal, "_write", flaky)
    events = []
    hot = folder(live, inbox, out, CREATE_AND_READ)
    handler = logging.Handler()
    handler.emit = lambda record: events.append(getattr(record, "event", ""))
    logging.getLogger("pipedrive_connect.runner").addHandler(handler)
    try:
        drop(inbox, "disk.json", {"data": {"title": "written once"}})
        hot.run(once=True)
    finally:
        logging.getLogger("pipedrive_connect.runner").removeHandler(handler)
    assert failures["left"] == 0 and "paused" in events and "resumed" in events
    assert titles(sandbox).count("written once") == 1 and "disk" in outputs(out, "success")


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system (tmpfs) for the output folder; needs root, as CI has."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_pauses_the_runner_and_it_goes_on_once_there_is_space(live, sandbox, inbox, small_disk):
    out = small_disk / "out"
    hot = folder(live, inbox, out)
    filler = small_disk / "filler"
    with filler.open("wb", buffering=0) as fh:  # fill the disk to the last block
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    drop(inbox, "full.json", {"data": {"title": "disk was full"}})
    runner = threading.Thread(target=hot.run, kwargs={"once": True})
    runner.start()
    deadline = time.monotonic() + 20
    while "disk" not in hot._pauses and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "disk" in hot._pauses and "No space left" in hot._pauses["disk"]
    filler.unlink()  # the operator frees space
    runner.join(timeout=30)
    assert not runner.is_alive() and "full" in outputs(out, "success")
    assert titles(sandbox).count("disk was full") == 1


def test_a_read_only_output_pauses_the_runner(live, sandbox, inbox, small_disk):
    out = small_disk / "out"
    hot = folder(live, inbox, out)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    drop(inbox, "ro.json", {"data": {"title": "read-only output"}})
    runner = threading.Thread(target=hot.run, kwargs={"once": True})
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while "disk" not in hot._pauses and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Read-only file system" in hot._pauses.get("disk", "")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    runner.join(timeout=30)
    assert "ro" in outputs(out, "success") and titles(sandbox).count("read-only output") == 1


def test_claims_and_outputs_are_made_durable_by_syncing_their_folders(live, inbox, out, monkeypatch):
    import pipedrive_connect.jobs as jobs
    import pipedrive_connect.jobstore as jobstore

    synced = []
    real = jobs.fsync_dir

    def spy(path):
        synced.append(Path(path))
        real(path)

    monkeypatch.setattr(jobs, "fsync_dir", spy)
    monkeypatch.setattr(jobstore, "fsync_dir", spy)
    drop(inbox, "durable.json", {"data": {"title": "durable"}})
    hot = folder(live, inbox, out)
    hot.run(once=True)
    assert hot.store.processing in synced and hot.store.out_dir / "success" in synced


def test_a_delivery_is_acknowledged_only_after_its_folder_is_synced(live, sandbox, inbox, out, monkeypatch):
    """A power cut between writing the output and syncing its folder (here: that fsync fails): the
    input stays claimed, so nothing is lost, and the next start delivers it once without creating
    it again."""
    import pipedrive_connect.jobs as jobs

    real = jobs.fsync_dir

    def failing(folder: Path) -> None:
        if Path(folder).name == "success":
            raise OSError(errno.EINVAL, "injected: power cut before the folder reached the disk")
        real(folder)

    monkeypatch.setattr(jobs, "fsync_dir", failing)
    for i in range(4):
        drop(inbox, f"sync-{i}.json", {"data": {"title": f"synced {i}"}})
    hot = folder(live, inbox, out, workers=4)
    hot.run(once=True)
    assert sorted(p.name for p in hot.store.processing.glob("*.json")) == [f"sync-{i}.json" for i in range(4)]
    monkeypatch.undo()
    folder(live, inbox, out).run(once=True)
    assert sorted(outputs(out, "success")) == [f"sync-{i}" for i in range(4)]
    assert not list(hot.store.processing.iterdir())
    assert all(titles(sandbox).count(f"synced {i}") == 1 for i in range(4))


# ---- 8. one poisoned file never stops the folder ------------------------------------------------------------------
def test_poisoned_files_are_quarantined_and_the_rest_goes_on(live, sandbox, inbox, out, tmp_path):
    long_name = "x" * 240 + ".json"
    drop(inbox, long_name, {"data": {"title": "long name"}})
    (inbox / "folder.json").mkdir()
    drop(inbox, "deep.json", b"[" * 100_000 + b"]" * 100_000)
    os.mkfifo(inbox / "pipe.json")
    (tmp_path / "target.json").write_text(json.dumps({"data": {"title": "via symlink"}}))
    (inbox / "link.json").symlink_to(tmp_path / "target.json")
    drop(inbox, "good.json", {"data": {"title": "good one"}})
    stats = folder(live, inbox, out).run(once=True)
    reasons = {
        p.name[: -len(".reason.json")]: json.loads(p.read_text())["error"]["message"]
        for p in (out / "error").glob("*.reason.json")
    }
    assert set(reasons) == {"folder", "deep", "pipe", "link"}
    assert "folder" in reasons["folder"] and "too deeply" in reasons["deep"]
    assert "pipe" in reasons["pipe"] and "symbolic link" in reasons["link"]
    assert (out / "error" / "folder.json").is_dir() and (out / "error" / "link.json").is_symlink()
    assert "good one" in titles(sandbox) and "long name" in titles(sandbox)
    assert "via symlink" not in titles(sandbox)
    assert stats.quarantined == 4 and stats.success == 2
    assert not [p for p in inbox.iterdir() if p.name != ".processing"]


def test_recovery_at_start_up_carries_on_past_a_poisoned_claim(live, sandbox, inbox, out):
    processing = inbox / ".processing"
    processing.mkdir()
    (processing / "poison.json").write_bytes(b"\xff\xfe not a job")
    (processing / "fine.json").write_text(json.dumps({"data": {"title": "recovered fine"}}))
    stats = folder(live, inbox, out).run(once=True)
    assert stats.quarantined == 1 and stats.recovered == 2
    assert "recovered fine" in titles(sandbox)


def test_watch_prints_no_traceback_for_poisoned_files(sandbox, inbox, out, tmp_path):
    (inbox / "dir.json").mkdir()
    drop(inbox, "deep.json", b'{"a":' * 50_000)
    drop(inbox, "bad.json", b"\x00\x01")
    command, env = watch_command(sandbox.base_url, CREATE, tmp_path, inbox, out, "--once", "--settle", "0")
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["quarantined"] == 3
    assert done.stderr.count("not a valid job") == 3


# ---- 9. outages and revoked tokens don't empty the inbox -------------------------------------------------------------
@pytest.fixture
def fragile(bundle, sandbox, out) -> Runtime:
    """A runtime whose client does not retry, so an outage reaches the runner at once."""
    return Runtime(bundle, connect(sandbox), out_dir=out, retry=RetrySettings.none())


@pytest.mark.slow
def test_an_outage_holds_jobs_and_they_go_through_when_it_ends(fragile, sandbox, inbox, out):
    for i in range(4):
        drop(inbox, f"outage-{i}.json", {"data": {"title": f"outage {i}"}})
    hot = folder(fragile, inbox, out, backoff=(0.2, 0.5), probe_every=(0.1, 0.2))
    sandbox.app.fault_rate, sandbox.app.faults = 1.0, ("429",)  # every request refused, nothing applied
    runner = threading.Thread(target=hot.run, kwargs={"once": True})
    runner.start()
    deadline = time.monotonic() + 20
    while hot.stats.held < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hot.stats.held >= 4 and not outputs(out, "error")  # held, not routed to error
    sandbox.app.fault_rate = 0.0  # the service is back
    runner.join(timeout=30)
    assert sorted(outputs(out, "success")) == [f"outage-{i}" for i in range(4)]
    assert all(titles(sandbox).count(f"outage {i}") == 1 for i in range(4))


@pytest.mark.slow
def test_after_the_bound_a_held_job_goes_to_error(fragile, sandbox, inbox, out):
    drop(inbox, "gives-up.json", {"data": {"title": "never through"}})
    sandbox.app.fault_rate, sandbox.app.faults = 1.0, ("429",)
    hot = folder(fragile, inbox, out, backoff=(0.1, 0.2), retry_for=3)
    hot.run(once=True)
    error = outputs(out, "error")["gives-up"]["error"]
    assert error["type"] == "rate_limited" and hot.stats.held >= 2


def test_a_refused_token_at_start_up_pauses_without_touching_the_inbox(bundle, sandbox, inbox, out):
    wrong = Connection.from_settings(
        {"type": "apiToken", "api_token": "revoked-token-000", "base_url": sandbox.base_url}
    )
    current = {"connection": wrong}
    runtime = Runtime(bundle, wrong, out_dir=out, retry=RetrySettings.none())
    for i in range(3):
        drop(inbox, f"paused-{i}.json", {"data": {"title": f"paused {i}"}})
    hot = HotFolder(
        runtime,
        Flow.from_dict(CREATE, runtime),
        inbox,
        out,
        reconnect=lambda: current["connection"],
        settings=WatchSettings(settle=0, probe_every=(0.1, 0.2)),
    )
    runner = threading.Thread(target=hot.run, kwargs={"once": True})
    runner.start()
    deadline = time.monotonic() + 20
    while "connection" not in hot._pauses and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert "connection" in hot._pauses and "401" in hot._pauses["connection"]
    assert len(list(inbox.glob("*.json"))) == 3 and not outputs(out, "error")  # nothing claimed or failed
    current["connection"] = connect(sandbox)  # the operator fixes the connection file
    runner.join(timeout=30)
    assert sorted(outputs(out, "success")) == [f"paused-{i}" for i in range(3)]


def test_a_token_revoked_mid_run_pauses_and_holds_instead_of_failing_every_job(fragile, sandbox, inbox, out):
    for i in range(6):
        drop(inbox, f"mid-{i}.json", {"data": {"title": f"mid {i}"}})
    hot = folder(fragile, inbox, out, workers=1, probe_every=(0.1, 0.2), backoff=(0.1, 0.2))
    real_token = sandbox.app.token
    sandbox.app.token = "rotated-elsewhere"
    runner = threading.Thread(target=hot.run, kwargs={"once": True})
    runner.start()
    deadline = time.monotonic() + 20
    while "connection" not in hot._pauses and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "connection" in hot._pauses and not outputs(out, "error")
    sandbox.app.token = real_token
    runner.join(timeout=30)
    assert len(outputs(out, "success")) == 6 and not outputs(out, "error")
    assert all(titles(sandbox).count(f"mid {i}") == 1 for i in range(6))


def test_a_forbidden_record_is_the_job_s_error_not_a_pause(live, sandbox, inbox, out, monkeypatch):
    """A 403 for one job while the connection works: that job goes to error, the rest go on."""
    from pipedrive_connect.errors import StepError

    real_run = live.run

    def run(key, job=None, inputs=None, step_id=None):
        if job is not None and job.data.get("forbidden"):
            from pipedrive_connect.jobs import Outcome

            return Outcome("error", job, error=StepError("connection", "forbidden (HTTP 403)", 403))
        return real_run(key, job, inputs, step_id)

    monkeypatch.setattr(live, "run", run)
    drop(inbox, "forbidden.json", {"data": {"title": "no", "forbidden": True}})
    drop(inbox, "allowed.json", {"data": {"title": "yes"}})
    hot = folder(live, inbox, out)
    hot.run(once=True)
    assert set(outputs(out, "error")) == {"forbidden"} and set(outputs(out, "success")) == {"allowed"}
    assert not hot.paused


# ---- 10. people can see what happens -------------------------------------------------------------------------------
def test_lines_on_stderr_a_summary_and_json_events(live, sandbox, inbox, out, tmp_path, capsys):
    events_file = tmp_path / "events.jsonl"
    configure_logging(str(events_file))
    try:
        drop(inbox, "seen.json", {"data": {"title": "seen"}})
        drop(inbox, "failing.json", {"data": {}})
        folder(live, inbox, out, summary_every=0).run(once=True)
    finally:
        configure_logging(None, quiet=True)
    err = capsys.readouterr().err
    assert any(line.split()[:2] == ["seen", "success"] for line in err.splitlines())
    assert any(line.split()[:2] == ["failing", "error"] and "title" in line for line in err.splitlines())
    assert "so far:" in err
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"claimed", "step_started", "step_finished", "routed", "summary"} <= kinds
    routed = [e for e in events if e["event"] == "routed"]
    assert {e["job"]: e["route"] for e in routed} == {"seen": "success", "failing": "error"}
    assert all(SANDBOX_TOKEN not in line for line in events_file.read_text().splitlines())


def test_route_files_are_readable_by_other_accounts_and_the_mode_is_configurable(live, inbox, out):
    old = os.umask(0o077)
    try:
        drop(inbox, "readable.json", {"data": {"title": "readable"}})
        folder(live, inbox, out).run(once=True)
        assert (out / "success" / "readable.json").stat().st_mode & 0o777 == 0o644
        drop(inbox, "private.json", {"data": {"title": "private"}})
        folder(live, inbox, out, file_mode=0o640).run(once=True)
        assert (out / "success" / "private.json").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_watch_help_and_bad_options_say_what_to_fix(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    help_text = capsys.readouterr().out
    for option in ("--settle", "--retry-for", "--allow-files-from", "--log-json", "--file-mode", "requeue"):
        assert option in help_text or option == "requeue"
    (tmp_path / "in").mkdir()
    (tmp_path / "flow.json").write_text(json.dumps(CREATE))
    args = [
        "watch",
        "--flow",
        str(tmp_path / "flow.json"),
        "--in",
        str(tmp_path / "in"),
        "--out",
        str(tmp_path / "o"),
        "--once",
    ]
    env = {"PIPEDRIVE_API_TOKEN": "t0123456789", "PIPEDRIVE_BASE_URL": "http://127.0.0.1:9"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert main([*args, "--file-mode", "9z"]) == 2
        assert "--file-mode" in capsys.readouterr().err
        assert main([*args, "--allow-files-from", str(tmp_path / "missing")]) == 2
        assert "not a folder" in capsys.readouterr().err
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_429_waits_and_retries_are_events_in_the_json_log(live, sandbox, inbox, out, tmp_path):
    events_file = tmp_path / "events.jsonl"
    configure_logging(str(events_file), quiet=True)
    sandbox.app.fault_rate, sandbox.app.faults = 1.0, ("429",)

    def service_comes_back():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "rate_wait" not in events_file.read_text():
            time.sleep(0.05)
        sandbox.app.fault_rate = 0.0

    helper = threading.Thread(target=service_comes_back)
    helper.start()
    try:
        drop(inbox, "busy.json", {"data": {"title": "busy"}})
        folder(live, inbox, out, backoff=(0.1, 0.2)).run(once=True)
    finally:
        helper.join()
        configure_logging(None, quiet=True)
    waits = [json.loads(line) for line in events_file.read_text().splitlines() if '"rate_wait"' in line]
    assert waits and waits[0]["kind"] == "rate_limited" and waits[0]["path"] == "/deals"
    assert "busy" in outputs(out, "success")
