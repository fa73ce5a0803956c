"""Contract tests for the operations issue 16 (part A) added to the sandbox: every response the official spec checks.

Like ``test_contract.py``: each call runs against a small fixed world, its request is checked against the
spec (so a case cannot drift from it) and its response validated with openapi-core. A last test checks
that every part A route is called here, so a new route cannot go unchecked.
"""

from __future__ import annotations

import json

import pytest
import requests

from pipedrive_connect.sandbox import Sandbox
from tests.support.openapi import requires_spec, validate_request, validate_response

from .helpers import TOKEN
from .test_contract import _call

pytestmark = requires_spec

FIELD = "e" * 40
GOAL = "0f" * 16
LINK = "1e3943c0-2b1c-4b8b-9a3c-5c1d1b2a0f11"
WORLD = {
    "organizations": [{"id": 1, "name": "Acme"}, {"id": 2, "name": "Globex"}, {"id": 3, "name": "Initech"}],
    "persons": [{"id": 1, "name": "Ann Smith", "org_id": 1}],
    "deals": [{"id": 1, "title": "Acme anvils", "person_id": 1, "org_id": 1}],
    "projects": [
        {"id": 1, "title": "Acme rollout", "board_id": 1, "phase_id": 1, "deal_ids": [1], "org_ids": [1]},
        {"id": 2, "title": "Old rollout", "board_id": 1, "phase_id": 2, "archive_time": "2026-01-01T00:00:00Z"},
    ],
    "tasks": [{"id": 1, "title": "Kick-off", "project_id": 1}, {"id": 2, "title": "Agenda", "project_id": 1}],
    "activities": [{"id": 1, "subject": "Kick-off call", "type": "call", "project_id": 1}],
    "organizationRelationships": [
        {
            "id": 1,
            "type": "parent",
            "rel_owner_org_id": 1,
            "rel_linked_org_id": 2,
            "add_time": "2026-01-01 00:00:00",
            "update_time": "2026-01-01 00:00:00",
        }
    ],
    "callLogs": [
        {
            "id": "1",
            "to_phone_number": "+4930123",
            "outcome": "connected",
            "start_time": "2026-01-01T10:00:00Z",
            "end_time": "2026-01-01T10:05:00Z",
        }
    ],
    "roles": [{"id": 2, "name": "Sales", "parent_role_id": 1}],
    "goals": [
        {
            "id": GOAL,
            "owner_id": 1,
            "title": "Won deals",
            "type": {"name": "deals_won", "params": {"pipeline_id": [1]}},
            "assignee": {"id": 1, "type": "person"},
            "interval": "monthly",
            "duration": {"start": "2026-01-01", "end": "2026-12-31"},
            "expected_outcome": {"target": 10, "tracking_metric": "quantity"},
            "is_active": True,
            "report_ids": [],
        }
    ],
    "projectFields": [
        {
            "field_code": FIELD,
            "field_name": "Size",
            "field_type": "enum",
            "is_custom_field": True,
            "options": [{"id": 1, "label": "Small"}, {"id": 2, "label": "Large"}],
        }
    ],
}

