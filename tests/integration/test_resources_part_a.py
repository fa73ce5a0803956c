"""The actions issue 16 (part A) added, against the sandbox over real loopback HTTP.

Like test_resources.py (whose helpers these tests use, and whose `test_every_action_is_exercised` reads this
file too): each test drives one area through the runtime and checks the state it leaves with a second action.
"""

from __future__ import annotations

import pytest

from pipedrive_connect.errors import StepError

from .test_resources import fails, ids, ok, run

FIELD_TYPES = {"title": "varchar", "board_id": "projects_board"}


def test_project_boards_and_phases(live):
    assert [b["name"] for b in ok(run(live, "getProjectBoards"))] == ["Delivery"]
    board = ok(run(live, "addProjectBoard", {"name": "Customer onboarding"}))
    assert board["order_nr"] == 1  # after the sandbox's own board
    ok(run(live, "updateProjectBoard", {"id": board["id"], "name": "Onboarding", "orderNr": "0"}))
    got = ok(run(live, "getProjectBoard", {"id": str(board["id"])}))
    assert (got["name"], got["order_nr"]) == ("Onboarding", 0)

    kickoff = ok(run(live, "addProjectPhase", {"name": "Kick-off", "boardId": board["id"]}))
    live_phase = ok(run(live, "addProjectPhase", {"name": "Live", "boardId": board["id"]}))
    assert (kickoff["order_nr"], live_phase["order_nr"]) == (0, 1)
    ok(run(live, "updateProjectPhase", {"id": live_phase["id"], "name": "Gone live", "orderNr": 5}))
    assert ok(run(live, "getProjectPhase", {"id": live_phase["id"]}))["name"] == "Gone live"
    assert ids(ok(run(live, "getProjectPhases", {"boardId": board["id"]}))) == [kickoff["id"], live_phase["id"]]
    fails(run(live, "getProjectPhases", {"boardId": 999}), "not_found", 404)

    ok(run(live, "deleteProjectPhase", {"id": live_phase["id"]}))
    assert ids(ok(run(live, "getProjectPhases", {"boardId": board["id"]}))) == [kickoff["id"]]
    project = ok(run(live, "addProject", {"title": "Blocker", "phaseId": kickoff["id"]}))
    assert project["board_id"] == board["id"]  # the phase says which board
    fails(run(live, "deleteProjectBoard", {"id": board["id"]}), "rejected", 400)
    ok(run(live, "deleteProject", {"id": project["id"]}))
    assert ok(run(live, "deleteProjectBoard", {"id": board["id"]})) == {"id": board["id"]}
    assert ids(ok(run(live, "getProjectBoards"))) == [1]


def test_projects(live):
    org = ok(run(live, "addOrganization", {"name": "Rollout Org"}))
    deal = ok(run(live, "addDeal", {"title": "Rollout deal", "orgId": org["id"]}))
    templates = ok(run(live, "getProjectTemplates", {"fetchAll": "true"}))
    assert [t["title"] for t in templates] == ["Standard delivery"]
    assert ok(run(live, "getProjectTemplate", {"id": templates[0]["id"]}))["projects_board_id"] == 1

    project = ok(
        run(
            live,
            "addProject",
            {
                "title": "Acme onboarding",
                "boardId": "1",
                "phaseId": "1",
                "templateId": templates[0]["id"],
                "dealIds": str(deal["id"]),
                "orgIds": [org["id"]],
                "startDate": "2026-03-01",
                "endDate": "2026-04-30",
            },
        )
    )
    assert (project["status"], project["deal_ids"], project["org_ids"]) == ("open", [deal["id"]], [org["id"]])
    other = ok(run(live, "addProject", {"title": "Internal tooling", "boardId": 1}))

    assert ok(run(live, "getProject", {"id": project["id"]}))["end_date"] == "2026-04-30"
    assert ids(ok(run(live, "getProjects", {"fetchAll": True}))) == [project["id"], other["id"]]
    assert ids(ok(run(live, "getProjects", {"dealId": deal["id"]}))) == [project["id"]]
    assert ids(ok(run(live, "getProjects", {"orgId": org["id"], "status": "open,completed"}))) == [project["id"]]
    assert ids(ok(run(live, "getProjects", {"phaseId": 2}))) == []
    hits = ok(run(live, "searchProjects", {"term": "onboarding"}))
    assert [h["item"]["id"] for h in hits["items"]] == [project["id"]]
    exact = ok(run(live, "searchProjects", {"term": "Acme", "exactMatch": True, "fields": "title"}))
    assert exact["items"] == []
    by_org = ok(run(live, "searchProjects", {"term": "tooling", "orgId": org["id"]}))
    assert by_org["items"] == []

    ok(run(live, "updateProject", {"id": project["id"], "phaseId": 2, "status": "completed"}))
    changes = ok(run(live, "getProjectChangelog", {"id": project["id"], "fetchAll": True}))
    assert changes[0]["old_values"] == {"status": "open", "phase_id": 1}
    assert changes[0]["new_values"] == {"status": "completed", "phase_id": 2}
    assert sorted(ok(run(live, "getProjectUsers", {"id": project["id"]}))) == [1, 2]

    archived = ok(run(live, "archiveProject", {"id": other["id"]}))
    assert archived["archive_time"]
    assert ids(ok(run(live, "getProjects", {"fetchAll": True}))) == [project["id"]]
    assert ids(ok(run(live, "getArchivedProjects", {"fetchAll": True}))) == [other["id"]]
    ok(run(live, "deleteProject", {"id": other["id"]}))
    fails(run(live, "getProject", {"id": other["id"]}), "not_found", 404)


