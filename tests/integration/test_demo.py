"""The README's first command: the demo runs the sample flow on the sandbox and routes every job."""

from __future__ import annotations

import json

from pipedrive_connect.cli import main


def test_demo_routes_every_sample_job(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.stem for p in (out / "success").glob("*.json")) == ["order-1042", "order-1043"]
    assert sorted(p.stem for p in (out / "error").glob("*.json")) == ["order-1044-bad"]
    good = json.loads((out / "success" / "order-1042.json").read_text(encoding="utf-8"))
    steps = good["steps"]
    deal = steps["deal"]["result"]
    assert deal["org_id"] == steps["organization"]["result"]["id"]
    assert deal["person_id"] == steps["person"]["result"]["id"]
    assert steps["product"]["result"]["product_id"] == 2
    assert steps["attachment"]["result"]["deal_id"] == deal["id"]
    assert steps["note"]["result"]["deal_id"] == deal["id"]
    download = steps["download"]["result"]
    assert download["name"] == "Bestellung 1042 Köln.pdf"
    assert (out / "log" / good["id"] / "Bestellung 1042 Köln.pdf").read_bytes().startswith(b"%PDF-1.4")
    bad = json.loads((out / "error" / "order-1044-bad.json").read_text())
    assert bad["error"]["step"] == "organization" and bad["error"]["type"] == "input"
    assert "company" in bad["error"]["message"]
    assert "order-1044-bad   error" in printed and "3 jobs: 2 success, 1 error" in printed
    assert str(out) in printed
