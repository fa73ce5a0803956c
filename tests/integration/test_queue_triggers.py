"""`listen --queue` and `poll --queue`: trigger events become queued jobs for workers, each once.

Real redis-server, sandbox, listener, poller and worker processes on loopback; every wait bounded.
A crash between an event on disk and its job in Redis is made certain by freezing Redis (SIGSTOP)
while the listener sends, then killing the listener."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import redis

from pipedrive_connect.flows import Flow
from pipedrive_connect.queue import Queue, connect
from pipedrive_connect.sandbox import Sandbox

from ..conftest import SANDBOX_TOKEN
from . import test_queue, test_triggers
from .test_queue import CLI, tenant, wait_routed
from .test_triggers import NOTE_FLOW, api, env_for, free_port, wait_for

# the fixtures of the two suites this one joins
redis_server, hooked, listeners = test_queue.redis_server, test_triggers.hooked, test_triggers.listeners


def start_worker(url: str, tenants: Path, out: Path) -> subprocess.Popen:
    command = [*CLI, "worker", "--queue", url, "--connections", str(tenants), "--out", str(out), "--quiet"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_worker(worker: subprocess.Popen) -> dict:
    """SIGTERM, then its counts (success, error, dropped: messages of jobs already routed)."""
    worker.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = worker.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate(timeout=10)
        raise AssertionError("the worker did not stop") from None
    assert worker.returncode == 0, stderr[-2000:]
    return json.loads(stdout)


def queued_jobs(url: str) -> dict[str, dict]:
    """Job id -> the job stored in Redis for the workers."""
    client = redis.Redis.from_url(url)
    prefix = b"pipedrive-connect:job:"
    return {k[len(prefix) :].decode(): json.loads(client.hget(k, "job")) for k in client.keys(prefix + b"*")}


def messages(url: str) -> int:
    """Messages sent and not yet consumed, over every flow queue of the broker."""
    client = redis.Redis.from_url(url)
    return sum(client.hlen(k) for k in client.keys(b"pipedrive-connect-queue:*.msgs"))


def notes_on(sandbox: Sandbox, deal_id: int) -> int:
    return sum(1 for note in sandbox.store.rows("notes") if note.get("deal_id") == deal_id)


def test_a_job_id_sent_again_after_a_crash_is_not_sent_twice(redis_server):
    """The forward path's resend (same journalled id) finds the job sent: no second message."""
    flow = {"name": "Resent", "steps": NOTE_FLOW["steps"]}
    queue = Queue(connect(redis_server.url))
    for _ in range(2):
        queue.enqueue(flow, Flow.from_dict(flow), {"data": {"n": 1}}, job_id="event-1-abc")
    assert messages(redis_server.url) == 1 and list(queued_jobs(redis_server.url)) == ["event-1-abc"]


def test_a_deal_created_on_the_sandbox_reaches_a_worker_through_listen_queue(hooked, listeners, redis_server, tmp_path):
    tenants, worker_out = tmp_path / "secrets" / "tenants", tmp_path / "worker-out"
    tenant(tenants, "acme", SANDBOX_TOKEN, hooked.base_url)
    listener = listeners(hooked, tmp_path, NOTE_FLOW, None, "--queue", redis_server.url, "--tenant", "acme")
    worker = start_worker(redis_server.url, tenants, worker_out)
    try:
        deal = api(hooked, "POST", "/api/v2/deals", json={"title": "Queued order"})
        routed = wait_routed(worker_out, 1, 60)
    finally:
        counts = stop_worker(worker)
    assert list(routed.values()) == [["success"]]
    (job_id,) = routed
    job = json.loads((worker_out / "success" / f"{job_id}.json").read_text())
    assert job["data"]["data"]["id"] == deal["id"] and job["metadata"]["trigger"]["source"] == "webhook"
    assert job["steps"]["note"]["result"]["deal_id"] == deal["id"]
    assert notes_on(hooked, deal["id"]) == 1
    assert counts["success"] == 1 and counts["dropped"] == 0
    assert listener.stop() == 0
    assert not listener.routed() and not listener.queued(), "nothing ran or waits in the listener's folder"
    assert list(queued_jobs(redis_server.url)) == [job_id]


def test_poll_queue_once_enqueues_each_changed_record_once(redis_server, tmp_path):
    count = 40
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"name": "Polled deals", "steps": NOTE_FLOW["steps"]}))
    with Sandbox(token=SANDBOX_TOKEN, seed=7, generate={"deals": count}) as sandbox:
        command = [*CLI, "poll", "--flow", str(flow), "--out", str(tmp_path / "out"), "--entity", "deals", "--once"]
        command += ["--quiet", "--queue", redis_server.url, "--tenant", "acme"]
        first = subprocess.run(command, env=env_for(sandbox), capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr[-2000:]
        summary = json.loads(first.stdout)
        assert summary["polled"]["queued"] == count and summary["queued"] == count
        jobs = queued_jobs(redis_server.url)
        deal_ids = {row["id"] for row in sandbox.store.rows("deals")}
        assert sorted(j["data"]["data"]["id"] for j in jobs.values()) == sorted(deal_ids)
        assert messages(redis_server.url) == count

        again = subprocess.run(command, env=env_for(sandbox), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr[-2000:]
        assert json.loads(again.stdout)["polled"]["queued"] == 0 and "queued" not in json.loads(again.stdout)
        assert queued_jobs(redis_server.url).keys() == jobs.keys() and messages(redis_server.url) == count
        assert not sandbox.store.rows("notes"), "nothing ran in the poller"
    assert not list((tmp_path / "out" / "inbox").glob("*.json"))


def forwarding(out: Path) -> dict[str, str]:
    """Claimed event file -> the queue job id journalled before sending it."""
    found = {}
    for journal in (out / "inbox" / ".processing").glob("*.journal"):
        for line in journal.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("event") == "forwarding":
                found[journal.stem] = entry["id"]
    return found


def test_a_listener_killed_while_sending_to_redis_enqueues_each_event_once_after_restart(
    hooked, listeners, redis_server, tmp_path
):
    tenants, worker_out = tmp_path / "secrets" / "tenants", tmp_path / "worker-out"
    tenant(tenants, "acme", SANDBOX_TOKEN, hooked.base_url)
    port, extra = free_port(), ("--queue", redis_server.url, "--tenant", "acme")
    first = listeners(hooked, tmp_path, NOTE_FLOW, port, *extra)
    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)  # the listener's sends now wait for an answer that never comes
    try:
        deals = [api(hooked, "POST", "/api/v2/deals", json={"title": f"Order {i}"})["id"] for i in range(3)]
        wait_for(lambda: hooked.stats()["webhooks"].get("delivered", 0) >= 3, what="every event acknowledged")
        sent = wait_for(lambda: len(forwarding(first.out)) == 3 and forwarding(first.out), what="3 jobs being sent")
        first.stop(signal.SIGKILL)
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    second = listeners(hooked, tmp_path, NOTE_FLOW, port, *extra)
    wait_for(lambda: not second.queued(), what="the interrupted jobs sent again")
    worker = start_worker(redis_server.url, tenants, worker_out)
    try:
        routed = wait_routed(worker_out, 3, 60)
    finally:
        counts = stop_worker(worker)
    assert sorted(routed) == sorted(sent.values()), "sent again under the ids journalled before the crash"
    assert all(routes == ["success"] for routes in routed.values())
    assert sorted(queued_jobs(redis_server.url)) == sorted(sent.values())
    assert [notes_on(hooked, d) for d in deals] == [1, 1, 1]
    assert counts["success"] == 3 and counts["dropped"] == 0, counts
    assert second.stop() == 0
