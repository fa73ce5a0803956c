"""Bad input on the command line: one line on stderr saying what to fix, never a traceback or a secret."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from pipedrive_connect import cli
from pipedrive_connect.cli import main

SECRET = "tok-LEAKME-4242abcd"


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def secrets_dir(tmp_path):
    """Connection files live under secrets/ (the session-wide leak check skips that folder)."""
    path = tmp_path / "secrets"
    path.mkdir()
    return path


# ---- 1. usage errors ----------------------------------------------------------------------
def test_connection_file_with_yaml_syntax_error(capsys, secrets_dir):
    conn = secrets_dir / "conn.yaml"
    conn.write_text(f"type: apiToken\napi_token: {SECRET}\n  base_url: [https://acme.pipedrive.com\n")
    code, out, err = run(capsys, "check-connection", "--connection", str(conn))
    line = one_line(err)
    assert code == 2 and "not valid YAML" in line and "line" in line and str(conn) in line
    assert SECRET not in out + err


def test_connection_file_missing(capsys, tmp_path):
    code, _, err = run(capsys, "check-connection", "--connection", str(tmp_path / "nope.yaml"))
    assert code == 2 and "not found" in one_line(err)


def test_connection_file_with_wrong_types(capsys, secrets_dir):
    conn = secrets_dir / "conn.yaml"
    conn.write_text(f"type: apiToken\napi_token: {SECRET}\nbase_url: [1, 2]\n")
    code, out, err = run(capsys, "check-connection", "--connection", str(conn))
    assert code == 2 and "base_url" in one_line(err) and SECRET not in out + err


def test_unknown_resource_on_actions(capsys):
    code, _, err = run(capsys, "actions", "--resource", "dealz")
    line = one_line(err)
    assert code == 2 and "unknown resource 'dealz'" in line and "deals" in line


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "cannot read"),
        ("{ not json", "not valid JSON"),
        ('["a list"]', "JSON object"),
        ('{"deals": 5}', "JSON object"),
    ],
)
def test_sandbox_bad_data_file(capsys, tmp_path, content, expected):
    data = tmp_path / "seed.json"
    if content is not None:
        data.write_text(content)
    code, _, err = run(capsys, "sandbox", "--port", "0", "--data", str(data))
    line = one_line(err)
    assert code == 2 and expected in line and "--data" in line


def test_sandbox_data_that_is_not_a_database(capsys, tmp_path):
    data = tmp_path / "store.db"
    data.write_text("this is no sqlite file " * 50)
    code, _, err = run(capsys, "sandbox", "--port", "0", "--data", str(data))
    assert code == 2 and "--data" in one_line(err)


def test_sandbox_generate_unknown_table(capsys):
    code, _, err = run(capsys, "sandbox", "--port", "0", "--generate", "dealz=5")
    line = one_line(err)
    assert code == 2 and "--generate" in line and "dealz" in line


def test_sandbox_generate_bad_count_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sandbox", "--port", "0", "--generate", "deals=abc"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err and "expected TABLE=COUNT, got 'deals=abc'" in err


# ---- 1. the general guard -----------------------------------------------------------------
def _boom(args):
    raise RuntimeError(f"something broke near {SECRET}")


def test_unexpected_error_is_one_line_without_traceback(capsys, monkeypatch):
    monkeypatch.delenv("PIPEDRIVE_CONNECT_DEBUG", raising=False)
    monkeypatch.setattr(cli, "cmd_actions", _boom)
    code, out, err = run(capsys, "actions")
    line = one_line(err)
    assert code == 3 and "internal error: RuntimeError" in line and "please report" in line
    assert SECRET not in out + err


def test_debug_env_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("PIPEDRIVE_CONNECT_DEBUG", "1")
    monkeypatch.setattr(cli, "cmd_actions", _boom)
    code, _, err = run(capsys, "actions")
    assert code == 3 and "Traceback" in err and "internal error: RuntimeError" in err


# ---- 2. base URLs -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "base_url, expected",
    [
        ("acme.pipedrive.com", "must start with https://"),
        ("ftp://acme.pipedrive.com", "must start with https://"),
        ("https://", "host"),
        ("https://acme pipedrive.com", "host"),
        ("https://acme.pipedrive.com:99999", "port"),
        ("http://acme.pipedrive.com", "plain http"),
        ("https://acme.pipedrive.com/api/v1", "path"),
        (f"https://acme.pipedrive.com/?api_token={SECRET}", "query"),
        (f"https://acme.pipedrive.com/x?api_token={SECRET}", "query"),
        (f"http://acme.pipedrive.com/?api_token={SECRET}", "query"),
        (f"https://me:{SECRET}@acme.pipedrive.com", "user name or password"),
        (f"https://{SECRET}@acme.pipedrive.com", "user name or password"),
        (f"https://acme.pipedrive.com#{SECRET}", "fragment"),
    ],
)
def test_wrong_base_url_says_why_without_echoing_secrets(capsys, monkeypatch, base_url, expected):
    monkeypatch.setenv("PIPEDRIVE_API_TOKEN", "another-token-123")
    monkeypatch.setenv("PIPEDRIVE_BASE_URL", base_url)
    for argv in (["check-connection"], ["run", "getDeal", "--input", "id=1"], ["picklist", "selectStage"]):
        code, out, err = run(capsys, *argv)
        line = one_line(err)
        assert code == 2 and "PIPEDRIVE_BASE_URL" in line and expected in line, line
        assert SECRET not in out + err and "no connection" not in (out + err).lower()


def test_wrong_base_url_in_a_connection_file(capsys, secrets_dir):
    conn = secrets_dir / "conn.json"
    conn.write_text(
        json.dumps(
            {
                "type": "apiToken",
                "api_token": "abcdefgh1234",
                "base_url": f"https://acme.pipedrive.com/?api_token={SECRET}",
            }
        )
    )
    code, out, err = run(capsys, "check-connection", "--connection", str(conn))
    line = one_line(err)
    assert code == 2 and "base_url" in line and "query" in line and SECRET not in out + err


# ---- 3. OAuth refresh failures --------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failed_oauth_refresh_is_reported_not_raised(capsys, secrets_dir):
    conn = secrets_dir / "oauth.yaml"
    conn.write_text(
        f"type: oauth2\naccess_token: access-{SECRET}\nrefresh_token: refresh-{SECRET}\n"
        f"client_id: cid\nclient_secret: cs-{SECRET}\nexpires_at: 1\n"
        f"api_domain: https://acme.pipedrive.com\ntoken_url: http://127.0.0.1:{_closed_port()}/oauth/token\n"
    )
    for argv in (["check-connection"], ["run", "getDeal", "--input", "id=1"], ["picklist", "selectPerson"]):
        code, out, err = run(capsys, *argv, "--connection", str(conn))
        assert code == 1 and "Traceback" not in err and SECRET not in out + err
        report = json.loads(out)
        error = report["error"]
        assert error["type"] in ("network", "connection") and "token" in error["message"].lower()


# ---- 4. check-connection answers quickly ------------------------------------------------------
@pytest.mark.slow  # waits out check-connection's read timeout (5 s)
def test_check_connection_gives_up_quickly_on_a_silent_host(capsys, monkeypatch):
    timeouts = []
    send = requests.Session.send

    def recording_send(session, request, **kwargs):
        timeouts.append(kwargs.get("timeout"))
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", recording_send)
    with socket.socket() as silent:  # accepts connections (the backlog does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", "abcdefgh1234")
        monkeypatch.setenv("PIPEDRIVE_BASE_URL", f"http://127.0.0.1:{port}")
        code, out, err = run(capsys, "check-connection")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    # quickly, without timing it: one attempt, never retried, within check-connection's own short timeouts
    assert len(timeouts) == 1
    assert all(t <= limit for t, limit in zip(timeouts[0], cli.CHECK_TIMEOUT, strict=True)), timeouts
    assert f"no answer from 127.0.0.1:{port} within" in report["error"]["message"]
