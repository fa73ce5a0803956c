"""`listen` and `poll` as processes against the sandbox over loopback: events reach success/ once.

The sandbox delivers webhooks with its time scale shortened (deadline 0.5 s, retries after
0.15/1.5/7.5 s); every wait here is bounded and the processes are stopped after each test."""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from pipedrive_connect.sandbox import Sandbox
from pipedrive_connect.sandbox.handlers.webhooks import WebhookFaults
from pipedrive_connect.triggers import CALLBACK_PATH

from ..conftest import SANDBOX_TOKEN

SCALE = 0.05
NOTE_FLOW = {
    "name": "New deals",
    "trigger": {"event": "create.deal"},
    "steps": [
        {
            "id": "note",
            "action": "addNote",
            "inputs": {"content": "Seen {{ job.data.data.title }}", "dealId": "{{ job.data.data.id }}"},
        }
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def env_for(sandbox: Sandbox) -> dict:
    return {**os.environ, "PIPEDRIVE_API_TOKEN": SANDBOX_TOKEN, "PIPEDRIVE_BASE_URL": sandbox.base_url}


class Listen:
    """`pipedrive-connect listen` as a process, ready once its JSON log says `listening` (webhooks
    registered, callback served); stopped (SIGTERM, then SIGKILL) at the end of the test."""

    def __init__(self, sandbox: Sandbox, folder: Path, flow: dict, port: int, *extra: str):
        self.sandbox, self.out, self.port = sandbox, folder / "out", port
        flow_file = folder / "flow.json"
        flow_file.write_text(json.dumps(flow))
        self.command = [sys.executable, "-m", "pipedrive_connect.cli", "listen", "--flow", str(flow_file)]
        self.log = folder / f"listen-{time.monotonic_ns()}.jsonl"
        self.command += ["--out", str(self.out), "--port", str(port), "--quiet", "--log-json", str(self.log), *extra]
        self.process: subprocess.Popen | None = None
        public = extra[extra.index("--public-url") + 1] if "--public-url" in extra else f"http://127.0.0.1:{port}"
        self.url = public + CALLBACK_PATH

    def start(self) -> Listen:
        self.process = subprocess.Popen(
            self.command, env=env_for(self.sandbox), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        wait_for(self._ready, what="listener registered and serving")
        return self

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self._output()
        return self.log.exists() and '"event": "listening"' in self.log.read_text()

    def _output(self) -> str:
        if self.process is None or self.process.poll() is None:
            return ""
        out, err = self.process.communicate(timeout=5)
        return f"listen exited {self.process.returncode}: {err.decode()[-2000:]}"

    def stop(self, sig=signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate(timeout=10)
        return self.process.returncode

    @property
    def credentials(self) -> tuple[str, str]:
        state = json.loads((self.out / ".trigger" / "listen.json").read_text())
        return state["user"], state["password"]

    def routed(self, route: str = "success") -> list[dict]:
        folder = self.out / route
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if not p.name.endswith(".reason.json")]

    def seen(self) -> int:
        path = self.out / ".trigger" / "seen.jsonl"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def queued(self) -> list[Path]:
        """Jobs waiting or running: in the inbox or claimed by the runner."""
        inbox = self.out / "inbox"
        return sorted([*inbox.glob("*.json"), *inbox.glob(".processing/*.json")]) if inbox.is_dir() else []


@pytest.fixture
def listeners():
    started: list[Listen] = []

    def make(sandbox, folder, flow, port=None, *extra) -> Listen:
        listener = Listen(sandbox, folder, flow, port or free_port(), *extra)
        started.append(listener)
        return listener.start()

    yield make
    for listener in started:
        if listener.process is not None and listener.process.poll() is None:
            listener.stop(signal.SIGKILL)


@pytest.fixture
def hooked():
    with Sandbox(token=SANDBOX_TOKEN, seed=7, webhook_time_scale=SCALE) as sandbox:
        yield sandbox


def api(sandbox: Sandbox, method: str, path: str, **kw):
    answer = requests.request(method, sandbox.base_url + path, headers={"x-api-token": SANDBOX_TOKEN}, timeout=10, **kw)
    assert answer.ok, answer.text
    return answer.json()["data"]


def deal_ids(jobs: list[dict]) -> list[int]:
    return sorted(job["data"]["data"]["id"] for job in jobs)


def test_a_deal_created_with_run_reaches_success_through_listen(hooked, listeners, tmp_path):
    listener = listeners(hooked, tmp_path, NOTE_FLOW)
    run = subprocess.run(
        [sys.executable, "-m", "pipedrive_connect.cli", "run", "addDeal", "--input", "title=Order 1042"],
        env=env_for(hooked),
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    deal_id = json.loads(run.stdout)["result"]["id"]
    (job,) = wait_for(listener.routed, what="the event routed to success/")
    assert job["data"]["data"]["id"] == deal_id and job["data"]["meta"]["action"] == "create"
    assert job["steps"]["note"]["result"]["deal_id"] == deal_id
    assert job["metadata"]["trigger"]["source"] == "webhook"
    assert listener.stop() == 0
    assert hooked.store.rows("webhooks") == [], "a clean stop removes the webhook"


def test_listen_reuses_its_webhook_after_a_restart_and_keeps_credentials_private(hooked, listeners, tmp_path):
    port = free_port()
    first = listeners(hooked, tmp_path, NOTE_FLOW, port, "--keep")
    assert first.stop() == 0
    (hook,) = hooked.store.rows("webhooks")
    state = first.out / ".trigger" / "listen.json"
    assert state.stat().st_mode & 0o777 == 0o600
    assert first.credentials[1] not in (first.out / ".trigger" / "seen.jsonl").read_text()
    lost = {"subscription_url": hook["subscription_url"], "event_action": "create", "event_object": "deal"}
    api(hooked, "POST", "/api/v1/webhooks", json={**lost, "name": "lost state", "http_auth_user": "old"})
    second = listeners(hooked, tmp_path, NOTE_FLOW, port, "--keep")
    assert [w["id"] for w in hooked.store.rows("webhooks")] == [hook["id"]], (
        "reused; the one with lost credentials gone"
    )
    api(hooked, "POST", "/api/v2/deals", json={"title": "After restart"})
    wait_for(second.routed, what="an event through the reused webhook")
    second.stop()


def test_duplicate_deliveries_and_retries_after_slow_or_failed_answers_are_processed_once(listeners, tmp_path):
    """Every event is sent twice (a sender fault); a proxy in front of the listener passes each delivery
    on, then answers the first attempt for one deal 502 and holds the other's past the deadline, so the
    sender retries events the listener already has."""
    faults = WebhookFaults(duplicate_rate=1.0)
    with Sandbox(token=SANDBOX_TOKEN, seed=7, webhook_time_scale=SCALE, webhook_faults=faults) as sandbox:
        port = free_port()
        passed: list[int] = []

        def proxy(environ, start_response):
            request = Request(environ)
            body = request.get_data()
            answer = requests.post(
                f"http://127.0.0.1:{port}{request.path}",
                data=body,
                headers={"Authorization": request.headers.get("Authorization", ""), "Content-Type": "application/json"},
                timeout=10,
            )
            passed.append(answer.status_code)
            event = json.loads(body)
            first = event["meta"]["attempt"] == 1
            if first and event["data"]["title"] == "Deal 0":
                return Response("", 502)(environ, start_response)  # stored, but the sender sees a failure
            if first and event["data"]["title"] == "Deal 1":
                time.sleep(1.5)  # stored, but answered past the 0.5 s deadline
            return Response(answer.content, answer.status_code)(environ, start_response)

        server = make_server("127.0.0.1", 0, proxy, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            public = f"http://127.0.0.1:{server.server_port}"
            listener = listeners(sandbox, tmp_path, NOTE_FLOW, port, "--public-url", public)
            for i in range(3):
                api(sandbox, "POST", "/api/v2/deals", json={"title": f"Deal {i}"})
            jobs = wait_for(lambda: len(listener.routed()) >= 3 and listener.routed(), what="three jobs")
            wait_for(lambda: sandbox.stats()["webhooks"].get("delivered", 0) >= 3, what="deliveries acknowledged")
            time.sleep(1.0)  # let any late retry arrive: it must not add a job
            stats = sandbox.stats()["webhooks"]
            assert stats["duplicated"] >= 3 and stats["retries_scheduled"] >= 2
            assert len(passed) >= 8, "each event reached the listener more than once"
            assert deal_ids(listener.routed()) == deal_ids(jobs) == sorted({d for d in deal_ids(jobs)})
            assert len(listener.routed()) == 3
        finally:
            server.shutdown()
            server.server_close()


def test_events_missed_while_the_listener_was_down_are_caught_up_once(hooked, listeners, tmp_path):
    port = free_port()
    first = listeners(hooked, tmp_path, NOTE_FLOW, port, "--catch-up-grace", "0")
    api(hooked, "POST", "/api/v2/deals", json={"title": "Before"})
    wait_for(lambda: len(first.routed()) == 1, what="the first event")
    first.stop(signal.SIGKILL)
    missed = [api(hooked, "POST", "/api/v2/deals", json={"title": f"While down {i}"})["id"] for i in range(3)]
    # three failed attempts each (at 0, 0.15 and 1.5 s); the last retry comes 7.5 s later, after the catch-up
    wait_for(lambda: hooked.stats()["webhooks"].get("failed", 0) >= 9, what="deliveries failing while down")
    second = listeners(hooked, tmp_path, NOTE_FLOW, port, "--catch-up-grace", "0")
    wait_for(lambda: len(second.routed()) >= 4, what="the missed deals caught up")
    # the sandbox's retries (1.5 s and 7.5 s later) reach the new listener too: they must add nothing
    wait_for(lambda: hooked.stats()["webhooks"].get("delivered", 0) >= 4, timeout=30, what="retries delivered")
    time.sleep(0.5)
    jobs = second.routed()
    assert len(jobs) == 4
    assert deal_ids(jobs) == sorted([deal_ids(jobs)[0], *missed])
    assert {j["metadata"]["trigger"]["source"] for j in jobs} == {"webhook", "poll"}
    second.stop()


def post_event(port: int, body: bytes, auth: tuple[str, str]) -> requests.Response:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return requests.post(
        f"http://127.0.0.1:{port}{CALLBACK_PATH}",
        data=body,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        timeout=10,
    )


def an_event(deal_id: int, title: str) -> bytes:
    return json.dumps(
        {
            "meta": {
                "id": f"evt-{deal_id}",
                "action": "create",
                "entity": "deal",
                "entity_id": str(deal_id),
                "version": "2.0",
            },
            "data": {"id": deal_id, "title": title, "update_time": "2026-05-01T10:00:00Z"},
            "previous": None,
        }
    ).encode()


def test_wrong_credentials_get_401_and_queue_nothing(hooked, listeners, tmp_path):
    listener = listeners(hooked, tmp_path, NOTE_FLOW)
    user, password = listener.credentials
    for auth in ((user, password + "x"), ("someone", password), ("", "")):
        assert post_event(listener.port, an_event(1, "Forged"), auth).status_code == 401
    unauthenticated = requests.post(
        f"http://127.0.0.1:{listener.port}{CALLBACK_PATH}", data=an_event(1, "x"), timeout=10
    )
    assert unauthenticated.status_code == 401
    assert listener.seen() == 0 and listener.queued() == [] and listener.routed() == []


def test_malformed_or_oversized_bodies_are_refused_and_the_listener_keeps_running(hooked, listeners, tmp_path):
    listener = listeners(hooked, tmp_path, NOTE_FLOW)
    auth = listener.credentials
    refused = {
        b"not json": 400,
        b"[1, 2]": 400,
        b'{"meta": {"action": "create", "entity": "deal"}, "data": {}}': 400,  # no event id
        b'{"meta": {"id": "e", "action": "explode", "entity": "deal"}}': 400,
        b'{"meta": {"id": "e", "action": "create", "entity": "deal"}, "data": "text"}': 400,
        b"[" * 100_000: 400,
        b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}': 413,
    }
    for body, status in refused.items():
        assert post_event(listener.port, body, auth).status_code == status, body[:60]
    assert listener.seen() == 0 and listener.queued() == []
    deal = api(hooked, "POST", "/api/v2/deals", json={"title": "Still listening"})
    (job,) = wait_for(listener.routed, what="a real event after the bad ones")
    assert job["data"]["data"]["id"] == deal["id"] and listener.process.poll() is None


def test_a_stage_filter_fires_once_per_real_stage_change_and_never_on_other_edits(hooked, listeners, tmp_path):
    flow = {
        "name": "Deal reached stage 3",
        "trigger": {"event": "*.deal", "filter": {"stage_changed_to": 3}},
        "steps": [{"id": "read", "action": "getDeal", "inputs": {"id": "{{ job.data.data.id }}"}}],
    }
    listener = listeners(hooked, tmp_path, flow)
    deal = api(hooked, "POST", "/api/v2/deals", json={"title": "Moving", "stage_id": 1})
    path = f"/api/v2/deals/{deal['id']}"
    edits = [
        {"title": "Renamed"},  # unrelated
        {"stage_id": 3},  # fires
        {"value": 500},  # unrelated, while in stage 3
        {"stage_id": 2},  # a stage change, not to 3
        {"stage_id": 3},  # fires again
        {"stage_id": 3, "title": "Same stage"},  # stage unchanged
        {"status": "won"},
    ]
    for edit in edits:
        api(hooked, "PATCH", path, json=edit)
    delivered = 1 + len(edits)  # the create and each edit: every one changes something
    wait_for(lambda: hooked.stats()["webhooks"].get("delivered", 0) >= delivered, what="every event acknowledged")
    wait_for(lambda: not listener.queued() and len(listener.routed()) >= 2, what="the jobs run")
    jobs = listener.routed()
    assert len(jobs) == 2
    assert [j["data"]["previous"]["stage_id"] for j in jobs] in ([1, 2], [2, 1])
    assert all(j["data"]["data"]["stage_id"] == 3 for j in jobs)


@pytest.mark.parametrize("count", [501, pytest.param(5000, marks=pytest.mark.slow)])
def test_poll_takes_each_changed_record_once_in_ceil_n_over_500_list_calls(tmp_path, count):
    flow = {
        "name": "Big deals",
        "steps": [
            {
                "id": "note",
                "action": "addNote",
                "when": "{{ job.data.data.value > 1000000000 }}",  # none is: no API call per job
                "inputs": {"content": "Big one", "dealId": "{{ job.data.data.id }}"},
            }
        ],
    }
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    with Sandbox(token=SANDBOX_TOKEN, seed=7, generate={"deals": count}) as sandbox:
        command = [sys.executable, "-m", "pipedrive_connect.cli", "poll", "--flow", str(tmp_path / "flow.json")]
        command += ["--out", str(tmp_path / "out"), "--entity", "deals", "--once", "--quiet", "--workers", "4"]

        def lists() -> int:
            return sum(1 for r in sandbox.request_log if r["method"] == "GET" and r["path"] == "/api/v2/deals")

        done = subprocess.run(command, env=env_for(sandbox), capture_output=True, timeout=600)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        summary = json.loads(done.stdout)
        assert summary["polled"]["queued"] == count and summary["success"] == count
        assert lists() == math.ceil(count / 500)
        outputs = list((tmp_path / "out" / "success").glob("*.json"))
        ids = [json.loads(p.read_text())["data"]["data"]["id"] for p in outputs]
        assert len(ids) == count and len(set(ids)) == count

        before = lists()
        again = subprocess.run(command, env=env_for(sandbox), capture_output=True, timeout=120)
        assert again.returncode == 0 and json.loads(again.stdout)["polled"]["queued"] == 0
        assert lists() - before == 1, "the second run reads only the overlap window"
        assert len(list((tmp_path / "out" / "success").glob("*.json"))) == count


@pytest.mark.parametrize(
    "args, message",
    [
        (["poll", "--entity", "stages"], "cannot poll 'stages'; choose from deals, persons"),
        (["poll", "--entity", "deals", "--since", "yesterday"], "--since: 'yesterday' is not a time"),
        (["listen", "--port", "0", "--event", "change.dael"], "event 'change.dael' is not ACTION.OBJECT"),
        (["poll", "--entity", "deals", "--tenant", "acme"], "--tenant names the workers' connection"),
        (["listen", "--port", "0", "--queue", "http://127.0.0.1:1/"], "--queue takes a Redis URL"),
    ],
)
def test_bad_trigger_options_are_one_line_and_exit_2(hooked, tmp_path, args, message):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"steps": NOTE_FLOW["steps"]}))
    command = [sys.executable, "-m", "pipedrive_connect.cli", *args, "--flow", str(flow), "--out", str(tmp_path / "o")]
    done = subprocess.run(command, env=env_for(hooked), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_port_in_use_is_a_usage_error(hooked, tmp_path):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(NOTE_FLOW))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [sys.executable, "-m", "pipedrive_connect.cli", "listen", "--flow", str(flow), "--out", str(tmp_path)]
        done = subprocess.run(
            [*command, "--port", str(port)], env=env_for(hooked), capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert hooked.store.rows("webhooks") == [], "nothing registered"


def test_listen_needs_events_from_the_flow_or_the_command_line(hooked, tmp_path):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"steps": NOTE_FLOW["steps"]}))
    command = [sys.executable, "-m", "pipedrive_connect.cli", "listen", "--flow", str(flow), "--out", str(tmp_path)]
    done = subprocess.run([*command, "--port", "0"], env=env_for(hooked), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no events: give --event" in done.stderr


def test_events_pipedrive_never_delivers_are_caught_up_while_listening(listeners, tmp_path):
    """A lost delivery (here: every one) is found by the periodic catch-up poll, once."""
    with Sandbox(token=SANDBOX_TOKEN, seed=7, webhook_faults=WebhookFaults(drop_rate=1.0)) as sandbox:
        listener = listeners(sandbox, tmp_path, NOTE_FLOW, None, "--catch-up-every", "0.5", "--catch-up-grace", "0")
        deal = api(sandbox, "POST", "/api/v2/deals", json={"title": "Lost in transit"})
        (job,) = wait_for(listener.routed, what="the lost event caught up")
        assert job["data"]["data"]["id"] == deal["id"] and job["metadata"]["trigger"]["source"] == "poll"
        assert sandbox.stats()["webhooks"]["dropped"] == 1
        time.sleep(1.2)  # two more catch-up passes: nothing new
        assert len(listener.routed()) == 1


def test_poll_keeps_polling_until_stopped(hooked, tmp_path):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(NOTE_FLOW))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pipedrive_connect.cli", "poll", "--flow", str(flow), "--out", str(out)]
    log = tmp_path / "poll.jsonl"
    command += ["--entity", "deals", "--interval", "0.3", "--quiet", "--log-json", str(log)]
    process = subprocess.Popen(command, env=env_for(hooked), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: log.exists() and '"event": "poll_idle"' in log.read_text(), what="a first pass")
        deal = api(hooked, "POST", "/api/v2/deals", json={"title": "Polled later"})
        wait_for(lambda: list((out / "success").glob("*.json")), what="the new deal polled and run")
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0
    (job,) = [json.loads(p.read_text()) for p in (out / "success").glob("*.json")]
    assert job["data"]["data"]["id"] == deal["id"] and json.loads(stdout)["polled"]["queued"] == 1