# (version, method, path, json body or None, expected status)
CASES = [
    ("v2", "GET", "/projects", None, 200),
    ("v2", "GET", "/projects?status=open&deal_id=1", None, 200),
    ("v2", "GET", "/projects/archived", None, 200),
    ("v2", "GET", "/projects/search?term=rollout", None, 200),
    ("v2", "GET", "/projects/1", None, 200),
    ("v2", "POST", "/projects", {"title": "New", "board_id": 1, "phase_id": 1, "deal_ids": [1]}, 201),
    ("v2", "PATCH", "/projects/1", {"title": "Renamed", "phase_id": 2}, 200),
    ("v2", "POST", "/projects/1/archive", None, 200),
    ("v2", "GET", "/projects/1/permittedUsers", None, 200),
    ("v2", "GET", "/projects/1/changelog", None, 200),
    ("v2", "DELETE", "/projects/2", None, 200),
    ("v1", "GET", "/projects/1/plan", None, 200),
    ("v1", "PUT", "/projects/1/plan/activities/1", {"phase_id": 2, "group_id": 1}, 200),
    ("v1", "PUT", "/projects/1/plan/tasks/1", {"phase_id": 2}, 200),
    ("v1", "GET", "/projects/1/groups", None, 200),
    ("v1", "GET", "/projects/1/tasks", None, 200),
    ("v1", "GET", "/projects/1/activities", None, 200),
    ("v2", "GET", "/boards", None, 200),
    ("v2", "GET", "/boards/1", None, 200),
    ("v2", "POST", "/boards", {"name": "Support"}, 200),
    ("v2", "PATCH", "/boards/1", {"name": "Delivery board"}, 200),
    ("v2", "GET", "/phases?board_id=1", None, 200),
    ("v2", "GET", "/phases/1", None, 200),
    ("v2", "POST", "/phases", {"name": "Done", "board_id": 1}, 200),
    ("v2", "PATCH", "/phases/1", {"name": "Plan"}, 200),
    ("v2", "DELETE", "/phases/2", None, 200),
    ("v2", "GET", "/projectTemplates", None, 200),
    ("v2", "GET", "/projectTemplates/1", None, 200),
    ("v2", "GET", "/projectFields", None, 200),
    ("v2", "GET", f"/projectFields/{FIELD}", None, 200),
    ("v2", "POST", "/projectFields", {"field_name": "City", "field_type": "varchar"}, 200),
    ("v2", "PATCH", f"/projectFields/{FIELD}", {"field_name": "Project size"}, 200),
    ("v2", "POST", f"/projectFields/{FIELD}/options", [{"label": "Medium"}], 200),
    ("v2", "PATCH", f"/projectFields/{FIELD}/options", [{"id": 1, "label": "Tiny"}], 200),
    ("v2", "DELETE", f"/projectFields/{FIELD}/options", [{"id": 2}], 200),
    ("v2", "DELETE", f"/projectFields/{FIELD}", None, 200),
    ("v2", "GET", "/tasks", None, 200),
    ("v2", "GET", "/tasks?project_id=1&is_done=false", None, 200),
    ("v2", "GET", "/tasks/1", None, 200),
    ("v2", "POST", "/tasks", {"title": "Welcome pack", "project_id": 1, "milestone": 1, "assignee_ids": [2]}, 201),
    ("v2", "PATCH", "/tasks/1", {"done": 1}, 200),
    ("v2", "DELETE", "/tasks/2", None, 200),
    ("v2", "DELETE", "/boards/2", None, 200),
    ("v1", "GET", "/roles", None, 200),
    ("v1", "GET", "/roles/2", None, 200),
    ("v1", "POST", "/roles", {"name": "Berlin", "parent_role_id": 2}, 200),
    ("v1", "PUT", "/roles/2", {"name": "Sales team"}, 200),
    ("v1", "DELETE", "/roles/2", None, 200),
    ("v1", "GET", "/roles/1/assignments", None, 200),
    ("v1", "POST", "/roles/2/assignments", {"user_id": 2}, 200),
    ("v1", "DELETE", "/roles/2/assignments", {"user_id": 2}, 200),
    ("v1", "GET", "/roles/2/settings", None, 200),
    ("v1", "POST", "/roles/2/settings", {"setting_key": "deal_default_visibility", "value": 7}, 200),
    ("v1", "GET", "/roles/2/pipelines?visible=true", None, 200),
    ("v1", "PUT", "/roles/2/pipelines", {"visible_pipeline_ids": {"remove": [1]}}, 200),
    (
        "v1",
        "POST",
        "/goals",
        {
            "title": "Calls",
            "assignee": {"id": 1, "type": "person"},
            "type": {"name": "activities_completed", "params": {"activity_type_id": [1]}},
            "expected_outcome": {"target": 20, "tracking_metric": "quantity"},
            "duration": {"start": "2026-01-01", "end": None},
            "interval": "weekly",
        },
        200,
    ),
    ("v1", "GET", "/goals/find?type.name=deals_won&assignee.id=1&assignee.type=person", None, 200),
    ("v1", "PUT", f"/goals/{GOAL}", {"title": "Won deals 2026"}, 200),
    ("v1", "GET", f"/goals/{GOAL}/results?period.start=2026-01-01&period.end=2026-03-31", None, 200),
    ("v1", "DELETE", f"/goals/{GOAL}", None, 200),
    ("v1", "POST", "/activityTypes", {"name": "Site visit", "icon_key": "car", "color": "FFCC00"}, 200),
    ("v1", "PUT", "/activityTypes/1", {"name": "Phone call", "order_nr": 4}, 200),
    ("v1", "DELETE", "/activityTypes/2", None, 200),
    (
        "v1",
        "POST",
        "/filters",
        {
            "name": "Mine",
            "type": "deals",
            "conditions": {"glue": "and", "conditions": [{"glue": "and", "conditions": []}]},
        },
        200,
    ),
    ("v1", "DELETE", "/filters/1", None, 200),
    ("v1", "DELETE", "/filters?ids=1", None, 200),
    ("v1", "GET", "/filters/helpers", None, 200),
    ("v1", "POST", "/users", {"email": "new@sandbox.example", "access": [{"app": "sales", "admin": False}]}, 200),
    ("v1", "PUT", "/users/2", {"active_flag": False}, 200),
    (
        "v1",
        "POST",
        "/meetings/userProviderLinks",
        {"user_provider_id": LINK, "user_id": 1, "company_id": 1, "marketplace_client_id": "abc"},
        200,
    ),
    ("v1", "DELETE", f"/meetings/userProviderLinks/{LINK}", None, 200),
    ("v1", "GET", "/organizationRelationships?org_id=2", None, 200),
    ("v1", "GET", "/organizationRelationships/1?org_id=1", None, 200),
    (
        "v1",
        "POST",
        "/organizationRelationships",
        {"type": "related", "rel_owner_org_id": 2, "rel_linked_org_id": 3},
        200,
    ),
    ("v1", "PUT", "/organizationRelationships/1", {"type": "related"}, 200),
    ("v1", "DELETE", "/organizationRelationships/1", None, 200),
    ("v1", "GET", "/recents?since_timestamp=2000-01-01%2000:00:00", None, 200),
    ("v1", "GET", "/recents?since_timestamp=2000-01-01%2000:00:00&items=deal", None, 200),
]
# the delete of board 2 needs the board added above; it runs in its own sandbox, so it adds one first
SETUP = {
    ("v2", "DELETE", "/boards/2"): [("v2", "POST", "/boards", {"name": "Spare"})],
    ("v1", "DELETE", "/roles/2/assignments"): [("v1", "POST", "/roles/2/assignments", {"user_id": 2})],
    ("v1", "DELETE", f"/meetings/userProviderLinks/{LINK}"): [
        (
            "v1",
            "POST",
            "/meetings/userProviderLinks",
            {"user_provider_id": LINK, "user_id": 1, "company_id": 1, "marketplace_client_id": "a"},
        )
    ],
}


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract_a") / "world.json"
    path.write_text(json.dumps(WORLD))
    return path