def test_project_tasks_and_plan(live):
    project = ok(run(live, "addProject", {"title": "Plan me", "phaseId": 1}))
    task = ok(
        run(
            live,
            "addTask",
            {
                "title": "Kick-off call",
                "projectId": project["id"],
                "milestone": "yes",
                "assigneeIds": "2",
                "dueDate": "2026-03-05",
            },
        )
    )
    assert (task["is_milestone"], task["is_done"], task["assignee_ids"]) == (True, False, [2])
    sub = ok(run(live, "addTask", {"title": "Book a room", "projectId": project["id"], "parentTaskId": task["id"]}))
    fails(
        run(live, "addTask", {"title": "Too deep", "projectId": project["id"], "parentTaskId": sub["id"]}), "rejected"
    )

    done = ok(run(live, "updateTask", {"id": sub["id"], "done": True}))
    assert done["is_done"] is True and done["marked_as_done_time"]
    assert ok(run(live, "getTask", {"id": sub["id"]}))["is_done"] is True
    assert ids(ok(run(live, "getTasks", {"projectId": project["id"], "fetchAll": True}))) == [task["id"], sub["id"]]
    assert ids(ok(run(live, "getTasks", {"projectId": project["id"], "isDone": "false"}))) == [task["id"]]
    assert ids(ok(run(live, "getTasks", {"isMilestone": True}))) == [task["id"]]
    assert ids(ok(run(live, "getTasks", {"assigneeId": 2}))) == [task["id"]]
    assert ids(ok(run(live, "getTasks", {"parentTaskId": str(task["id"])}))) == [sub["id"]]
    v1_tasks = ok(run(live, "getProjectTasks", {"id": project["id"]}))
    assert [(t["id"], t["done"]) for t in v1_tasks] == [(task["id"], 0), (sub["id"], 1)]

    activity = ok(run(live, "addActivity", {"subject": "Workshop", "type": "meeting", "projectId": project["id"]}))
    assert ids(ok(run(live, "getProjectActivities", {"id": project["id"]}))) == [activity["id"]]
    groups = ok(run(live, "getProjectGroups", {"id": project["id"]}))
    plan = ok(run(live, "getProjectPlan", {"id": project["id"]}))
    assert {(p["item_type"], p["item_id"], p["phase_id"]) for p in plan} == {
        ("task", task["id"], 1),
        ("task", sub["id"], 1),
        ("activity", activity["id"], 1),
    }
    moved = ok(run(live, "updateProjectPlanTask", {"id": project["id"], "taskId": task["id"], "phaseId": 2}))
    assert (moved["phase_id"], moved["group_id"]) == (2, groups[0]["id"])
    ok(run(live, "updateProjectPlanActivity", {"id": project["id"], "activityId": activity["id"], "phaseId": 2}))
    plan = {
        (p["item_type"], p["item_id"]): p["phase_id"] for p in ok(run(live, "getProjectPlan", {"id": project["id"]}))
    }
    assert plan == {("task", task["id"]): 2, ("task", sub["id"]): 1, ("activity", activity["id"]): 2}
    fails(run(live, "updateProjectPlanTask", {"id": project["id"], "taskId": 999, "phaseId": 2}), "not_found", 404)

    ok(run(live, "deleteTask", {"id": task["id"]}))
    assert ok(run(live, "getTasks", {"projectId": project["id"]})) == []  # the subtask went with it


