"""Hostile or broken servers on 127.0.0.1 (issue 10): the client never hangs and never misroutes.

Each test starts a tiny HTTP server that answers one way on purpose (a trickle, a stall, a gzip
bomb) and gives the client short limits, so every test is bounded even on code that lacks the fix.
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time

import pytest

from pipedrive_connect.client import PipedriveClient, RetrySettings
from pipedrive_connect.connection import Connection
from pipedrive_connect.errors import StepError
from pipedrive_connect.jobs import Job

from ..conftest import SANDBOX_TOKEN
from .conftest import connect

BODY = json.dumps({"success": True, "data": {"id": 1, "title": "x" * 20}}).encode()


class Hostile:
    """A loopback HTTP server whose every answer is written by `answer(handler)`."""

    def __init__(self, answer):
        this = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self):
                this.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: that is the point

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self, **settings) -> PipedriveClient:
        connection = Connection.from_settings(
            {"type": "apiToken", "api_token": SANDBOX_TOKEN, "base_url": f"http://127.0.0.1:{self.server.server_port}"}
        )
        client = PipedriveClient(connection, retry=RetrySettings.none())
        for name, value in settings.items():
            setattr(client, name, value)
        return client

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile():
    servers = []

    def start(answer) -> Hostile:
        servers.append(Hostile(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def headers(handler, length: int, **extra) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(length))
    for name, value in extra.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()


def trickle(handler):
    """A whole, valid answer, one byte every 50 ms (about 2 s in all)."""
    headers(handler, len(BODY))
    for byte in BODY:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.05)


def stall_then_answer(handler):
    time.sleep(2)
    headers(handler, len(BODY))
    handler.wfile.write(BODY)


@pytest.mark.parametrize("method,kind", [("GET", "network"), ("POST", "outcome_unknown")])
def test_a_trickled_answer_ends_at_the_deadline(hostile, method, kind):
    client = hostile(trickle).client(deadline=0.5)
    with pytest.raises(StepError) as info:
        client.send(method, "v2", "/deals", json_body={"title": "x"} if method == "POST" else None)
    assert info.value.kind == kind and "deadline" in info.value.message


def test_an_answer_that_never_starts_ends_at_the_deadline(hostile):
    client = hostile(stall_then_answer).client(deadline=0.5)  # the read timeout alone (60 s) would wait
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "network"


def test_a_gzip_bomb_is_a_server_error_and_is_not_fetched_again(hostile):
    bomb = gzip.compress(b'{"success": true, "data": "' + b"0" * (8 * 1024 * 1024) + b'"}')
    assert len(bomb) < 16 * 1024  # a few KB on the wire ...

    def answer(handler):
        headers(handler, len(bomb), Content_Encoding="gzip")
        handler.wfile.write(bomb)

    server = hostile(answer)
    client = server.client(max_body=1024 * 1024)  # ... and far more than the cap once inflated
    client.retry = RetrySettings(max_attempts=3, backoff_base=0.001, backoff_cap=0.001)
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals")
    assert info.value.kind == "server" and "1048576 bytes" in info.value.message
    assert server.requests == 1  # the same answer would come back: not retried


def test_a_download_keeps_its_own_size_limit_not_the_json_cap(sandbox, bundle, tmp_path):
    from pipedrive_connect.runtime import Runtime

    client = PipedriveClient(connect(sandbox))
    client.max_body = 4096  # more than any JSON answer here, less than the file
    runtime = Runtime(bundle, client=client, out_dir=tmp_path)
    uploaded = tmp_path / "order.pdf"
    uploaded.write_bytes(b"%PDF-1.4 " + b"x" * 5000)
    added = runtime.run("addFile", Job(), {"file": str(uploaded), "entityType": "deal", "entityId": 1})
    assert added.route == "success", added.error
    outcome = runtime.run("downloadFile", Job(), {"id": added.result["id"]})
    assert outcome.route == "success" and outcome.result["size"] == 5009
    too_small = runtime.run("downloadFile", Job(), {"id": added.result["id"], "maxBytes": 1000})
    assert too_small.route == "error" and too_small.error.input_path == "maxBytes"


def drop_the_first_answer(sandbox):
    """The sandbox applies the first request and hangs up before answering; later ones go through."""
    faults = iter(["drop_after"])
    sandbox.app.draw_fault = lambda: next(faults, None)


def test_a_delete_applied_before_the_connection_dropped_is_success(live, sandbox):
    drop_the_first_answer(sandbox)
    outcome = live.run("deleteDeal", Job(), {"id": 1})
    assert outcome.route == "success", outcome.error
    assert outcome.result == {"id": 1, "already_applied": True}
    assert [e["status"] for e in sandbox.request_log] == [None, 404]  # applied, dropped; retried, gone


def test_a_merge_applied_before_the_connection_dropped_is_success(live, sandbox):
    drop_the_first_answer(sandbox)
    outcome = live.run("mergeDeals", Job(), {"id": 2, "mergeWithId": 1})
    assert outcome.route == "success", outcome.error
    assert outcome.result == {"id": 1, "merge_what_id": 2, "already_applied": True}


def test_a_first_attempt_404_on_delete_stays_not_found(live):
    outcome = live.run("deleteDeal", Job(), {"id": 999999})
    assert outcome.route == "error" and outcome.error.kind == "not_found"