@pytest.fixture
def world(world_file):
    with Sandbox(token=TOKEN, data=world_file, seed=1) as sb:
        yield sb


def test_remote_files_and_recordings_match_spec(world):
    """Form and multipart bodies, which the JSON cases above cannot send."""
    headers = {"x-api-token": TOKEN}
    base = world.base_url + "/v1"
    form = {
        "file_type": "gdoc",
        "title": "Notes",
        "item_type": "deal",
        "item_id": "1",
        "remote_location": "googledrive",
    }
    created = requests.post(base + "/files/remote", data=form, headers=headers, timeout=10)
    assert created.status_code == 200, created.text
    validate_response("v1", "POST", "/v1/files/remote", 200, body_bytes=created.content, ignore_nulls=True)
    link = {"item_type": "person", "item_id": "1", "remote_id": "1AbC", "remote_location": "googledrive"}
    linked = requests.post(base + "/files/remoteLink", data=link, headers=headers, timeout=10)
    assert linked.status_code == 200, linked.text
    validate_response("v1", "POST", "/v1/files/remoteLink", 200, body_bytes=linked.content, ignore_nulls=True)
    recorded = requests.post(
        base + "/callLogs/1/recordings", files={"file": ("c.mp3", b"ID3")}, headers=headers, timeout=10
    )
    assert recorded.status_code == 200, recorded.text
    validate_response("v1", "POST", "/v1/callLogs/1/recordings", 200, body_bytes=recorded.content, ignore_nulls=True)
    thread = requests.put(base + "/mailbox/mailThreads/1", data={"read_flag": "1"}, headers=headers, timeout=10)
    assert thread.status_code == 404  # the sandbox models no mail


@pytest.mark.parametrize("version, method, path, body, status", CASES, ids=[f"{c[0]} {c[1]} {c[2]}" for c in CASES])
def test_response_matches_spec(world, version, method, path, body, status):
    for setup in SETUP.get((version, method, path), []):
        assert _call(world, *setup)[0].ok
    response, headers, data = _call(world, version, method, path, body)
    url_path = f"/api/{version}{path}"
    validate_request(version, method, url_path, headers=headers, body_bytes=data)
    assert response.status_code == status, response.text
    validate_response(version, method, url_path, response.status_code, body_bytes=response.content, ignore_nulls=True)


def test_every_part_a_route_is_checked():
    """The routes between the part A markers of routes.py are each called by a case above."""
    import re

    from pipedrive_connect.sandbox.routes import ROUTES

    ops = [r.operation_id for r in ROUTES]
    start, end = ops.index("getProjects"), ops.index("updateMailThreadDetails")  # the first and last of the block
    special = {"addFileAndLinkIt", "linkFileToItem", "addCallLogAudioFile", "updateMailThreadDetails"}  # test above
    called = {
        (c[0], c[1], re.sub(r"/(\d+|[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f-]{36})(?=/|$)", "/{}", c[2].split("?")[0]))
        for c in CASES
    }
    unchecked = [
        f"{r.method} {r.version} {r.path}"
        for r in ROUTES[start : end + 1]
        if r.operation_id not in special and (r.version, r.method, re.sub(r"<[^>]+>", "{}", r.path)) not in called
    ]
    assert not unchecked, f"part A routes no contract case calls: {unchecked}"
