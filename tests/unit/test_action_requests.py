"""Every action: the exact request it sends, and how success, a Pipedrive error and bad input route.

Cases live in tests/requests/<resource>.yaml, written from Pipedrive's API reference.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import yaml
from werkzeug.formparser import parse_form_data

from pipedrive_connect.jobs import Attachment, Job

from ..conftest import BASE, TOKEN

CASE_DIR = Path(__file__).resolve().parent.parent / "requests"


def load_cases():
    cases = []
    for file in sorted(CASE_DIR.glob("*.yaml")):
        for key, items in yaml.safe_load(file.read_text(encoding="utf-8")).items():
            for i, case in enumerate(items):
                cases.append(pytest.param(key, case, id=f"{key}-{i}"))
    return cases


CASES = load_cases()


def _job_for(case, tmp_path) -> Job:
    job = Job(data={"orderId": 1042})
    if "attachment" in case:
        path = tmp_path / case["attachment"]["name"]
        path.write_bytes(case["attachment"]["content"].encode())
        job.files.append(Attachment(case["attachment"]["name"], str(path), "application/pdf"))
    return job


def _register(rsps, request, response):
    response = response or {}
    kwargs = {"status": response.get("status", 200), "headers": response.get("headers")}
    if "body" in response:
        kwargs["body"] = response["body"].encode()
    else:
        kwargs["json"] = response.get("json", {"success": True, "data": {"id": 1}})
    rsps.add(request["method"], BASE + request["path"], **kwargs)


def _multipart(req):
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": req.headers["Content-Type"],
        "CONTENT_LENGTH": str(len(req.body)),
        "wsgi.input": io.BytesIO(req.body),
    }
    _, form, files = parse_form_data(environ)
    return dict(form), {name: {"filename": f.filename, "content": f.read().decode()} for name, f in files.items()}


def assert_request(req, expected):
    url = urlsplit(req.url)
    assert req.method == expected["method"]
    assert url.path == expected["path"]
    query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    assert query == {k: str(v) for k, v in (expected.get("query") or {}).items()}
    assert req.headers["x-api-token"] == TOKEN
    assert TOKEN not in req.url and "api_token" not in req.url
    for name, value in (expected.get("headers") or {}).items():
        assert req.headers.get(name) == value
    content_type = req.headers.get("Content-Type", "")
    if "json" in expected:
        assert content_type == "application/json"
        assert json.loads(req.body) == expected["json"]
    elif "form" in expected:
        assert content_type == "application/x-www-form-urlencoded"
        assert {k: v[0] for k, v in parse_qs(req.body).items()} == expected["form"]
    elif "multipart" in expected:
        assert content_type.startswith("multipart/form-data")
        fields, files = _multipart(req)
        assert fields == expected["multipart"]["fields"]
        assert files == expected["multipart"]["files"]
    else:
        assert not req.body, f"unexpected body {req.body!r}"


def _register_setup(rsps, case):
    """Calls an action makes before its main request (e.g. reading field definitions), answered as given."""
    for exchange in case.get("setup", []):
        rsps.add(exchange["method"], BASE + exchange["path"], json=exchange["json"])
    return len(case.get("setup", []))


@pytest.mark.parametrize("key,case", CASES)
def test_sends_exact_request_and_routes_success(key, case, runtime, tmp_path):
    with responses.RequestsMock() as rsps:
        before = _register_setup(rsps, case)
        _register(rsps, case["request"], case.get("response"))
        outcome = runtime.run(key, _job_for(case, tmp_path), case["inputs"])
        assert outcome.route == "success", outcome.error and outcome.error.to_dict()
        assert len(rsps.calls) == before + 1
        assert_request(rsps.calls[before].request, case["request"])
    if "result" in case:
        expected = case["result"]
        if isinstance(expected, dict) and isinstance(outcome.result, dict):
            assert {k: outcome.result.get(k) for k in expected} == expected
        else:
            assert outcome.result == expected
    assert outcome.job.steps[key]["result"] == outcome.result
    assert not [item.name for item in outcome.logs if item.kind == "warning"], "cases use the current input names"
    if "log_file" in case:
        files = [item for item in outcome.logs if item.kind == "file"]
        assert [f.name for f in files] == [case["log_file"]["name"]]
        assert Path(files[0].path).read_text() == case["log_file"]["content"]
    setup_cost = 10 * len(case.get("setup", []))  # field lists (v2 list cost)
    assert outcome.cost == runtime.bundle.action(key).cost + setup_cost or key == "rawRequest"


@pytest.mark.parametrize("key,case", CASES)
def test_pipedrive_error_routes_to_error(key, case, runtime, tmp_path):
    envelope = {"success": False, "error": "Something is off", "error_info": "Please check the docs", "data": None}
    with responses.RequestsMock() as rsps:
        _register_setup(rsps, case)
        rsps.add(case["request"]["method"], BASE + case["request"]["path"], json=envelope, status=400)
        outcome = runtime.run(key, _job_for(case, tmp_path), case["inputs"])
    assert outcome.route == "error"
    error = outcome.error.to_dict()
    assert error["type"] == "rejected" and error["status"] == 400 and not error["retryable"]
    assert error["pipedrive_error"] == "Something is off - Please check the docs"
    assert key not in outcome.job.steps


@pytest.mark.parametrize("key,case", CASES)
def test_invalid_input_never_reaches_pipedrive(key, case, runtime, bundle, tmp_path):
    required = bundle.action(key).schema.get("required", [])
    inputs = dict(case["inputs"])
    if required:
        inputs.pop(required[0], None)
    else:
        inputs["noSuchInput"] = "x"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        outcome = runtime.run(key, _job_for(case, tmp_path), inputs)
        assert len(rsps.calls) == 0
    assert outcome.route == "error"
    assert outcome.error.kind == "input"
    if required:
        assert outcome.error.input_path == required[0]
        assert required[0] in outcome.error.message


def test_every_action_has_a_request_case(bundle):
    covered = {param.values[0] for param in CASES}
    missing = sorted(k for k, a in bundle.actions.items() if not a.removed and k not in covered)
    assert not missing, f"actions without a request case in tests/requests/: {missing}"


@pytest.mark.parametrize("key,case", CASES)
def test_preview_shows_the_request_the_case_sends_and_sends_nothing(key, case, runtime, tmp_path):
    """`run --dry-run` and the designer's preview: the same request as the case, only the lookups sent."""
    with responses.RequestsMock() as rsps:
        before = _register_setup(rsps, case)
        preview = runtime.preview(key, _job_for(case, tmp_path), case["inputs"])
        assert len(rsps.calls) == before
    shown, expected = preview["request"], case["request"]
    url = urlsplit(shown["url"])
    assert (shown["method"], f"{url.scheme}://{url.netloc}", url.path) == (expected["method"], BASE, expected["path"])
    assert {k: str(v) for k, v in shown["query"].items()} == {
        k: str(v) for k, v in (expected.get("query") or {}).items()
    }
    assert {k: v[0] for k, v in parse_qs(url.query).items()} == {k: str(v) for k, v in shown["query"].items()}
    assert shown["headers"]["x-api-token"] == "***" and TOKEN not in json.dumps(preview)
    if "json" in expected:
        assert shown["json"] == expected["json"]
    elif "form" in expected:
        assert {k: str(v) for k, v in shown["form"].items()} == expected["form"]
    elif "multipart" in expected:
        assert {k: str(v) for k, v in (shown.get("form") or {}).items()} == expected["multipart"]["fields"]
        assert {k: f["file_name"] for k, f in shown["files"].items()} == {
            k: f["filename"] for k, f in expected["multipart"]["files"].items()
        }
    else:
        assert "json" not in shown and "form" not in shown
    assert preview["token_cost"] == runtime.bundle.action(key).cost or key == "rawRequest"
