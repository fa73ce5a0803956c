"""The command line as a user types it, against the sandbox."""

from __future__ import annotations

import io
import json
import os
import sys

import pytest

from pipedrive_connect.cli import main

from .conftest import SANDBOX_TOKEN


@pytest.fixture
def env(sandbox, monkeypatch):
    monkeypatch.setenv("PIPEDRIVE_API_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("PIPEDRIVE_BASE_URL", sandbox.base_url)
    return sandbox


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_actions_json(capsys, bundle):
    code, out, _ = run(capsys, "actions", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == sum(1 for a in bundle.actions.values() if not a.removed)
    add_deal = next(r for r in rows if r["key"] == "addDeal")
    assert {k: add_deal[k] for k in ("label", "resource", "api_version", "method", "path")} == {
        "label": "Add Deal",
        "resource": "deals",
        "api_version": "v2",
        "method": "POST",
        "path": "/deals",
    }


def test_describe_shows_inputs_and_examples(capsys):
    code, out, _ = run(capsys, "describe", "addDeal")
    described = json.loads(out)
    assert code == 0 and described["key"] == "addDeal" and described["description"]
    assert described["inputs"]["properties"]["orgId"]["x-datasource"] == "selectOrganization"
    assert described["inputs"]["examples"]


def test_describe_unknown_action_is_a_usage_error(capsys):
    code, _, err = run(capsys, "describe", "addDael")
    assert code == 2 and "did you mean addDeal" in err


def test_run_success_error_and_usage_exit_codes(capsys, env, tmp_path):
    code, out, _ = run(capsys, "run", "addDeal", "--input", "title=CLI deal", "--input", "value=12.5")
    outcome = json.loads(out)
    assert code == 0 and outcome["route"] == "success" and outcome["result"]["value"] == 12.5
    assert outcome["api_calls"] == 1 and outcome["token_cost"] == 5
    code, out, _ = run(capsys, "run", "getDeal", "--input", "id=999999")
    assert code == 1 and json.loads(out)["error"]["type"] == "not_found"
    code, out, _ = run(capsys, "run", "addDeal", "--input", "orgId=abc", "--input", "title=x")
    assert code == 1 and json.loads(out)["error"]["input"] == "orgId"
    code, _, err = run(capsys, "run", "addDeal", "--input", "no-equals-sign")
    assert code == 2 and "NAME=VALUE" in err


def test_run_with_job_inputs_file_and_out(capsys, env, tmp_path):
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"data": {"customer": "Initech"}, "metadata": {"orderId": "77"}}))
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"title": "{{ job.data.customer }} order {{ job.metadata.orderId }}"}))
    out_dir = tmp_path / "out"
    code, out, _ = run(capsys, "run", "addDeal", "--inputs", str(inputs), "--job", str(job), "--out", str(out_dir))
    report = json.loads(out)
    assert code == 0 and report["result"]["title"] == "Initech order 77"
    written = json.loads((out_dir / "success" / "job.json").read_text())
    assert written["steps"]["addDeal"]["result"]["title"] == "Initech order 77"


def test_picklist(capsys, env):
    code, out, _ = run(capsys, "picklist", "selectPerson", "--search", "Maria")
    assert code == 0 and {"key": 1, "label": "Maria Anders <maria@northwind.example>"} in json.loads(out)["options"]
    code, out, _ = run(capsys, "picklist", "selectStage", "--param", "pipelineId=1")
    page = json.loads(out)
    stages = ["New business › Lead in", "New business › Demo booked", "New business › Contract sent"]
    assert code == 0 and [o["label"] for o in page["options"]] == stages
    assert page["next_cursor"] is None


def test_picklist_next_cursor_is_in_the_json(capsys, env):
    code, out, err = run(capsys, "picklist", "selectPerson", "--limit", "1")
    first = json.loads(out)
    assert code == 0 and len(first["options"]) == 1 and first["next_cursor"] and not err
    code, out, _ = run(capsys, "picklist", "selectPerson", "--limit", "1", "--cursor", first["next_cursor"])
    assert code == 0 and json.loads(out)["options"] != first["options"]


