"""OAuth 2.0 end to end (issue 12): `login`, refresh across a token's expiry and across processes,
a revoked grant, and the ways a sign-in fails, all against the sandbox's OAuth server over loopback.

`login` runs as its own process, as a person would run it; the test plays the browser by following
the address it prints. Token lifetimes are short (1-2 s); expiry is waited for by polling, never timed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from pipedrive_connect.client import RetrySettings
from pipedrive_connect.connection import Connection, read_settings
from pipedrive_connect.flows import Flow
from pipedrive_connect.jobs import Job
from pipedrive_connect.runner import HotFolder, WatchSettings
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.sandbox import Sandbox

from ..conftest import SANDBOX_TOKEN
from .conftest import SAMPLE_DATA

CLIENT_ID, CLIENT_SECRET = "sandbox-app-1", "client-SECRET-5e9b71d4"
CLI = [sys.executable, "-m", "pipedrive_connect.cli"]
WAIT = 30  # the bound on every process and poll


@pytest.fixture
def make_sandbox():
    started: list[Sandbox] = []

    def make(ttl: float = 3599.0) -> Sandbox:
        sandbox = Sandbox(
            token=SANDBOX_TOKEN, data=SAMPLE_DATA, seed=7, oauth_client=(CLIENT_ID, CLIENT_SECRET), oauth_token_ttl=ttl
        ).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def conn(tmp_path) -> Path:
    folder = tmp_path / "secrets"  # the session-wide leak check leaves connection files alone
    folder.mkdir()
    return folder / "pipedrive.yaml"


def poll(condition, what: str, bound: float = WAIT) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def start_login(oauth_base: str, conn: Path, *extra: str, secret: str = CLIENT_SECRET) -> subprocess.Popen:
    command = [*CLI, "login", "--client-id", CLIENT_ID, "--client-secret", secret, "--connection", str(conn)]
    command += ["--redirect-port", "0", "--no-browser", "--oauth-base", oauth_base, "--timeout", "20", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def follow(url: str, **extra_query: str) -> requests.Response:
    """The browser: open the authorization address, then go where it redirects (the callback)."""
    if extra_query:
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(query=f"{parts.query}&{urlencode(extra_query)}"))
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return requests.get(answer.headers["Location"], timeout=10)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=WAIT)
    return process.returncode, out, err


def login(sandbox: Sandbox, conn: Path) -> tuple[str, str]:
    process = start_login(sandbox.base_url, conn)
    url = process.stdout.readline().strip()
    follow(url)
    code, out, err = finish(process)
    assert code == 0, err
    return url + "\n" + out, err


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=WAIT)


def grants(sandbox: Sandbox) -> dict:
    return sandbox.stats()["oauth"]


def issued_secrets(sandbox: Sandbox) -> set[str]:
    """Every token the sandbox's OAuth server ever issued, and the client secret."""
    server = sandbox.app.oauth
    return {*server.access, *server.grants, CLIENT_SECRET}


# ---- 1. login --------------------------------------------------------------------------------------------
def test_login_follows_the_printed_url_and_writes_a_private_connection_file(make_sandbox, conn):
    sandbox = make_sandbox()
    process = start_login(sandbox.base_url, conn)
    line = process.stdout.readline().strip()
    query = parse_qs(urlsplit(line).query)
    assert line.startswith(f"{sandbox.base_url}/oauth/authorize?") and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:") and query["state"][0]
    assert "Done" in follow(line).text
    code, out, err = finish(process)
    assert code == 0 and out == "" and "signed in" in err
    assert stat.S_IMODE(conn.stat().st_mode) == 0o600
    settings = read_settings(conn)
    assert settings["type"] == "oauth2" and settings["api_domain"] == sandbox.base_url
    assert settings["client_id"] == CLIENT_ID and settings["client_secret"] == CLIENT_SECRET
    assert (
        settings["access_token"] in sandbox.app.oauth.access and settings["refresh_token"] in sandbox.app.oauth.grants
    )
    assert settings["expires_at"] > time.time() and settings["scope"] == "base"
    assert grants(sandbox) == {"authorization_code": 1}

    checked = cli("check-connection", "--connection", str(conn))
    report = json.loads(checked.stdout)
    assert checked.returncode == 0 and report["ok"] and report["type"] == "oauth2"
    user = sandbox.store.get("users", 1)
    assert report["user"] == user["name"] and report["company"] == user["company_name"]
    assert report["api_domain"] == sandbox.base_url and report["scopes"] == "base" and report["expires_at"]
    assert not any(s in checked.stdout + checked.stderr for s in issued_secrets(sandbox))


