"""docs/sandbox.md's table of implemented operations is the sandbox's route table (generated, checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipedrive_connect import routedocs
from pipedrive_connect.cli import main
from pipedrive_connect.sandbox.routes import ROUTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


def test_route_table_in_the_docs_is_current():
    if not DOC.exists():
        pytest.skip("docs/ is not shipped with an installed package")
    text = DOC.read_text(encoding="utf-8")
    assert routedocs.render(text) == text, "run `pipedrive-connect docs` and commit docs/sandbox.md"


def test_every_route_is_a_row():
    table = routedocs.route_table()
    assert len(table.splitlines()) == len(ROUTES) + 2
    assert "| PATCH | `/api/v2/deals/{id}/products/{item_id}` | updateDealProduct | 5 |" in table


def test_docs_rewrites_a_stale_table_and_check_notices(tmp_path, capsys, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    stale = f"# Sandbox\n\n{routedocs.BEGIN}\n| GET | `/api/v2/old` | old | 1 |\n{routedocs.END}\n\nafter\n"
    (docs / "sandbox.md").write_text(stale, encoding="utf-8")
    out = str(docs / "actions.md")
    assert main(["docs", "--check", "--out", out]) == 1
    assert "sandbox.md is out of date" in capsys.readouterr().err
    assert main(["docs", "--out", out]) == 0
    text = (docs / "sandbox.md").read_text(encoding="utf-8")
    assert "old" not in text and text.startswith("# Sandbox\n\n") and text.endswith(f"{routedocs.END}\n\nafter\n")
    assert main(["docs", "--check", "--out", out]) == 0


def test_a_doc_without_markers_is_refused(tmp_path, capsys):
    (tmp_path / "sandbox.md").write_text("# no markers\n", encoding="utf-8")
    assert main(["docs", "--out", str(tmp_path / "actions.md")]) == 2
    assert "lacks the markers" in capsys.readouterr().err