def test_run_reports_paging_hints(capsys, env):
    code, out, _ = run(capsys, "run", "getDeals", "--input", "limit=1")
    report = json.loads(out)
    assert code == 0 and len(report["result"]) == 1 and report["next_cursor"]
    code, out, _ = run(capsys, "run", "getDeals", "--input", "limit=1", "--input", f"cursor={report['next_cursor']}")
    assert code == 0 and json.loads(out)["result"] != report["result"]
    for text in ("first", "second"):
        assert run(capsys, "run", "addNote", "--input", f"content={text}", "--input", "dealId=1")[0] == 0
    code, out, _ = run(capsys, "run", "getNotes", "--input", "limit=1")
    report = json.loads(out)
    assert code == 0 and report["next_start"] == 1 and "next_cursor" not in report
    code, out, _ = run(capsys, "run", "getDeals", "--input", "limit=500")
    assert code == 0 and "next_cursor" not in json.loads(out)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_fetch_all_shows_progress_on_a_terminal_only(capsys, env, monkeypatch):
    argv = ["run", "getDeals", "--input", "fetchAll=yes"]
    code, out, err = run(capsys, *argv)  # captured stderr is not a terminal: silent
    assert code == 0 and json.loads(out)["result"] and err == ""
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    shown = terminal.getvalue()
    assert "records" in shown and "pages=1" in shown
    terminal.truncate(0)
    assert main([*argv, "--quiet"]) == 0 and terminal.getvalue() == ""


def test_check_connection(capsys, env, monkeypatch):
    code, out, _ = run(capsys, "check-connection")
    assert code == 0 and json.loads(out)["ok"] is True
    monkeypatch.setenv("PIPEDRIVE_API_TOKEN", "not-the-right-token")
    code, out, _ = run(capsys, "check-connection")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["error"]["type"] == "connection"
    assert "not-the-right-token" not in out


def test_no_connection_is_explained(capsys, monkeypatch):
    monkeypatch.delenv("PIPEDRIVE_API_TOKEN", raising=False)
    code, out, _ = run(capsys, "run", "getDeal", "--input", "id=1")
    assert code == 1 and "PIPEDRIVE_API_TOKEN" in json.loads(out)["error"]["message"]


def test_connection_file(capsys, sandbox, tmp_path, monkeypatch):
    monkeypatch.delenv("PIPEDRIVE_API_TOKEN", raising=False)
    (tmp_path / "secrets").mkdir()
    conn = tmp_path / "secrets" / "conn.yaml"
    conn.write_text(f"type: apiToken\napi_token: {SANDBOX_TOKEN}\nbase_url: {sandbox.base_url}\n")
    code, out, _ = run(capsys, "check-connection", "--connection", str(conn))
    assert code == 0 and json.loads(out)["ok"]


def test_removed_action_explains_itself(capsys, env):
    code, out, _ = run(capsys, "run", "getSubscription", "--input", "id=1")
    assert code == 1 and "no longer available" in json.loads(out)["error"]["message"]


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    for command in (
        "actions",
        "describe",
        "run",
        "picklist",
        "check-connection",
        "login",
        "logout",
        "sandbox",
        "demo",
        "watch",
        "docs",
        "serve",
    ):
        assert command in out


BAD_FLOW = """name: broken
steps:
  - id: deal
    action: addDeal
    inputs:
      titel: "Order {{ job.data.orderId }}"
  - id: note
    action: addNote
    inputs:
      content: "{{ job.data.comment"
      dealId: "{{ steps.dael.result.id }}"
"""