def test_logout_revokes_the_grant_and_removes_the_tokens(make_sandbox, conn):
    sandbox = make_sandbox()
    login(sandbox, conn)
    old = read_settings(conn)
    done = cli("logout", "--connection", str(conn))
    assert done.returncode == 0 and "revoked" in done.stderr
    left = read_settings(conn)
    assert "access_token" not in left and "refresh_token" not in left and left["client_id"] == CLIENT_ID
    assert stat.S_IMODE(conn.stat().st_mode) == 0o600
    assert sandbox.app.oauth.bearer_status(old["access_token"]) == "revoked"
    assert grants(sandbox)["revoked"] == 1
    checked = cli("check-connection", "--connection", str(conn))
    assert checked.returncode == 2 and "pipedrive-connect login" in checked.stderr


# ---- the ways a sign-in fails: one line, exit 1, nothing written ---------------------------------------------
def assert_failed_cleanly(process: subprocess.Popen, conn: Path, says: str) -> None:
    code, out, err = finish(process)
    assert code == 1 and out == "" and not conn.exists()
    lines = err.strip().splitlines()
    assert says in lines[-1] and len([line for line in lines if line.startswith("pipedrive-connect")]) == 1


def test_refused_consent_writes_nothing(make_sandbox, conn):
    sandbox = make_sandbox()
    process = start_login(sandbox.base_url, conn)
    follow(process.stdout.readline().strip(), refuse="1")
    assert_failed_cleanly(process, conn, "did not grant access (user_denied)")
    assert not grants(sandbox)


def test_a_callback_with_another_state_is_refused_and_its_code_never_used(make_sandbox, conn):
    sandbox = make_sandbox()
    process = start_login(sandbox.base_url, conn)
    answer = requests.get(process.stdout.readline().strip(), allow_redirects=False, timeout=10)
    parts = urlsplit(answer.headers["Location"])
    forged = {**{k: v[0] for k, v in parse_qs(parts.query).items()}, "state": "forged-state"}
    requests.get(urlunsplit(parts._replace(query=urlencode(forged))), timeout=10)
    assert_failed_cleanly(process, conn, "state does not match")
    assert not grants(sandbox)


def test_no_answer_within_the_timeout_writes_nothing(make_sandbox, conn):
    sandbox = make_sandbox()
    process = start_login(sandbox.base_url, conn, "--timeout", "1")
    assert "/oauth/authorize?" in process.stdout.readline()  # nobody follows it
    assert_failed_cleanly(process, conn, "No answer from the sign-in within 1 s")


def test_a_token_endpoint_refusal_writes_nothing(make_sandbox, conn):
    sandbox = make_sandbox()
    process = start_login(sandbox.base_url, conn, secret="wrong-secret-0000")
    follow(process.stdout.readline().strip())
    assert_failed_cleanly(process, conn, "refused the client id or secret (invalid_client, HTTP 401)")


def test_a_redirect_from_the_token_endpoint_is_not_followed(conn):
    """An OAuth server whose token endpoint redirects elsewhere: the code never reaches the other host."""
    trapped: list[str] = []

    @Request.application
    def trap(request: Request) -> Response:
        trapped.append(request.get_data(as_text=True))
        return Response(json.dumps({"access_token": "stolen-0001", "expires_in": 3600}), mimetype="application/json")

    @Request.application
    def hostile(request: Request) -> Response:
        if request.path == "/oauth/authorize":
            query = urlencode({"code": "code-1234", "state": request.args["state"]})
            return Response(status=302, headers={"Location": f"{request.args['redirect_uri']}?{query}"})
        return Response(status=307, headers={"Location": f"http://127.0.0.1:{trap_server.server_port}/steal"})

    trap_server, server = make_server("127.0.0.1", 0, trap), make_server("127.0.0.1", 0, hostile)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (trap_server, server)]
    for thread in threads:
        thread.start()
    try:
        process = start_login(f"http://127.0.0.1:{server.server_port}", conn)
        follow(process.stdout.readline().strip())
        assert_failed_cleanly(process, conn, "redirect (HTTP 307); it is not followed")
    finally:
        for s in (trap_server, server):
            s.shutdown()
            s.server_close()
    assert trapped == []


# ---- 2. a run that outlives its access token ------------------------------------------------------------------
def test_a_run_that_outlives_the_access_token_refreshes_and_persists_it(make_sandbox, conn, bundle, tmp_path):
    sandbox = make_sandbox(ttl=1.5)
    login(sandbox, conn)
    first = read_settings(conn)
    runtime = Runtime(bundle, Connection.from_file(conn), out_dir=tmp_path / "out", retry=RetrySettings.none())
    assert runtime.run("getCurrentUser", Job()).route == "success"
    poll(lambda: time.time() > first["expires_at"], "the access token to expire")
    assert runtime.run("getCurrentUser", Job()).route == "success"
    assert grants(sandbox) == {"authorization_code": 1, "refresh_token": 1}  # refreshed before the call, once
    persisted = read_settings(conn)
    assert persisted["access_token"] == runtime.connection.auth.access_token != first["access_token"]
    assert persisted["expires_at"] > first["expires_at"] and persisted["refresh_token"] == first["refresh_token"]
    assert stat.S_IMODE(conn.stat().st_mode) == 0o600
    statuses = [e["status"] for e in sandbox.request_log if e["path"] == "/api/v1/users/me"]
    assert statuses == [200, 200]  # the refresh came before the token was refused


