"""The sandbox's OAuth server speaks Pipedrive's protocol: codes, Basic client auth, refresh, revoke, Bearer."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

CLIENT = ("app-1", "app-secret-42")
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def oauth_sandbox(make_sandbox):
    return make_sandbox(oauth_client=CLIENT, oauth_token_ttl=1)


def authorize(sandbox, **query) -> dict[str, str]:
    params = {"client_id": CLIENT[0], "redirect_uri": CALLBACK, "state": "st-1", **query}
    answer = requests.get(f"{sandbox.base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(sandbox, auth=CLIENT, **form) -> requests.Response:
    return requests.post(f"{sandbox.base_url}/oauth/token", data=form, auth=auth, timeout=10)


def me(sandbox, access: str) -> int:
    headers = {"Authorization": f"Bearer {access}"}
    return requests.get(f"{sandbox.base_url}/api/v1/users/me", headers=headers, timeout=10).status_code


def test_code_flow_refresh_and_bearer_expiry(oauth_sandbox):
    answer = authorize(oauth_sandbox)
    assert answer["state"] == "st-1" and answer["code"]
    got = token(oauth_sandbox, grant_type="authorization_code", code=answer["code"], redirect_uri=CALLBACK)
    tokens = got.json()
    assert got.status_code == 200 and tokens["token_type"] == "Bearer" and tokens["expires_in"] == 1
    assert tokens["api_domain"] == oauth_sandbox.base_url and tokens["scope"] == "base"
    assert me(oauth_sandbox, tokens["access_token"]) == 200
    again = token(oauth_sandbox, grant_type="authorization_code", code=answer["code"], redirect_uri=CALLBACK)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # a code is used once
    deadline = time.monotonic() + 10
    while oauth_sandbox.app.oauth.bearer_status(tokens["access_token"]) != "expired":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert me(oauth_sandbox, tokens["access_token"]) == 401
    fresh = token(oauth_sandbox, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert fresh["refresh_token"] == tokens["refresh_token"] and me(oauth_sandbox, fresh["access_token"]) == 200
    assert oauth_sandbox.stats()["oauth"] == {"authorization_code": 1, "refresh_token": 1}


def test_refusal_client_auth_and_redirect_uri_checks(oauth_sandbox):
    assert authorize(oauth_sandbox, refuse="1") == {"error": "user_denied", "state": "st-1"}
    code = authorize(oauth_sandbox)["code"]
    assert token(oauth_sandbox, auth=("app-1", "wrong"), grant_type="authorization_code", code=code).status_code == 401
    other = token(oauth_sandbox, grant_type="authorization_code", code=code, redirect_uri="http://127.0.0.1:9/other")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    far = requests.get(
        f"{oauth_sandbox.base_url}/oauth/authorize",
        params={"client_id": CLIENT[0], "redirect_uri": "https://evil.example/cb"},
        allow_redirects=False,
        timeout=10,
    )
    assert far.status_code == 400  # never an open redirect
    assert token(oauth_sandbox, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_revoking_the_refresh_token_ends_the_whole_grant(oauth_sandbox):
    code = authorize(oauth_sandbox)["code"]
    tokens = token(oauth_sandbox, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json()
    revoked = requests.post(
        f"{oauth_sandbox.base_url}/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=CLIENT,
        timeout=10,
    )
    assert revoked.status_code == 200
    assert me(oauth_sandbox, tokens["access_token"]) == 401
    refused = token(oauth_sandbox, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_without_an_app_there_is_no_oauth_server(sandbox):
    answer = requests.get(f"{sandbox.base_url}/oauth/authorize", allow_redirects=False, timeout=10)
    assert answer.status_code == 401  # an API path like any other: no token, refused