def test_project_fields(live):
    fields = {f["field_code"]: f["field_type"] for f in ok(run(live, "getProjectFields", {"fetchAll": True}))}
    assert FIELD_TYPES.items() <= fields.items()
    size = ok(
        run(
            live,
            "addProjectField",
            {"fieldName": "Size", "fieldType": "enum", "options": [{"label": "Small"}, {"label": "Large"}]},
        )
    )
    code = size["field_code"]
    assert [o["label"] for o in size["options"]] == ["Small", "Large"]
    ok(
        run(
            live,
            "updateProjectField",
            {"fieldCode": code, "fieldName": "Project size", "requiredFields": {"enabled": True}},
        )
    )
    assert ok(run(live, "getProjectField", {"fieldCode": code}))["field_name"] == "Project size"

    added = ok(run(live, "addProjectFieldOptions", {"fieldCode": code, "options": '[{"label": "Medium"}]'}))
    assert [o["label"] for o in added] == ["Medium"]
    small = size["options"][0]["id"]
    ok(run(live, "updateProjectFieldOptions", {"fieldCode": code, "options": [{"id": small, "label": "Tiny"}]}))
    ok(run(live, "deleteProjectFieldOptions", {"fieldCode": code, "options": [{"id": added[0]["id"]}]}))
    labels = [o["label"] for o in ok(run(live, "getProjectField", {"fieldCode": code}))["options"]]
    assert labels == ["Tiny", "Large"]
    fails(run(live, "deleteProjectFieldOptions", {"fieldCode": code, "options": [{"id": 999}]}), "rejected", 400)

    project = ok(run(live, "addProject", {"title": "Sized", "customFields": {code: size["options"][1]["id"]}}))
    assert project["custom_fields"][code] == size["options"][1]["id"]
    ok(run(live, "deleteProjectField", {"fieldCode": code}))
    fails(run(live, "getProjectField", {"fieldCode": code}), "not_found", 404)


def test_project_picklists(live):
    project = ok(run(live, "addProject", {"title": "Picked project", "phaseId": 2}))
    assert {"key": project["id"], "label": "Picked project - open"} in live.picklist("selectProject").options
    assert [o["key"] for o in live.picklist("selectProject", search="picked").options] == [project["id"]]
    assert live.picklist("selectProjectBoard").options == [{"key": 1, "label": "Delivery"}]
    phases = live.picklist("selectProjectPhase", params={"boardId": 1}).options
    assert phases == [{"key": 1, "label": "Planning"}, {"key": 2, "label": "In progress"}]
    with pytest.raises(StepError, match="needs boardId"):
        live.picklist("selectProjectPhase")
    assert [o["label"] for o in live.picklist("selectProjectTemplate").options] == ["Standard delivery"]
    assert {"key": "title", "label": "Title (varchar)"} in live.picklist("selectProjectField").options


