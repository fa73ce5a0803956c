"""The sandbox's HTTP server: keep-alive connections, a prompt stop, and hanging up on a drop fault."""

from __future__ import annotations

import http.client
import threading

import pytest

from .helpers import TOKEN

HEADERS = {"x-api-token": TOKEN}


def connect(sandbox) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", int(sandbox.base_url.rsplit(":", 1)[1]), timeout=10)
    conn.connect()
    return conn


def ask(conn: http.client.HTTPConnection, path: str = "/api/v1/users/me") -> http.client.HTTPResponse:
    conn.request("GET", path, headers=HEADERS)
    response = conn.getresponse()
    response.read()
    return response


def test_one_connection_carries_several_answers(sandbox):
    conn = connect(sandbox)
    first_socket = conn.sock
    try:
        for _ in range(3):
            response = ask(conn)
            assert response.status == 200
            assert response.version == 11 and response.getheader("Connection", "").lower() != "close"
            assert conn.sock is first_socket  # http.client drops the socket when the server means to close it
    finally:
        conn.close()
    assert len(sandbox.request_log) == 3


def test_stop_returns_while_a_client_holds_an_idle_keep_alive_connection(make_sandbox):
    sandbox = make_sandbox()
    conn = connect(sandbox)
    try:
        assert ask(conn).status == 200
        stopper = threading.Thread(target=sandbox.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=10)
        assert not stopper.is_alive(), "stop() waited on an idle keep-alive connection"
        assert conn.sock is not None
        assert conn.sock.recv(1) == b""  # the server closed the held connection on its way out
    finally:
        conn.close()


@pytest.mark.parametrize("kind, stored", [("drop_before", 0), ("drop_after", 1)])
def test_a_drop_on_a_kept_alive_connection_hangs_up_without_an_answer(sandbox, kind, stored):
    faults = iter([None, kind])
    sandbox.app.draw_fault = lambda: next(faults, None)
    before = sandbox.store.count("deals")
    conn = connect(sandbox)
    try:
        assert ask(conn).status == 200
        conn.request(
            "POST", "/api/v2/deals", body=b'{"title": "maybe"}', headers=HEADERS | {"Content-Type": "application/json"}
        )
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()
    finally:
        conn.close()
    assert sandbox.store.count("deals") == before + stored
    assert [entry["status"] for entry in sandbox.request_log] == [200, None]
    later = connect(sandbox)
    try:
        assert ask(later).status == 200  # the sandbox goes on serving new connections
    finally:
        later.close()