def test_validate_flow(capsys, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("- action: addDeal\n  inputs: {title: '{{ job.data.title }}'}\n")
    code, out, _ = run(capsys, "validate", "--flow", str(good))
    assert code == 0 and "flow OK: 1 steps" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_FLOW)
    code, out, err = run(capsys, "validate", "--flow", str(bad))
    lines = err.strip().splitlines()
    assert code == 1 and "flow OK" not in out and len(lines) == 4 and "Traceback" not in err
    assert lines[0] == f"{bad}: step 'deal' input 'titel': unknown input; did you mean 'title'?"
    assert lines[1] == f"{bad}: step 'deal' input 'title': required, but the step does not set it"
    assert lines[2].startswith(f"{bad}: step 'note' input 'content': template error:")
    assert lines[3].startswith(f"{bad}: step 'note' input 'dealId': refers to steps.dael")


def test_watch_refuses_a_broken_flow_before_any_job(capsys, env, tmp_path):
    flow, inbox, out = tmp_path / "flow.yaml", tmp_path / "in", tmp_path / "out"
    flow.write_text(BAD_FLOW)
    inbox.mkdir()
    (inbox / "job-1.json").write_text(json.dumps({"data": {"orderId": "1"}}))
    code, _, err = run(capsys, "watch", "--flow", str(flow), "--in", str(inbox), "--out", str(out), "--once")
    assert code == 2 and "Traceback" not in err and "bundle" not in err
    assert f"{flow}: step 'deal' input 'titel': unknown input; did you mean 'title'?" in err.splitlines()
    assert (inbox / "job-1.json").exists() and not list(out.rglob("*.json"))


def test_demo_refuses_a_broken_flow_before_any_job(capsys, tmp_path, monkeypatch):
    import shutil

    from pipedrive_connect import demo

    samples = tmp_path / "samples"
    shutil.copytree(demo.SAMPLES, samples)
    (samples / "order-flow.yaml").write_text(BAD_FLOW)
    (tmp_path / "sandbox").mkdir()
    shutil.copy(demo.SAMPLES.parent / "sandbox" / "sample_data.json", tmp_path / "sandbox")
    monkeypatch.setattr(demo, "SAMPLES", samples)
    out = tmp_path / "demo"
    code, _, err = run(capsys, "demo", "--out", str(out))
    assert code == 2 and "Traceback" not in err and "step 'deal' input 'titel'" in err
    assert not (out / "success").exists() and not (out / "error").exists()


def test_run_dry_run_prints_the_request_and_sends_nothing(capsys, env):
    code, out, _ = run(capsys, "run", "addDeal", "--input", "title=Order 1042", "--input", "value=120", "--dry-run")
    preview = json.loads(out)
    assert code == 0 and preview["request"]["url"] == f"{env.base_url}/api/v2/deals"
    assert preview["request"]["json"] == {"title": "Order 1042", "value": 120} and preview["token_cost"] == 5
    assert preview["request"]["headers"] == {"x-api-token": "***"} and SANDBOX_TOKEN not in out
    assert not [r for r in env.request_log if r["method"] == "POST"]
    code, out, _ = run(capsys, "run", "addDeal", "--input", "value=120", "--dry-run")
    assert code == 1 and json.loads(out)["error"]["message"] == "Input 'title' is required"


def test_serve_refuses_another_host_without_a_token(capsys):
    code, _, err = run(capsys, "serve", "--host", "0.0.0.0", "--port", "0", "--sandbox")
    assert code == 2 and err.strip() == (
        "pipedrive-connect serve: serving on 0.0.0.0 needs --auth-token (only loopback may go without)"
    )


def test_serve_with_the_sandbox_as_a_process(tmp_path):
    """What a newcomer runs: the designer on an in-process sandbox, until SIGTERM."""
    import re
    import select
    import signal
    import subprocess
    import urllib.request

    command = [sys.executable, "-m", "pipedrive_connect.cli", "serve", "--sandbox", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEDRIVE_")}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert select.select([server.stdout], [], [], 30)[0], "serve printed nothing within 30 s"
        line = server.stdout.readline()  # the first line names the address
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        ask = urllib.request.Request(
            url + "/api/picklists/selectPipeline", data=b"{}", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(ask, timeout=10) as answer:
            assert json.load(answer)["options"] == [{"key": 1, "label": "New business"}]
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
