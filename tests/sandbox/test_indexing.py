"""Search-index lag and creates whose answer is lost (sandbox/handlers/indexing.py), over loopback."""

from __future__ import annotations

import pytest
import requests

from pipedrive_connect.sandbox.handlers import indexing
from pipedrive_connect.sandbox.server import add_arguments

from .helpers import Api


def person_search(api: Api, term: str) -> list[int]:
    answer = api.get("/api/v2/persons/search", params={"term": term, "fields": "email", "exact_match": "true"})
    return [hit["item"]["id"] for hit in answer.json()["data"]["items"]]


def test_a_new_record_is_searchable_only_after_the_lag(make_sandbox, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(indexing.time, "monotonic", lambda: clock[0])
    api = Api(make_sandbox(search_lag=30))
    made = api.post("/api/v2/persons", json={"name": "Lag", "emails": ["lag@example.org"]}).json()["data"]
    assert person_search(api, "lag@example.org") == []
    field = api.get("/api/v2/itemSearch/field", params={"term": "Lag", "entity_type": "person", "field": "name"})
    assert field.json()["data"] == []
    assert api.get(f"/api/v2/persons/{made['id']}").status_code == 200  # reads by id see it at once
    clock[0] += 30
    assert person_search(api, "lag@example.org") == [made["id"]]


def test_without_a_lag_search_finds_a_new_record_at_once(api):
    made = api.post("/api/v2/persons", json={"name": "Now", "emails": ["now@example.org"]}).json()["data"]
    assert person_search(api, "now@example.org") == [made["id"]]


@pytest.mark.parametrize("answer", ["502", "drop"])
def test_an_ambiguous_create_is_applied_but_answered_as_a_failure(make_sandbox, answer):
    sandbox = make_sandbox()
    sandbox.app.ambiguous.arm(1, answer)
    api = Api(sandbox)
    before = sandbox.store.count("deals")
    if answer == "502":
        assert api.post("/api/v2/deals", json={"title": "Lost answer"}).status_code == 502
    else:
        with pytest.raises(requests.ConnectionError):
            api.post("/api/v2/deals", json={"title": "Lost answer"})
    assert sandbox.store.count("deals") == before + 1 and sandbox.app.ambiguous.given == 1
    assert sandbox.request_log[-1]["fault"] == f"ambiguous_{answer}"
    assert api.post("/api/v2/deals", json={"title": "Answered"}).status_code in (200, 201)  # only the armed one


def test_the_command_line_options_parse_and_refuse_negatives(make_sandbox):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--search-lag", "2.5", "--ambiguous-creates", "3"])
    assert (args.search_lag, args.ambiguous_creates) == (2.5, 3)
    for bad in (["--search-lag", "-1"], ["--ambiguous-creates", "-2"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
