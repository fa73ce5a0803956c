"""Pipedrive's wire rules (pipedrive.py) and the one rule of what may be repeated (client.may_repeat)."""

from __future__ import annotations

import pytest

from pipedrive_connect import pipedrive
from pipedrive_connect.client import Request, may_repeat


@pytest.mark.parametrize(
    "method, repeat",
    [("GET", True), ("put", True), ("PATCH", True), ("DELETE", True), ("POST", False), ("post", False)],
)
def test_only_a_create_may_not_be_repeated(method, repeat):
    assert may_repeat(method) is repeat


def test_every_declared_method_is_judged_the_same_by_the_client_and_the_hot_folder(bundle):
    methods = {action.method for action in bundle.actions.values() if action.method}
    assert methods <= {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert [m for m in sorted(methods) if not may_repeat(m)] == ["POST"]


def test_the_api_roots_come_from_the_manifest(bundle, runtime):
    block = bundle.manifest["api"]
    assert runtime.api == pipedrive.Api.from_manifest(block)
    assert runtime.api.prefixes == block["prefixes"]
    assert runtime.client.url("v2", "/deals").endswith(block["prefixes"]["v2"] + "/deals")
    custom = pipedrive.Api.from_manifest({"prefixes": {"v1": "/pd/v1", "v2": "/pd/v2"}})
    assert custom.locate("/pd/v2/deals/1") == ("v2", "/deals/1")
    assert custom.locate("/v1/users/me") == ("v1", "/users/me")  # v1 also answers without /api
    assert custom.locate("/api/v1/deals") is None


def test_paging_styles():
    cursor, offset = pipedrive.paging("cursor"), pipedrive.paging("offset")
    assert (cursor.param, offset.param) == ("cursor", "start")
    assert cursor.step({"next_cursor": "c2"}, None, 500) == (True, "c2")
    assert cursor.step({"next_cursor": None}, "c2", 3) == (False, None)
    more = {"pagination": {"more_items_in_collection": True, "next_start": 100}}
    assert offset.step(more, 0, 100) == (True, 100)
    assert offset.step({"pagination": {"more_items_in_collection": True}}, 100, 50) == (True, 150)
    assert offset.hint(more) == 100 and cursor.hint({}) is None


def test_the_answer_envelope():
    body = {"success": False, "error": "Bad", "error_info": "see docs", "additional_data": {"x": 1}, "data": [1]}
    assert pipedrive.refused(body) and not pipedrive.refused({"success": True})
    assert pipedrive.error_text(body) == "Bad - see docs" and pipedrive.error_text("text") is None
    assert pipedrive.data(body) == [1] and pipedrive.additional_data(body) == {"x": 1}
    assert pipedrive.budget_spent("Daily token budget exceeded") and not pipedrive.budget_spent("Too many requests")


def test_a_request_names_its_method_in_capitals():
    assert Request("patch", "v2", "/deals/1").method == "PATCH"
