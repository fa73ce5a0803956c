"""Connections: the token only in headers; OAuth refreshes and follows the api_domain."""

from __future__ import annotations

import time

import pytest
import responses

from pipedrive_connect.client import PipedriveClient, RetrySettings
from pipedrive_connect.connection import Connection
from pipedrive_connect.errors import StepError
from pipedrive_connect.oauth import TOKEN_URL


def test_from_env_and_errors():
    conn = Connection.from_env(
        {"PIPEDRIVE_API_TOKEN": "abcdefgh1234", "PIPEDRIVE_BASE_URL": "https://acme.pipedrive.com/"}
    )
    assert conn.base_url == "https://acme.pipedrive.com"
    with pytest.raises(ValueError, match="PIPEDRIVE_API_TOKEN"):
        Connection.from_env({})
    with pytest.raises(ValueError, match="only allowed for the local sandbox"):
        Connection.from_env({"PIPEDRIVE_API_TOKEN": "abcdefgh1234", "PIPEDRIVE_BASE_URL": "http://acme.pipedrive.com"})
    with pytest.raises(ValueError, match="unknown connection type"):
        Connection.from_settings({"type": "basic"})


def test_connection_file(tmp_path):
    path = tmp_path / "conn.json"
    path.write_text('{"type": "apiToken", "api_token": "abcdefgh1234", "base_url": "http://127.0.0.1:8765"}')
    assert Connection.from_file(path).host == "127.0.0.1:8765"


@responses.activate
def test_oauth_refreshes_before_expiry_and_moves_to_api_domain():
    responses.post(
        TOKEN_URL,
        json={
            "access_token": "new-access-999",
            "refresh_token": "refresh-1",
            "expires_in": 3599,
            "api_domain": "https://acme-eu.pipedrive.com",
            "token_type": "Bearer",
        },
    )
    responses.get("https://acme-eu.pipedrive.com/api/v1/users/me", json={"success": True, "data": {"id": 1}})
    conn = Connection.from_settings(
        {
            "type": "oauth2",
            "access_token": "old-access-111",
            "refresh_token": "refresh-1",
            "client_id": "cid",
            "client_secret": "csecret-77",
            "expires_at": time.time() + 10,
            "api_domain": "https://acme.pipedrive.com",
        }
    )
    client = PipedriveClient(conn, retry=RetrySettings.none())
    assert client.send("GET", "v1", "/users/me").data == {"id": 1}
    refresh, call = responses.calls
    assert "grant_type=refresh_token" in refresh.request.body
    assert refresh.request.headers["Authorization"].startswith("Basic ")
    assert call.request.headers["Authorization"] == "Bearer new-access-999"
    assert conn.current_base_url == "https://acme-eu.pipedrive.com"


@responses.activate
def test_oauth_refresh_failure_is_a_connection_error_without_secrets():
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    conn = Connection.from_settings(
        {
            "type": "oauth2",
            "access_token": "old-access-111",
            "refresh_token": "refresh-1",
            "client_id": "cid",
            "client_secret": "csecret-77",
            "expires_at": time.time() - 1,
        }
    )
    client = PipedriveClient(conn, retry=RetrySettings.none())
    with pytest.raises(StepError) as info:
        client.send("GET", "v1", "/users/me")
    assert info.value.kind == "connection"
    assert "csecret-77" not in str(info.value.to_dict()) and "refresh-1" not in str(info.value.to_dict())


@responses.activate
def test_oauth_401_refreshes_once_and_retries():
    responses.get(
        "https://acme.pipedrive.com/api/v2/deals/1", status=401, json={"success": False, "error": "unauthorized access"}
    )
    responses.post(TOKEN_URL, json={"access_token": "fresh-222", "expires_in": 3600})
    responses.get("https://acme.pipedrive.com/api/v2/deals/1", json={"success": True, "data": {"id": 1}})
    conn = Connection.from_settings(
        {
            "type": "oauth2",
            "access_token": "revoked-111",
            "refresh_token": "refresh-1",
            "client_id": "cid",
            "client_secret": "csecret-77",
            "api_domain": "https://acme.pipedrive.com",
        }
    )
    client = PipedriveClient(conn, retry=RetrySettings.none())
    assert client.send("GET", "v2", "/deals/1").data == {"id": 1}
    assert responses.calls[2].request.headers["Authorization"] == "Bearer fresh-222"


