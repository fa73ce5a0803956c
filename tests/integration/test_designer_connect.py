"""Connect to Pipedrive in the designer (issue 12): the authorization-code flow with the callback on the
service, against the sandbox's OAuth server over loopback. The designer is served on a real port and
`requests` plays the browser, following each redirect: designer /oauth/start, the sandbox's
/oauth/authorize (which approves at once), the designer's /oauth/callback, back to the page.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from pipedrive_connect.cli import main
from pipedrive_connect.connection import read_settings
from pipedrive_connect.designer import connect
from pipedrive_connect.designer.connect import OAuthApp
from pipedrive_connect.designer.service import Designer, DesignerServer, Settings
from pipedrive_connect.oauth import OAuth2Auth
from pipedrive_connect.sandbox import Sandbox

from ..conftest import SANDBOX_TOKEN
from .conftest import FAST_RETRY, SAMPLE_DATA
from .conftest import connect as api_token_connection

CLIENT_ID, CLIENT_SECRET = "designer-app-1", "client-SECRET-3c8e20af"
WAIT = 10  # seconds any one request may take


@pytest.fixture
def sandbox():
    with Sandbox(token=SANDBOX_TOKEN, data=SAMPLE_DATA, seed=7, oauth_client=(CLIENT_ID, CLIENT_SECRET)) as sb:
        yield sb


@pytest.fixture
def conn(tmp_path) -> Path:
    folder = tmp_path / "secrets"  # the session-wide leak check leaves connection files alone
    folder.mkdir()
    return folder / "pipedrive.yaml"


@pytest.fixture
def live(sandbox, bundle, tmp_path):
    from pipedrive_connect.runtime import Runtime

    return Runtime(bundle, api_token_connection(sandbox), out_dir=tmp_path / "out", retry=FAST_RETRY)


class Browser:
    """Every answer the designer and the sandbox give, kept to scan for secrets at the end."""

    def __init__(self):
        self.session = requests.Session()
        self.answers: list[requests.Response] = []

    def get(self, url: str, **kw) -> requests.Response:
        answer = self.session.get(url, timeout=WAIT, **kw)
        self.answers += [*answer.history, answer]
        return answer

    def post(self, url: str, body: dict, **kw) -> requests.Response:
        answer = self.session.post(url, json=body, timeout=WAIT, **kw)
        self.answers.append(answer)
        return answer

    def shown(self) -> str:
        return "\n".join(a.text + json.dumps(dict(a.headers)) for a in self.answers)


@pytest.fixture
def browser():
    return Browser()


def serve(live, sandbox, conn, secret: str = CLIENT_SECRET, **settings):
    app = OAuthApp(CLIENT_ID, secret, conn, oauth_base=sandbox.base_url)
    return DesignerServer(Designer(live, Settings(oauth=app, **settings)))


def with_query(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{parts.query}&{urlencode(extra)}"))


def assert_no_secret(browser: Browser, sandbox: Sandbox, conn: Path) -> None:
    secrets = [SANDBOX_TOKEN, CLIENT_SECRET, *sandbox.app.oauth.grants, *sandbox.app.oauth.access]
    if conn.exists():
        secrets += [read_settings(conn)["access_token"], read_settings(conn)["refresh_token"]]
    shown = browser.shown()
    assert not [s for s in secrets if s in shown]


def test_connect_signs_in_writes_the_file_and_switches_the_runtime(live, sandbox, conn, browser):
    with serve(live, sandbox, conn) as designer:
        before = browser.get(designer.url + "/api/connection").json()
        assert before["connected"] and before["can_connect"] and before["type"] == "apiToken"
        assert before["user"] == "Dana Demo" and before["api_domain"] == sandbox.base_url

        page = browser.get(designer.url + "/oauth/start")
        assert [a.status_code for a in page.history] == [302, 302, 303]  # start, authorize, callback
        authorize, callback = (urlsplit(a.headers["Location"]) for a in page.history[:2])
        assert authorize.path == "/oauth/authorize" and f"127.0.0.1:{authorize.port}" in sandbox.base_url
        assert callback.path == "/oauth/callback" and parse_qs(callback.query)["state"]
        assert page.status_code == 200 and page.url == designer.url + "/" and "designer.js" in page.text

        settings = read_settings(conn)
        assert stat.S_IMODE(conn.stat().st_mode) == 0o600
        assert settings["type"] == "oauth2" and settings["client_id"] == CLIENT_ID
        assert settings["api_domain"] == sandbox.base_url and settings["access_token"] in sandbox.app.oauth.access
        assert isinstance(live.connection.auth, OAuth2Auth)  # the runtime uses the new tokens from now on
        assert live.connection.auth.access_token == settings["access_token"]

        after = browser.get(designer.url + "/api/connection").json()
        assert (after["type"], after["user"], after["company"], after["scopes"]) == (
            "oauth2",
            "Dana Demo",
            "Sandbox Company",
            "base",
        )
        assert after["api_domain"] == sandbox.base_url and after["expires_at"].endswith("Z")
        assert not {"access_token", "refresh_token", "client_secret"} & set(after)
        assert browser.post(designer.url + "/api/run", {"action": "getDeals"}).json()["route"] == "success"
        for grant in sandbox.app.oauth.grants.values():
            grant.revoked = True  # steps now fail: they run on the OAuth grant, not the API token
        refused = browser.post(designer.url + "/api/run", {"action": "getDeals"}).json()
        assert refused["route"] == "error" and refused["error"]["type"] == "connection"

        replay = browser.get(designer.url + callback.path + "?" + callback.query)  # a state is used once
        assert replay.status_code == 400 and "stale, used or forged" in replay.text
    assert sandbox.stats()["oauth"]["authorization_code"] == 1 and read_settings(conn) == settings
    assert_no_secret(browser, sandbox, conn)


def test_a_state_the_designer_did_not_issue_writes_nothing(live, sandbox, conn, browser):
    with serve(live, sandbox, conn) as designer:
        url = browser.post(designer.url + "/api/oauth/start", {}).json()["authorization_url"]
        forged = url.replace("state=", "state=x")  # the sandbox sends back whatever state it was given
        answer = browser.get(forged)
        assert answer.history[-1].status_code == 302 and answer.status_code == 400
        assert answer.headers["Content-Type"].startswith("text/html") and "nothing was saved" in answer.text
        assert browser.get(designer.url + "/oauth/callback?code=abc").status_code == 400  # no state at all
    assert not conn.exists() and live.connection.auth.secrets() == [SANDBOX_TOKEN]
    assert "authorization_code" not in sandbox.stats()["oauth"]  # no code was exchanged
    assert_no_secret(browser, sandbox, conn)


def test_an_expired_state_is_refused(live, sandbox, conn, browser, monkeypatch):
    monkeypatch.setattr(connect, "STATE_TTL", -1.0)
    with serve(live, sandbox, conn) as designer:
        answer = browser.get(designer.url + "/oauth/start")
        assert answer.status_code == 400 and "stale, used or forged" in answer.text
    assert not conn.exists()


def test_refused_consent_writes_nothing(live, sandbox, conn, browser):
    with serve(live, sandbox, conn) as designer:
        url = browser.post(designer.url + "/api/oauth/start", {}).json()["authorization_url"]
        answer = browser.get(with_query(url, refuse="1"))  # the person clicks Cancel
        assert answer.status_code == 400 and "did not grant access (user_denied)" in answer.text
        assert "Back to the designer" in answer.text
        assert browser.get(designer.url + "/api/connection").json()["type"] == "apiToken"
    assert not conn.exists() and "authorization_code" not in sandbox.stats()["oauth"]


def test_a_token_endpoint_refusal_writes_nothing(live, sandbox, conn, browser):
    with serve(live, sandbox, conn, secret="not-the-secret") as designer:
        answer = browser.get(designer.url + "/oauth/start")
        assert answer.status_code == 502 and "refused the client id or secret" in answer.text
        assert "not-the-secret" not in answer.text
    assert not conn.exists() and live.connection.auth.secrets() == [SANDBOX_TOKEN]


def test_an_unwritable_connection_file_is_said_and_the_connection_kept(live, sandbox, tmp_path, browser):
    with serve(live, sandbox, tmp_path / "missing-folder" / "pipedrive.yaml") as designer:
        answer = browser.get(designer.url + "/oauth/start")
        assert answer.status_code == 500 and "cannot be written (No such file or directory)" in answer.text
    assert live.connection.auth.secrets() == [SANDBOX_TOKEN] and not (tmp_path / "missing-folder").exists()
    assert_no_secret(browser, sandbox, tmp_path / "none")


def test_only_the_latest_sign_ins_wait_for_their_callback(live, sandbox, conn, browser, monkeypatch):
    monkeypatch.setattr(connect, "MAX_PENDING", 2)
    with serve(live, sandbox, conn) as designer:
        first, second, third = (
            browser.post(designer.url + "/api/oauth/start", {}).json()["authorization_url"] for _ in range(3)
        )
        assert browser.get(first).status_code == 400  # dropped when the third began
        assert browser.get(third).status_code == 200 and browser.get(second).status_code == 200
    assert sandbox.stats()["oauth"]["authorization_code"] == 2


def test_the_designer_checks_on_the_sign_in(live, sandbox, conn, browser):
    """The start is guarded like the API; the callback, a redirect from Pipedrive's site, by its state."""
    with serve(live, sandbox, conn) as designer:
        cross = browser.get(designer.url + "/oauth/start", headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403 and not cross.history  # another site cannot start a sign-in
        other_origin = browser.post(designer.url + "/api/oauth/start", {}, headers={"Origin": "http://evil.example"})
        assert other_origin.status_code == 403
        rebound = browser.get(designer.url + "/oauth/callback?state=x&code=y", headers={"Host": "evil.example"})
        assert rebound.status_code == 403
        assert browser.get(designer.url + "/api/oauth/start").status_code == 405
        assert browser.post(designer.url + "/api/oauth/start", {"scope": "x"}).status_code == 400
    with serve(live, sandbox, conn, auth_token="designer-token-9") as designer:
        assert browser.get(designer.url + "/oauth/start", allow_redirects=False).status_code == 401
        assert browser.post(designer.url + "/api/oauth/start", {}).status_code == 401
        assert browser.get(designer.url + "/api/connection").status_code == 401
        token = {"Authorization": "Bearer designer-token-9"}
        url = browser.post(designer.url + "/api/oauth/start", {}, headers=token).json()["authorization_url"]
        back = browser.get(url)  # the redirect back carries no designer token: the state stands for it
        assert back.history[-1].status_code == 303 and back.url == designer.url + "/"
        assert browser.get(designer.url + "/api/connection", headers=token).json()["type"] == "oauth2"
    assert read_settings(conn)["type"] == "oauth2"
    assert_no_secret(browser, sandbox, conn)


def test_without_an_oauth_app_there_is_no_connect(live, browser):
    with DesignerServer(Designer(live)) as designer:
        about = browser.get(designer.url + "/api/connection").json()
        assert about["connected"] and not about["can_connect"]
        assert browser.post(designer.url + "/api/oauth/start", {}).status_code == 404
        assert browser.get(designer.url + "/oauth/start").status_code == 404
        assert browser.get(designer.url + "/oauth/callback?state=x&code=y").status_code == 404


def test_a_refused_connection_is_shown_not_hidden(bundle, sandbox, browser):
    from pipedrive_connect.runtime import Runtime

    runtime = Runtime(bundle, api_token_connection(sandbox, "wrong-token-0"), retry=FAST_RETRY)
    with DesignerServer(Designer(runtime)) as designer:
        about = browser.get(designer.url + "/api/connection").json()
    assert about["connected"] and "user" not in about and about["error"]["type"] == "connection"
    assert "wrong-token-0" not in browser.shown()


def test_not_connected_yet(bundle, sandbox, conn, browser):
    from pipedrive_connect.runtime import Runtime

    with serve(Runtime(bundle, None), sandbox, conn) as designer:
        assert browser.get(designer.url + "/api/connection").json() == {"connected": False, "can_connect": True}
        browser.get(designer.url + "/oauth/start")
        assert browser.get(designer.url + "/api/connection").json()["user"] == "Dana Demo"


@contextmanager
def serve_process(*argv: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, list[str]]]:
    """`pipedrive-connect serve` as its own process: its URL and the lines it printed, stopped by SIGTERM."""
    command = [sys.executable, "-m", "pipedrive_connect.cli", "serve", "--port", "0", *argv]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIPEDRIVE_")}
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean, **(env or {})}
    )
    printed: list[str] = []
    try:
        assert select.select([server.stdout], [], [], 30)[0], "serve printed nothing within 30 s"
        printed.append(server.stdout.readline())
        url = re.search(r"http://127\.0\.0\.1:\d+", printed[0]).group(0)
        yield url, printed
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)  # its output is a few lines: the pipes cannot fill
        out, err = server.stdout.read(), server.stderr.read()  # what readline buffered is kept
        server.stdout.close()
        server.stderr.close()
    printed += [out, err]
    assert server.returncode == 0, err


