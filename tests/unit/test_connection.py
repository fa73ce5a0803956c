"""Connections: the token only in headers; OAuth refreshes and follows the api_domain."""

from __future__ import annotations

import time

import pytest
import responses

from pipedrive_connect.client import PipedriveClient, RetrySettings
from pipedrive_connect.connection import TOKEN_URL, Connection
from pipedrive_connect.errors import StepError


def test_from_env_and_errors():
    conn = Connection.from_env({"PIPEDRIVE_API_TOKEN": "abcdefgh1234", "PIPEDRIVE_BASE_URL": "https://acme.pipedrive.com/"})
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
    responses.post(TOKEN_URL, json={"access_token": "new-access-999", "refresh_token": "refresh-1", "expires_in": 3599,
                                    "api_domain": "https://acme-eu.pipedrive.com", "token_type": "Bearer"})
    responses.get("https://acme-eu.pipedrive.com/api/v1/users/me", json={"success": True, "data": {"id": 1}})
    saved = []
    conn = Connection.from_settings({"type": "oauth2", "access_token": "old-access-111", "refresh_token": "refresh-1",
                                     "client_id": "cid", "client_secret": "csecret-77", "expires_at": time.time() + 10,
                                     "api_domain": "https://acme.pipedrive.com"})
    conn.auth.on_refresh = saved.append
    client = PipedriveClient(conn, retry=RetrySettings.none())
    assert client.send("GET", "v1", "/users/me").data == {"id": 1}
    refresh, call = responses.calls
    assert "grant_type=refresh_token" in refresh.request.body and refresh.request.headers["Authorization"].startswith("Basic ")
    assert call.request.headers["Authorization"] == "Bearer new-access-999"
    assert saved and saved[0]["api_domain"] == "https://acme-eu.pipedrive.com"


@responses.activate
def test_oauth_refresh_failure_is_a_connection_error_without_secrets():
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    conn = Connection.from_settings({"type": "oauth2", "access_token": "old-access-111", "refresh_token": "refresh-1",
                                     "client_id": "cid", "client_secret": "csecret-77", "expires_at": time.time() - 1})
    client = PipedriveClient(conn, retry=RetrySettings.none())
    with pytest.raises(StepError) as info:
        client.send("GET", "v1", "/users/me")
    assert info.value.kind == "connection"
    assert "csecret-77" not in str(info.value.to_dict()) and "refresh-1" not in str(info.value.to_dict())


@responses.activate
def test_oauth_401_refreshes_once_and_retries():
    responses.get("https://acme.pipedrive.com/api/v2/deals/1", status=401, json={"success": False, "error": "unauthorized access"})
    responses.post(TOKEN_URL, json={"access_token": "fresh-222", "expires_in": 3600})
    responses.get("https://acme.pipedrive.com/api/v2/deals/1", json={"success": True, "data": {"id": 1}})
    conn = Connection.from_settings({"type": "oauth2", "access_token": "revoked-111", "refresh_token": "refresh-1",
                                     "client_id": "cid", "client_secret": "csecret-77", "api_domain": "https://acme.pipedrive.com"})
    client = PipedriveClient(conn, retry=RetrySettings.none())
    assert client.send("GET", "v2", "/deals/1").data == {"id": 1}
    assert responses.calls[2].request.headers["Authorization"] == "Bearer fresh-222"


@responses.activate
def test_api_token_401_is_not_retried():
    responses.get("https://acme.pipedrive.com/api/v2/deals/1", status=401, json={"success": False, "error": "unauthorized access"})
    conn = Connection.from_settings({"type": "apiToken", "api_token": "abcdefgh1234", "base_url": "https://acme.pipedrive.com"})
    with pytest.raises(StepError):
        PipedriveClient(conn).send("GET", "v2", "/deals/1")
    assert len(responses.calls) == 1
