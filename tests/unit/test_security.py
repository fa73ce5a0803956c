"""Hostile input: the raw request stays on the API host, file names stay in their folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from pipedrive_connect.files import filename_from_disposition, safe_filename, unique_path
from pipedrive_connect.jobs import Job

from ..conftest import BASE, TOKEN


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/api/v1/users/me",
        "http://127.0.0.1:8080/steal",
        "//evil.example/api/v1/users",
        "\\\\evil.example\\share",
        "/api/v1/../../etc/passwd",
        "/api/v1/%2e%2e/%2e%2e/admin",
        "/api/v1/%252e%252e/admin",
        "/api/v1/users/..%2f..%2fadmin",
        "/api/v1//evil.example",
        "/api/v1/users\r\nHost: evil.example",
        "/api/v1/users#frag",
        "/api/v3/deals",
        "javascript:alert(1)",
    ],
)
def test_raw_request_refuses_paths_that_leave_the_api(url, runtime):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        outcome = runtime.run("rawRequest", Job(), {"method": "GET", "url": url})
        assert len(rsps.calls) == 0
    assert outcome.route == "error" and outcome.error.kind == "input" and outcome.error.input_path == "url"


def test_raw_request_cannot_override_auth_headers(runtime):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/api/v1/users/me", json={"success": True, "data": {"id": 1}})
        outcome = runtime.run(
            "rawRequest",
            Job(),
            {"method": "GET", "url": "/users/me", "headers": {"X-API-Token": "other", "Authorization": "Bearer x"}},
        )
        request = rsps.calls[0].request
    assert outcome.route == "success"
    assert request.headers["x-api-token"] == TOKEN and "Authorization" not in request.headers


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/report.pdf", "report.pdf"),
        ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("bad\x00name\x1f.pdf", "badname.pdf"),
        ("..", "file"),
        ("", "file"),
        ("   .hidden", "hidden"),
        ('a<b>c:"d"|e?f*.txt', "a_b_c__d__e_f_.txt"),
        ("Bestellung Köln.pdf", "Bestellung Köln.pdf"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_long_names_keep_their_extension():
    name = safe_filename("x" * 500 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_unique_path_numbers_and_stays_inside(tmp_path):
    (tmp_path / "a.pdf").write_text("1")
    assert unique_path(tmp_path, "a.pdf").name == "a (1).pdf"
    assert unique_path(tmp_path, "b.pdf").parent == tmp_path.resolve()


def test_content_disposition_prefers_the_utf8_name():
    header = "attachment; filename=\"Koln.pdf\"; filename*=UTF-8''K%C3%B6ln.pdf"
    assert filename_from_disposition(header) == "Köln.pdf"


def test_download_with_hostile_name_stays_in_log_folder(runtime):
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{BASE}/api/v1/files/9/download",
            body=b"data",
            headers={"Content-Disposition": 'attachment; filename="../../../../tmp/owned.sh"'},
        )
        outcome = runtime.run("downloadFile", Job(id="j1"), {"id": 9})
    assert outcome.route == "success"
    written = Path(outcome.logs[0].path).resolve()
    assert written.name == "owned.sh"
    assert written.parent == (runtime.out_dir / "log" / "j1").resolve()


def test_download_size_limit_removes_the_partial_file(runtime):
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{BASE}/api/v1/files/9/download",
            body=b"x" * 5000,
            headers={"Content-Disposition": 'attachment; filename="big.bin"'},
        )
        outcome = runtime.run("downloadFile", Job(id="j2"), {"id": 9, "maxBytes": 1000})
    assert outcome.route == "error" and "size limit" in outcome.error.message
    assert not any((runtime.out_dir / "log" / "j2").iterdir())


def test_secrets_never_in_error_messages(runtime):
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{BASE}/api/v2/deals/1",
            status=400,
            json={"success": False, "error": f"bad token {TOKEN}", "error_info": TOKEN},
        )
        outcome = runtime.run("getDeal", Job(), {"id": 1, "debugRequest": True})
    text = repr(outcome.to_dict()) + repr([item.record for item in outcome.logs])
    assert TOKEN not in text
    assert outcome.logs and outcome.logs[0].kind == "debug"


def test_unexpected_handler_error_routes_without_traceback_or_secret(runtime, monkeypatch):
    action = runtime.bundle.action("getDeal")

    def broken(call):
        raise RuntimeError(f"kaboom with {TOKEN}")

    monkeypatch.setitem(action.__dict__, "handler", broken)
    outcome = runtime.run("getDeal", Job(), {"id": 1})
    assert outcome.route == "error" and outcome.error.kind == "unexpected"
    assert TOKEN not in outcome.error.message and "Traceback" not in outcome.error.message