@responses.activate
def test_api_token_401_is_not_retried():
    responses.get(
        "https://acme.pipedrive.com/api/v2/deals/1", status=401, json={"success": False, "error": "unauthorized access"}
    )
    conn = Connection.from_settings(
        {"type": "apiToken", "api_token": "abcdefgh1234", "base_url": "https://acme.pipedrive.com"}
    )
    with pytest.raises(StepError):
        PipedriveClient(conn).send("GET", "v2", "/deals/1")
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    "base_url, problem",
    [
        ("acme.pipedrive.com", "must start with https://"),
        ("https://acme.pipedrive.com/api/v1", "path"),
        ("https://acme.pipedrive.com/?api_token=tok-SECRET-999", "query"),
        ("https://user:tok-SECRET-999@acme.pipedrive.com", "user name or password"),
        ("https://bad_host!.example", "host"),
        ("http://10.0.0.5:8765", "plain http"),
    ],
)
def test_base_url_problems_are_named_without_echoing_it(base_url, problem):
    with pytest.raises(ValueError) as info:
        Connection.from_settings({"type": "apiToken", "api_token": "abcdefgh1234", "base_url": base_url})
    assert problem in str(info.value) and "tok-SECRET-999" not in str(info.value)


def test_loopback_http_and_ipv6_are_accepted():
    for url in ("http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:8765", "https://[2001:db8::1]"):
        assert Connection.from_settings({"api_token": "abcdefgh1234", "base_url": url}).base_url == url


def test_token_url_must_be_https_off_loopback():
    with pytest.raises(ValueError, match="token_url"):
        Connection.from_settings({"type": "oauth2", "access_token": "a-1234", "token_url": "http://evil.example/token"})


def oauth(expired: bool = True, **extra) -> Connection:
    return Connection.from_settings(
        {
            "type": "oauth2",
            "access_token": "old-access-111",
            "refresh_token": "refresh-1",
            "client_id": "cid",
            "client_secret": "csecret-77",
            "expires_at": time.time() - 1 if expired else time.time() + 3600,
            "api_domain": "https://acme.pipedrive.com",
            **extra,
        }
    )


@responses.activate
def test_refreshed_tokens_are_redacted_at_once():
    responses.post(
        TOKEN_URL, json={"access_token": "new-access-999", "refresh_token": "new-refresh-888", "expires_in": 3600}
    )
    responses.get(
        "https://acme.pipedrive.com/api/v2/deals/1",
        status=400,
        json={"success": False, "error": "echo new-access-999 new-refresh-888 old-access-111"},
    )
    conn = oauth()
    client = PipedriveClient(conn, retry=RetrySettings.none())
    with pytest.raises(StepError) as info:
        client.send("GET", "v2", "/deals/1")
    text = str(info.value.to_dict())
    assert "new-access-999" not in text and "new-refresh-888" not in text and "old-access-111" not in text
    assert responses.calls[1].request.headers["Authorization"] == "Bearer new-access-999"


@responses.activate
@pytest.mark.parametrize("status", [302, 307])
def test_token_refresh_never_follows_a_redirect(status):
    responses.post(TOKEN_URL, status=status, headers={"Location": "https://evil.example/steal"})
    responses.post("https://evil.example/steal", json={"access_token": "stolen-1", "expires_in": 3600})
    responses.get("https://evil.example/steal", json={"access_token": "stolen-1", "expires_in": 3600})
    with pytest.raises(StepError) as info:
        PipedriveClient(oauth(), retry=RetrySettings.none()).send("GET", "v2", "/deals/1")
    assert info.value.kind == "connection" and "redirect" in info.value.message
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize(
    "api_domain", ["http://acme.pipedrive.com", "https://evil.example/path?x=1", "ftp://x.example"]
)
def test_token_refresh_refuses_an_unsafe_api_domain(api_domain):
    responses.post(TOKEN_URL, json={"access_token": "new-access-999", "expires_in": 3600, "api_domain": api_domain})
    conn = oauth()
    with pytest.raises(StepError) as info:
        PipedriveClient(conn, retry=RetrySettings.none()).send("GET", "v2", "/deals/1")
    assert info.value.kind == "connection" and "api_domain" in info.value.message
    assert conn.current_base_url == "https://acme.pipedrive.com" and conn.auth.access_token == "old-access-111"
    assert len(responses.calls) == 1


@responses.activate
def test_token_refresh_accepts_a_loopback_api_domain():
    responses.post(
        TOKEN_URL, json={"access_token": "new-access-999", "expires_in": 3600, "api_domain": "http://127.0.0.1:9"}
    )
    conn = oauth()
    conn.auth.refresh()
    assert conn.current_base_url == "http://127.0.0.1:9"


@responses.activate
@pytest.mark.parametrize("answer", [{"body": "<html>maintenance</html>"}, {"json": {"token_type": "Bearer"}}])
def test_token_refresh_without_a_token_is_a_connection_error(answer):
    responses.post(TOKEN_URL, status=200, **answer)
    with pytest.raises(StepError) as info:
        oauth().auth.refresh()
    assert info.value.kind == "connection" and "access token" in info.value.message


def test_token_endpoint_out_of_reach_is_a_network_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StepError) as info:
        oauth(token_url=f"http://127.0.0.1:{port}/oauth/token").auth.refresh()
    assert info.value.kind == "network" and "token endpoint" in info.value.message
