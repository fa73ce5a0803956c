"""`run` prints its report as it encodes it: a fetch-all's report is never held whole (issue 17, item 4)."""

from __future__ import annotations

import io
import json
import tracemalloc

from pipedrive_connect import cli


class CountingOut(io.TextIOBase):
    """stdout that keeps nothing: only how much was written and the last bytes."""

    def __init__(self):
        self.size, self.tail = 0, ""

    def write(self, text: str) -> int:
        self.size += len(text)
        self.tail = (self.tail + text)[-64:]
        return len(text)


def test_a_big_report_is_written_without_holding_its_text(monkeypatch):
    items = [
        {"id": i, "title": f"Deal {i}", "value": i * 10.5, "owner": {"id": 7, "name": "Ann"}} for i in range(20000)
    ]
    report = {"route": "success", "result": items, "api_calls": 40}
    expected = json.dumps(report, indent=2, ensure_ascii=False)
    sink = CountingOut()
    monkeypatch.setattr(cli.sys, "stdout", sink)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        cli._print(report)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert sink.size == len(expected) + 1 and sink.tail == expected[-63:] + "\n"
    assert peak < sink.size / 4  # the whole text is about 3 MB here; holding it (as before) is more than 1x


def test_the_printed_report_is_the_same_json(monkeypatch, capsys):
    report = {"route": "success", "result": [{"title": "Été", "n": 1}], "when": object}
    cli._print(report)
    assert capsys.readouterr().out == json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