def test_serve_sandbox_offers_connect_as_a_process(conn, browser):
    """`serve --sandbox`: the embedded sandbox has an OAuth app, so Connect works with no account."""
    with serve_process("--sandbox", "--connection", str(conn)) as (url, printed):
        assert browser.get(url + "/api/connection").json()["type"] == "apiToken"
        assert browser.get(url + "/oauth/start").url == url + "/"
        about = browser.get(url + "/api/connection").json()
        assert about["type"] == "oauth2" and about["user"] == "Dana Demo"
    settings = read_settings(conn)
    assert settings["type"] == "oauth2" and settings["access_token"] not in browser.shown() + "".join(printed)


def test_serve_with_an_oauth_app_as_a_process(sandbox, conn, browser):
    """The connection file need not exist yet; the secret comes from the environment, never the output."""
    argv = ["--oauth-client-id", CLIENT_ID, "--connection", str(conn), "--oauth-base", sandbox.base_url]
    with serve_process(*argv, env={"PIPEDRIVE_CLIENT_SECRET": CLIENT_SECRET}) as (url, printed):
        assert "not connected yet" in printed[0]
        assert browser.get(url + "/api/connection").json() == {"connected": False, "can_connect": True}
        assert browser.get(url + "/oauth/start").url == url + "/"
        assert browser.get(url + "/api/connection").json()["type"] == "oauth2"
    assert f"callback URL must be {url}/oauth/callback" in "".join(printed)
    assert read_settings(conn)["api_domain"] == sandbox.base_url
    assert_no_secret(browser, sandbox, conn)
    assert CLIENT_SECRET not in "".join(printed) and read_settings(conn)["access_token"] not in "".join(printed)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--oauth-client-id", "X", "--oauth-client-secret", "S"], "--oauth-client-id needs --connection FILE"),
        (
            ["--oauth-client-id", "X", "--connection", "c.yaml"],
            "--oauth-client-secret SECRET or PIPEDRIVE_CLIENT_SECRET",
        ),
        (["--oauth-client-id", "X", "--sandbox"], "--sandbox registers its own OAuth app"),
        (
            [
                "--oauth-client-id",
                "X",
                "--oauth-client-secret",
                "S",
                "--connection",
                "c.yaml",
                "--oauth-base",
                "http://x.example",
            ],
            "--oauth-base: plain http is only allowed for the local sandbox",
        ),
    ],
)
def test_serve_refuses_incomplete_oauth_options(capsys, monkeypatch, argv, says):
    monkeypatch.delenv("PIPEDRIVE_CLIENT_SECRET", raising=False)
    assert main(["serve", "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pipedrive-connect serve: ") and says in err and err.count("\n") == 1