def test_roles(live):
    top = ok(run(live, "getRoles", {"fetchAll": True}))
    assert [(r["id"], r["level"]) for r in top] == [(1, 1)]
    sales = ok(run(live, "addRole", {"name": "Sales"}))
    berlin = ok(run(live, "addRole", {"name": "Berlin", "parentRoleId": sales["id"]}))
    ok(run(live, "updateRole", {"id": sales["id"], "name": "Sales team", "parentRoleId": 1}))
    got = ok(run(live, "getRole", {"id": berlin["id"]}))
    assert (got["name"], got["parent_role_id"], got["level"]) == ("Berlin", sales["id"], 3)
    fails(run(live, "updateRole", {"id": sales["id"], "parentRoleId": berlin["id"]}), "rejected", 400)
    assert ok(run(live, "getRole", {"id": sales["id"]}))["sub_role_count"] == "1"

    ok(run(live, "addRoleAssignment", {"id": berlin["id"], "userId": 2}))
    holders = ok(run(live, "getRoleAssignments", {"id": berlin["id"], "fetchAll": True}))
    assert [h["user_id"] for h in holders] == [2]
    assert [a["role_id"] for a in ok(run(live, "getUserRoleAssignments", {"id": 2}))] == [berlin["id"]]
    ok(run(live, "deleteRoleAssignment", {"id": berlin["id"], "userId": 2}))
    assert ok(run(live, "getRoleAssignments", {"id": berlin["id"]})) == []
    fails(run(live, "deleteRoleAssignment", {"id": berlin["id"], "userId": 2}), "not_found", 404)

    assert ok(run(live, "getRoleSettings", {"id": berlin["id"]}))["deal_default_visibility"] == 3
    ok(run(live, "setRoleSetting", {"id": berlin["id"], "settingKey": "deal_default_visibility", "value": "7"}))
    assert ok(run(live, "getRoleSettings", {"id": berlin["id"]}))["deal_default_visibility"] == 7

    pipeline = ok(run(live, "addPipeline", {"name": "Partners"}))
    hidden = ok(
        run(live, "updateRolePipelines", {"id": berlin["id"], "visiblePipelineIds": {"remove": [pipeline["id"]]}})
    )
    assert hidden == {"pipeline_ids": [1], "visible": True}
    assert ok(run(live, "getRolePipelines", {"id": berlin["id"], "visible": False}))["pipeline_ids"] == [pipeline["id"]]
    ok(run(live, "updateRolePipelines", {"id": berlin["id"], "visiblePipelineIds": f'{{"add": [{pipeline["id"]}]}}'}))
    assert ok(run(live, "getRolePipelines", {"id": berlin["id"]}))["pipeline_ids"] == [1, pipeline["id"]]

    ok(run(live, "addRoleAssignment", {"id": berlin["id"], "userId": 2}))
    ok(run(live, "deleteRole", {"id": berlin["id"]}))
    assert [h["user_id"] for h in ok(run(live, "getRoleAssignments", {"id": sales["id"]}))] == [2]  # moved up
    fails(run(live, "deleteRole", {"id": 1}), "rejected", 400)
    assert [o["label"] for o in live.picklist("selectRole").options] == ["Company", "Sales team"]


def test_goals(live):
    goal = ok(
        run(
            live,
            "addGoal",
            {
                "title": "Deals won this year",
                "assignee": {"id": 1, "type": "person"},
                "type": '{"name": "deals_won", "params": {"pipeline_id": [1]}}',
                "expectedOutcome": {"target": 5, "tracking_metric": "quantity"},
                "duration": {"start": "2026-01-01", "end": None},
                "interval": "yearly",
            },
        )
    )["goal"]
    other = ok(
        run(
            live,
            "addGoal",
            {
                "assignee": {"id": 1, "type": "company"},
                "type": {"name": "activities_added"},
                "expectedOutcome": {"target": 100, "tracking_metric": "quantity"},
                "duration": {"start": "2025-01-01", "end": "2025-12-31"},
                "interval": "monthly",
            },
        )
    )["goal"]
    assert isinstance(goal["id"], str) and goal["is_active"] is True
    found = ok(run(live, "getGoals", {"typeName": "deals_won", "assigneeId": 1, "assigneeType": "person"}))
    assert [g["id"] for g in found["goals"]] == [goal["id"]]
    in_2025 = ok(run(live, "getGoals", {"periodStart": "2025-06-01", "periodEnd": "2025-06-30"}))
    assert [g["id"] for g in in_2025["goals"]] == [other["id"]]
    assert {o["key"] for o in live.picklist("selectGoal").options} == {goal["id"], other["id"]}

    period = {"id": goal["id"], "periodStart": "2000-01-01", "periodEnd": "2100-12-31"}
    before = ok(run(live, "getGoalResult", period))
    ok(run(live, "addDeal", {"title": "Won for the goal", "status": "won"}))
    ok(run(live, "addDeal", {"title": "Still open"}))
    after = ok(run(live, "getGoalResult", period))
    assert after["progress"] == before["progress"] + 1 and after["goal"]["id"] == goal["id"]
    ok(run(live, "updateGoal", {"id": goal["id"], "expectedOutcome": {"target": 8, "tracking_metric": "quantity"}}))
    updated = ok(run(live, "getGoals", {"title": "Deals won this year"}))["goals"][0]
    assert updated["expected_outcome"]["target"] == 8 and updated["interval"] == "yearly"

    ok(run(live, "deleteGoal", {"id": other["id"]}))
    assert [g["id"] for g in ok(run(live, "getGoals"))["goals"]] == [goal["id"]]
    fails(run(live, "getGoalResult", {**period, "id": other["id"]}), "not_found", 404)