def test_a_token_refused_before_its_expiry_is_refreshed_once_after_the_401(make_sandbox, conn, bundle, tmp_path):
    sandbox = make_sandbox(ttl=1)
    login(sandbox, conn)
    settings = read_settings(conn)
    conn.write_text(json.dumps({**settings, "expires_at": time.time() + 3600, "expires_in": 3600}))  # YAML reads JSON
    runtime = Runtime(bundle, Connection.from_file(conn), out_dir=tmp_path / "out", retry=RetrySettings.none())
    poll(lambda: sandbox.app.oauth.bearer_status(settings["access_token"]) == "expired", "the sandbox to expire it")
    assert runtime.run("getCurrentUser", Job()).route == "success"
    assert grants(sandbox)["refresh_token"] == 1
    assert [e["status"] for e in sandbox.request_log if e["path"] == "/api/v1/users/me"] == [401, 200]
    assert read_settings(conn)["access_token"] == runtime.connection.auth.access_token != settings["access_token"]


# ---- 3. two processes, one connection file ---------------------------------------------------------------------
SHARER = """
import json, sys, time
from pathlib import Path
from pipedrive_connect.client import PipedriveClient, RetrySettings
from pipedrive_connect.connection import Connection
conn, ready, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
client = PipedriveClient(Connection.from_file(conn), retry=RetrySettings.none())
ready.touch()
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
user = client.send("GET", "v1", "/users/me").data
mine = client.connection.auth.access_token
print(json.dumps({"user": user["name"], "uses_the_file_s_token": mine == Connection.from_file(conn).auth.access_token}))
"""


