"""OAuth pieces without a server: the callback's checks, one refresh for many threads, the file lock."""

from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest
import responses

from pipedrive_connect.client import PipedriveClient, RetrySettings
from pipedrive_connect.connection import Connection
from pipedrive_connect.errors import StepError
from pipedrive_connect.oauth import TOKEN_URL, TokenFile, authorization_url, code_from_callback

SETTINGS = {
    "type": "oauth2",
    "access_token": "old-access-111",
    "refresh_token": "refresh-1",
    "client_id": "cid",
    "client_secret": "csecret-77",
    "api_domain": "https://acme.pipedrive.com",
}


def test_the_authorization_url_carries_a_fresh_state_each_time():
    first, state = authorization_url("cid", "http://127.0.0.1:8766/callback")
    second, other = authorization_url("cid", "http://127.0.0.1:8766/callback")
    assert first.startswith("https://oauth.pipedrive.com/oauth/authorize?") and f"state={state}" in first
    assert "client_id=cid" in first and "redirect_uri=http%3A%2F%2F127.0.0.1%3A8766%2Fcallback" in first
    assert state != other and len(state) >= 20


@pytest.mark.parametrize(
    "params, says",
    [
        ({"error": "user_denied", "state": "s-1"}, "did not grant access (user_denied)"),
        ({"error": "<script>x</script>", "state": "s-1"}, "did not grant access (an error)"),
        ({"code": "c-1", "state": "other"}, "state does not match"),
        ({"code": "c-1"}, "state does not match"),
        ({"state": "s-1"}, "no authorization code"),
    ],
)
def test_the_callback_is_checked_before_its_code_is_used(params, says):
    with pytest.raises(StepError) as info:
        code_from_callback(params, "s-1")
    assert info.value.kind == "connection" and says in info.value.message and "nothing was saved" in info.value.message
    assert code_from_callback({"code": "c-1", "state": "s-1"}, "s-1") == "c-1"


@responses.activate
def test_many_threads_with_an_expired_token_refresh_it_once():
    responses.post(TOKEN_URL, json={"access_token": "new-access-999", "expires_in": 3600})
    responses.get("https://acme.pipedrive.com/api/v1/users/me", json={"success": True, "data": {"id": 1}})
    conn = Connection.from_settings({**SETTINGS, "expires_at": time.time() - 1, "expires_in": 3600})
    client = PipedriveClient(conn, retry=RetrySettings.none())
    threads = [threading.Thread(target=client.send, args=("GET", "v1", "/users/me")) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    refreshes = [c for c in responses.calls if c.request.url == TOKEN_URL]
    assert len(refreshes) == 1 and len(responses.calls) == 7


def test_a_connection_file_without_tokens_any_more_asks_to_log_in_again(tmp_path):
    path = tmp_path / "conn.yaml"
    store = TokenFile(path)
    store.write({**SETTINGS, "expires_at": time.time() - 1})
    conn = Connection.from_file(path)
    store.write({k: v for k, v in SETTINGS.items() if k not in ("access_token", "refresh_token")})  # logout elsewhere
    with pytest.raises(StepError) as info:
        conn.auth.refresh()
    assert info.value.kind == "connection" and "pipedrive-connect login" in info.value.message


def test_the_file_lock_is_waited_for_a_bounded_time(tmp_path):
    store = TokenFile(tmp_path / "conn.yaml")
    holder = os.open(store.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's refresh in progress
    try:
        with pytest.raises(StepError) as info, store.locked(wait=0.2):
            pass
        assert info.value.retryable and "locked" in info.value.message
    finally:
        os.close(holder)
    with store.locked(wait=0.2):
        pass


def test_written_atomically_and_private(tmp_path):
    for name in ("conn.yaml", "conn.json"):
        store = TokenFile(tmp_path / name)
        store.write(SETTINGS)
        assert store.read() == SETTINGS and (store.path.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conn.json", "conn.yaml"]  # no temporary file left


@responses.activate
@pytest.mark.parametrize("answer", [{"expires_in": "soon"}, {"expires_in": [1]}, {"api_domain": "http://evil.example"}])
def test_a_token_answer_with_unusable_fields_is_refused(answer):
    responses.post(TOKEN_URL, json={"access_token": "new-access-999", **answer})
    conn = Connection.from_settings({**SETTINGS, "expires_at": time.time() - 1})
    with pytest.raises(StepError) as info:
        conn.auth.refresh()
    assert info.value.kind == "connection" and "new-access-999" not in info.value.message
    assert conn.auth.access_token == "old-access-111"  # nothing of the answer was taken