def test_activity_types_written(live):
    visit = ok(run(live, "addActivityType", {"name": "Site visit", "iconKey": "car", "color": "ffcc00"}))
    assert (visit["key_string"], visit["is_custom_flag"], visit["active_flag"]) == ("site_visit", True, True)
    ok(run(live, "updateActivityType", {"id": visit["id"], "name": "Site visits", "orderNr": 9}))
    listed = {t["id"]: t for t in ok(run(live, "getActivityTypes"))}
    assert (listed[visit["id"]]["name"], listed[visit["id"]]["order_nr"]) == ("Site visits", 9)
    assert ok(run(live, "addActivity", {"subject": "Visit Acme", "type": "site_visit"}))["type"] == "site_visit"
    assert ok(run(live, "deleteActivityType", {"id": visit["id"]}))["active_flag"] is False
    fails(run(live, "addActivityType", {"name": "No icon", "iconKey": "car", "color": "yellow"}), "input")


def test_call_log_recording(live, sandbox, tmp_path):
    call = ok(
        run(
            live,
            "addCallLog",
            {
                "toPhoneNumber": "+4930123",
                "outcome": "connected",
                "startTime": "2026-03-02T10:00:00Z",
                "endTime": "2026-03-02T10:05:00Z",
            },
        )
    )
    audio = tmp_path / "call.mp3"
    audio.write_bytes(b"ID3 recording")
    ok(run(live, "addCallLogAudioFile", {"id": call["id"], "file": str(audio)}))
    assert ok(run(live, "getCallLog", {"id": call["id"]}))["has_recording"] is True
    fails(run(live, "addCallLogAudioFile", {"id": call["id"]}), "input")  # no file and no attachment


def test_remote_files(live):
    deal = ok(run(live, "addDeal", {"title": "Drive deal"}))
    person = ok(run(live, "addPerson", {"name": "Drive Person"}))
    sheet = ok(
        run(
            live,
            "addRemoteFile",
            {
                "fileType": "gsheet",
                "title": "Prices",
                "itemType": "deal",
                "itemId": deal["id"],
                "remoteLocation": "googledrive",
            },
        )
    )
    assert (sheet["deal_id"], sheet["remote_location"], sheet["deal_name"]) == (deal["id"], "googledrive", "Drive deal")
    linked = ok(
        run(
            live,
            "linkRemoteFile",
            {"itemType": "person", "itemId": person["id"], "remoteId": "1AbC", "remoteLocation": "googledrive"},
        )
    )
    assert (linked["person_id"], linked["remote_id"]) == (person["id"], "1AbC")
    assert ids(ok(run(live, "getDealFiles", {"id": deal["id"]}))) == [sheet["id"]]
    fails(
        run(
            live,
            "linkRemoteFile",
            {"itemType": "person", "itemId": 999, "remoteId": "x", "remoteLocation": "googledrive"},
        ),
        "not_found",
        404,
    )


def test_filters_written(live):
    conditions = {"glue": "and", "conditions": [{"glue": "and", "conditions": []}, {"glue": "or", "conditions": []}]}
    mine = ok(run(live, "addFilter", {"name": "Mine", "type": "deals", "conditions": conditions}))
    spare = ok(run(live, "addFilter", {"name": "Spare", "type": "people", "conditions": conditions}))
    other = ok(
        run(live, "addFilter", {"name": "Other", "type": "org", "conditions": conditions, "includeFieldCode": True})
    )
    assert ids(ok(run(live, "getFilters", {"type": "deals"}))) == [1, mine["id"]]
    assert "int" in ok(run(live, "getFilterHelpers"))["operators"]
    assert ok(run(live, "deleteFilter", {"id": mine["id"]})) == {"id": mine["id"]}
    assert ok(run(live, "deleteFilters", {"ids": [spare["id"], other["id"]]})) == {"id": [spare["id"], other["id"]]}
    assert ids(ok(run(live, "getFilters"))) == [1]
    fails(run(live, "deleteFilters", {"ids": "1,999"}), "not_found", 404)