def test_two_processes_sharing_a_connection_file_refresh_once_and_lose_no_token(make_sandbox, conn, tmp_path):
    sandbox = make_sandbox(ttl=2)
    login(sandbox, conn)
    first = read_settings(conn)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SHARER, str(conn), str(r), str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for r in ready
    ]
    try:
        poll(lambda: all(r.exists() for r in ready), "both processes to load the connection")
        poll(lambda: time.time() > first["expires_at"], "the access token both hold to expire")
        go.touch()  # both now find their token expired and go for a refresh at once
        answers = [p.communicate(timeout=WAIT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    for process, (out, err) in zip(processes, answers, strict=True):
        assert process.returncode == 0, err.decode()
        assert json.loads(out) == {"user": sandbox.store.get("users", 1)["name"], "uses_the_file_s_token": True}
    assert grants(sandbox) == {"authorization_code": 1, "refresh_token": 1}  # one refresh between them
    assert len(sandbox.app.oauth.access) == 2  # the login's token and the refresh's: the file holds the latter
    assert read_settings(conn)["access_token"] != first["access_token"]


# ---- 4. a revoked grant ---------------------------------------------------------------------------------------
def revoke_at_pipedrive(sandbox: Sandbox, conn: Path) -> None:
    """The app is uninstalled on Pipedrive's side: its grant ends, the connection file does not know."""
    answer = requests.post(
        f"{sandbox.base_url}/oauth/revoke",
        data={"token": read_settings(conn)["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 200


def test_a_revoked_refresh_token_is_a_connection_error_that_says_to_log_in(make_sandbox, conn, tmp_path):
    sandbox = make_sandbox()
    login(sandbox, conn)
    revoke_at_pipedrive(sandbox, conn)
    done = cli("run", "getCurrentUser", "--connection", str(conn))
    error = json.loads(done.stdout)["error"]
    assert done.returncode == 1 and error["type"] == "connection"
    assert "no longer accepts the refresh token" in error["message"] and "pipedrive-connect login" in error["message"]


def test_a_revoked_grant_pauses_the_hot_folder_until_login_is_run_again(make_sandbox, conn, bundle, tmp_path):
    sandbox = make_sandbox()
    login(sandbox, conn)
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    runtime = Runtime(bundle, Connection.from_file(conn), out_dir=out, retry=RetrySettings.none())
    flow = Flow.from_dict(
        {"steps": [{"id": "deal", "action": "addDeal", "inputs": {"title": "{{ job.data.t }}"}}]}, runtime
    )
    hot = HotFolder(
        runtime,
        flow,
        inbox,
        out,
        reconnect=lambda: Connection.from_file(conn),
        settings=WatchSettings(settle=0, probe_every=(0.1, 0.2), backoff=(0.1, 0.2)),
    )
    runner = threading.Thread(target=hot.run)
    runner.start()
    try:
        poll(lambda: any(e["path"] == "/api/v1/users/me" for e in sandbox.request_log), "the start-up probe")
        revoke_at_pipedrive(sandbox, conn)
        for i in range(3):
            (inbox / f"order-{i}.json").write_text(json.dumps({"data": {"t": f"order {i}"}}))
        poll(lambda: "connection" in hot._pauses, "the runner to pause")
        assert "pipedrive-connect login" in hot._pauses["connection"]
        assert not list(out.rglob("error/*.json"))  # nothing failed for good
        login(sandbox, conn)  # the operator signs in again; the paused runner re-reads the file
        poll(lambda: len(list((out / "success").glob("*.json"))) == 3, "the held jobs to go through")
    finally:
        hot.stop.set()
        runner.join(timeout=WAIT)
    assert not runner.is_alive()
    assert sorted(p.stem for p in (out / "success").glob("*.json")) == [f"order-{i}" for i in range(3)]
    assert not list(inbox.glob("*.json")) and not list(out.rglob("error/*.json"))


def test_watch_paused_by_a_revoked_grant_leaves_the_inbox_alone(make_sandbox, conn, tmp_path):
    sandbox = make_sandbox()
    login(sandbox, conn)
    revoke_at_pipedrive(sandbox, conn)
    inbox, out, flow = tmp_path / "in", tmp_path / "out", tmp_path / "flow.json"
    inbox.mkdir()
    flow.write_text(json.dumps({"steps": [{"id": "deal", "action": "addDeal", "inputs": {"title": "x"}}]}))
    (inbox / "order-1.json").write_text(json.dumps({"data": {}}))
    done = cli(
        "watch", "--flow", str(flow), "--in", str(inbox), "--out", str(out), "--once", "--settle", "0",
        "--retry-for", "1", "--connection", str(conn),
    )  # fmt: skip
    assert "paused" in done.stderr and "pipedrive-connect login" in done.stderr
    assert (inbox / "order-1.json").exists() and not list(out.rglob("order-1*.json"))


# ---- 5. no secret in any output -------------------------------------------------------------------------------
def test_no_token_or_client_secret_reaches_any_output(make_sandbox, conn, tmp_path):
    """The whole life of a connection, every stdout, stderr and file it leaves (but the connection file)
    scanned for every token the sandbox ever issued and the client secret."""
    sandbox = make_sandbox(ttl=1)
    outputs = list(login(sandbox, conn))
    first = read_settings(conn)
    poll(lambda: time.time() > first["expires_at"], "the access token to expire")
    debug = ["--input", "debugRequest=true", "--out", str(tmp_path / "out"), "--connection", str(conn)]
    runs = [
        cli("check-connection", "--connection", str(conn)),
        cli("run", "getCurrentUser", *debug),
        cli("run", "getDeal", "--input", "id=999999", *debug),
    ]
    assert runs[1].returncode == 0 and grants(sandbox)["refresh_token"] >= 1
    runs.append(cli("logout", "--connection", str(conn)))
    outputs += [text for run in runs for text in (run.stdout, run.stderr)]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != conn.parent]
    assert any(p.parent.name != "out" for p in (tmp_path / "out").rglob("*.json"))  # the debug records were written
    outputs += [p.read_text(errors="replace") for p in files]
    secrets = issued_secrets(sandbox)
    assert len(secrets) >= 4
    leaks = [s[:6] for s in secrets if any(s in text for text in outputs)]
    assert not leaks, f"secrets (first characters shown) in outputs: {leaks}"
    assert set(os.listdir(conn.parent)) <= {conn.name, conn.name + ".lock"}  # no temporary file left behind


# ---- usage errors: one line, exit 2 ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, says",
    [
        (["login", "--client-id", "x", "--client-secret", "y"], "--connection FILE is required"),
        (["login", "--client-id", "x", "--connection", "c.yaml"], "PIPEDRIVE_CLIENT_SECRET"),
        (
            ["login", "--client-id", "x", "--client-secret", "y", "--connection", "no/such/dir/c.yaml"],
            "folder not found",
        ),
        (
            [
                "login",
                "--client-id",
                "x",
                "--client-secret",
                "y",
                "--connection",
                "c.yaml",
                "--oauth-base",
                "http://x.example",
            ],
            "plain http is only allowed",
        ),
        (["logout", "--connection", "missing.yaml"], "the connection file that login wrote"),
    ],
)
def test_login_and_logout_usage_errors(argv, says, capsys, monkeypatch, tmp_path):
    from pipedrive_connect.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPEDRIVE_CLIENT_SECRET", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