def test_mail_thread_update_is_routed(live, sandbox):
    fails(run(live, "updateMailThread", {"id": "5", "dealId": 1, "readFlag": True}), "not_found", 404)
    request = sandbox.request_log[-1]
    assert (request["operation"], request["method"]) == ("updateMailThreadDetails", "PUT")


def test_meeting_provider_links(live, sandbox):
    link = "1e3943c0-2b1c-4b8b-9a3c-5c1d1b2a0f11"
    added = ok(
        run(
            live,
            "addMeetingProviderLink",
            {"userProviderId": link, "userId": 1, "companyId": 1, "marketplaceClientId": "c1"},
        )
    )
    assert "added" in added["message"]
    assert sandbox.store.get("userProviderLinks", link)["user_id"] == 1
    ok(run(live, "deleteMeetingProviderLink", {"id": link}))
    assert sandbox.store.get("userProviderLinks", link) is None
    fails(run(live, "deleteMeetingProviderLink", {"id": link}), "not_found", 404)


def test_organization_relationships(live):
    parent = ok(run(live, "addOrganization", {"name": "Holding"}))
    daughter = ok(run(live, "addOrganization", {"name": "Subsidiary"}))
    partner = ok(run(live, "addOrganization", {"name": "Partner"}))
    owns = ok(
        run(
            live,
            "addOrganizationRelationship",
            {"type": "parent", "relOwnerOrgId": parent["id"], "relLinkedOrgId": daughter["id"]},
        )
    )
    ok(
        run(
            live,
            "addOrganizationRelationship",
            {"type": "related", "relOwnerOrgId": daughter["id"], "relLinkedOrgId": partner["id"]},
        )
    )
    seen = ok(run(live, "getOrganizationRelationships", {"orgId": daughter["id"]}))
    assert sorted((r["calculated_type"], r["calculated_related_org_id"]) for r in seen) == [
        ("parent", parent["id"]),
        ("related", partner["id"]),
    ]
    from_parent = ok(run(live, "getOrganizationRelationship", {"id": owns["id"], "orgId": parent["id"]}))
    assert (from_parent["calculated_type"], from_parent["related_organization_name"]) == ("daughter", "Subsidiary")
    ok(run(live, "updateOrganizationRelationship", {"id": owns["id"], "type": "related"}))
    assert ok(run(live, "getOrganizationRelationship", {"id": owns["id"]}))["calculated_type"] == "related"
    fails(
        run(
            live,
            "addOrganizationRelationship",
            {"type": "related", "relOwnerOrgId": parent["id"], "relLinkedOrgId": daughter["id"]},
        ),
        "rejected",
        400,
    )
    ok(run(live, "deleteOrganizationRelationship", {"id": owns["id"]}))
    assert len(ok(run(live, "getOrganizationRelationships", {"orgId": parent["id"]}))) == 0


def test_recents(live):
    since = "2000-01-01 00:00:00"
    everything = ok(run(live, "getRecents", {"sinceTimestamp": since, "fetchAll": True}))
    deal = ok(run(live, "addDeal", {"title": "Fresh deal"}))
    deals = ok(run(live, "getRecents", {"sinceTimestamp": since, "items": "deal", "fetchAll": True}))
    assert all(d["item"] == "deal" for d in deals) and deals[-1]["data"]["title"] == "Fresh deal"
    assert len(ok(run(live, "getRecents", {"sinceTimestamp": since, "fetchAll": True}))) == len(everything) + 1
    assert ok(run(live, "getRecents", {"sinceTimestamp": "2100-01-01 00:00:00"})) == []
    assert deal["id"] in [d["id"] for d in deals]


def test_users_written(live):
    user = ok(
        run(live, "addUser", {"email": "new.seller@sandbox.example", "access": [{"app": "sales", "admin": False}]})
    )
    assert (user["email"], user["active_flag"], user["access"][0]["app"]) == (
        "new.seller@sandbox.example",
        True,
        "sales",
    )
    assert user["id"] in ids(ok(run(live, "getUsers")))
    ok(run(live, "updateUser", {"id": user["id"], "activeFlag": "false"}))
    assert ok(run(live, "getUser", {"id": user["id"]}))["active_flag"] is False
    fails(run(live, "addUser", {"email": "new.seller@sandbox.example"}), "rejected", 400)
