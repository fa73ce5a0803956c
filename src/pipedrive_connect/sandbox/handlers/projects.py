"""Projects and what organises them: boards, phases, templates, tasks, the plan (v2, the plan v1).

The resources are declared here, beside their few special handlers, and registered in
:data:`..resources.RESOURCES`; the generic CRUD in :mod:`..records` serves the rest. The sandbox
does not evaluate saved filters, and models one group per project plan (``PLAN_GROUP``).
"""

from __future__ import annotations

from ..records import (
    COMMON_FILTERS,
    Resource,
    bad_request,
    check_value,
    find,
    not_found,
    paginate,
    parse_query,
    show,
)
from ..store import Store, now_v2, v1_time

PLAN_GROUP = {"id": 1, "name": "Project plan", "order_nr": 1}
# Changes to these project fields are written to the project's changelog.
_TRACKED = ("title", "description", "status", "board_id", "phase_id", "owner_id", "start_date", "end_date")


def _exists(store: Store, table: str, key, name: str) -> None:
    if key is not None and store.get(table, key) is None:
        raise bad_request(f"{name} {key} does not exist")


def prepare_project(store: Store, project: dict, previous: dict | None) -> dict:
    """Board and phase must exist and agree; a change of a tracked field is logged."""
    _exists(store, "boards", project.get("board_id"), "board_id")
    phase = store.get("phases", project.get("phase_id")) if project.get("phase_id") is not None else None
    if project.get("phase_id") is not None and phase is None:
        raise bad_request(f"phase_id {project['phase_id']} does not exist")
    if phase is not None:
        project["board_id"] = phase["board_id"]
    _exists(store, "projectTemplates", project.get("template_id"), "template_id")
    for key, table in (("deal_ids", "deals"), ("person_ids", "persons"), ("org_ids", "organizations")):
        for item in project.get(key) or []:
            _exists(store, table, item, key)
    if previous is None:
        project["status_change_time"] = project["update_time"]
        return project
    changed = [k for k in _TRACKED if project.get(k) != previous.get(k)]
    if "status" in changed:
        project["status_change_time"] = project["update_time"]
    if changed:
        store.insert(
            "projectChangelog",
            {
                "project_id": previous["id"],
                "time": now_v2(),
                "actor_user_id": 1,
                "change_source": "api",
                "change_source_user_agent": None,
                "old_values": {k: previous.get(k) for k in changed},
                "new_values": {k: project.get(k) for k in changed},
            },
        )
    return project


def prepare_board_item(store: Store, item: dict, previous: dict | None) -> dict:
    """A new board or phase goes last unless it says where."""
    scope = {"board_id": item["board_id"]} if "board_id" in item else {}
    if scope:
        _exists(store, "boards", item["board_id"], "board_id")
    table = "phases" if scope else "boards"
    if previous is None and item.get("order_nr") is None:
        rows = [r for r in store.rows(table) if all(r.get(k) == v for k, v in scope.items())]
        item["order_nr"] = max((r.get("order_nr") or 0 for r in rows), default=-1) + 1
    return item


def prepare_task(store: Store, task: dict, previous: dict | None) -> dict:
    """Tasks are written with 0/1 flags and read with booleans; one assignee or several, kept in step."""
    _exists(store, "projects", task.get("project_id"), "project_id")
    parent_id = task.get("parent_task_id")
    if parent_id is not None:
        parent = store.get("tasks", parent_id)
        if parent is None:
            raise bad_request(f"parent_task_id {parent_id} does not exist")
        if parent.get("parent_task_id") is not None or (previous and parent_id == previous["id"]):
            raise bad_request("parent_task_id must be a top-level task other than this one")
    for flag, name in (("done", "is_done"), ("milestone", "is_milestone")):
        if flag in task:
            value = task.pop(flag)
            if value not in (0, 1):
                raise bad_request(f"{flag} must be 0 or 1")
            task[name] = value == 1
    if previous is None or task.get("assignee_id") != previous.get("assignee_id"):
        if task.get("assignee_id") is not None:
            task["assignee_ids"] = [task["assignee_id"]]
    if task.get("assignee_ids"):
        if len(task["assignee_ids"]) > 10:
            raise bad_request("assignee_ids takes at most 10 users")
        for user in task["assignee_ids"]:
            _exists(store, "users", user, "assignee_ids")
        task["assignee_id"] = task["assignee_ids"][0]
    if task.get("is_done") and not (previous or {}).get("is_done"):
        task["marked_as_done_time"] = task["update_time"]
    elif not task.get("is_done"):
        task["marked_as_done_time"] = None
    return task


def _status_filter(store: Store, items: list, statuses: str) -> list:
    wanted = {s.strip() for s in statuses.split(",") if s.strip()}
    return [r for r in items if r.get("status") in wanted]


def _member(key: str):
    def hook(store: Store, items: list, value) -> list:
        return [r for r in items if value in (r.get(key) or [])]

    return hook


def _parent_task(store: Store, items: list, raw: str) -> list:
    if raw == "null":
        return [r for r in items if r.get("parent_task_id") is None]
    return [r for r in items if r.get("parent_task_id") == check_value("parent_task_id", raw, "int", False)]


PROJECTS = Resource(
    "projects",
    "v2",
    label="Project",
    create_status=201,
    custom_fields="projectFields",
    fields={
        "title": "str",
        "description": "str?",
        "status": "str",
        "board_id": "int?",
        "phase_id": "int?",
        "owner_id": "int",
        "start_date": "date?",
        "end_date": "date?",
        "deal_ids": "ints",
        "person_ids": "ints",
        "org_ids": "ints",
        "label_ids": "ints",
        "health_status": "int?",
        "template_id": "int?",
        "custom_fields": "dict",
    },
    required=("title",),
    filters={
        "filter_id": "int",
        "status": "str",
        "phase_id": "int",
        "deal_id": "int",
        "person_id": "int",
        "org_id": "int",
    },
    filter_hooks={
        "status": _status_filter,
        "deal_id": _member("deal_ids"),
        "person_id": _member("person_ids"),
        "org_id": _member("org_ids"),
    },
    defaults={
        "description": None,
        "status": "open",
        "board_id": None,
        "phase_id": None,
        "owner_id": 1,
        "start_date": None,
        "end_date": None,
        "deal_ids": [],
        "person_ids": [],
        "org_ids": [],
        "label_ids": [],
        "health_status": None,
        "archive_time": None,
        "custom_fields": {},
    },
    prepare=prepare_project,
)

RESOURCES = [
    PROJECTS,
    Resource(
        "boards",
        "v2",
        label="Board",
        paginated=False,
        fields={"name": "str", "order_nr": "int"},
        required=("name",),
        prepare=prepare_board_item,
    ),
    Resource(
        "phases",
        "v2",
        label="Phase",
        paginated=False,
        fields={"name": "str", "board_id": "int", "order_nr": "int"},
        required=("name", "board_id"),
        filters={"board_id": "int"},
        prepare=prepare_board_item,
    ),
    Resource("projectTemplates", "v2", label="Project template", fields={}),
    Resource(
        "tasks",
        "v2",
        label="Task",
        create_status=201,
        fields={
            "title": "str",
            "project_id": "int",
            "parent_task_id": "int?",
            "description": "str?",
            "done": "int",
            "milestone": "int",
            "due_date": "date?",
            "start_date": "date?",
            "assignee_id": "int?",
            "assignee_ids": "ints",
            "priority": "int?",
        },
        required=("title", "project_id"),
        filters={
            "is_done": "bool",
            "is_milestone": "bool",
            "assignee_id": "int",
            "project_id": "int",
            "parent_task_id": "str",
        },
        filter_hooks={"assignee_id": _member("assignee_ids"), "parent_task_id": _parent_task},
        defaults={
            "creator_id": 1,
            "description": None,
            "parent_task_id": None,
            "is_done": False,
            "is_milestone": False,
            "due_date": None,
            "start_date": None,
            "assignee_id": None,
            "assignee_ids": [],
            "priority": None,
            "marked_as_done_time": None,
        },
        prepare=prepare_task,
    ),
]


def base_data() -> dict:
    """One board with two phases, one template and the standard project fields, in every sandbox."""
    return {
        "boards": [{"id": 1, "name": "Delivery", "order_nr": 0}],
        "phases": [
            {"id": 1, "name": "Planning", "board_id": 1, "order_nr": 0},
            {"id": 2, "name": "In progress", "board_id": 1, "order_nr": 1},
        ],
        "projectTemplates": [
            {
                "id": 1,
                "title": "Standard delivery",
                "description": "Plan, build, hand over",
                "projects_board_id": 1,
                "owner_id": 1,
            }
        ],
        "projectFields": [
            {
                "field_code": code,
                "field_name": name,
                "field_type": kind,
                "is_custom_field": False,
                "is_optional_response_field": False,
                "options": None,
                "subfields": None,
            }
            for code, name, kind in (
                ("title", "Title", "varchar"),
                ("status", "Status", "status"),
                ("board_id", "Board", "projects_board"),
                ("phase_id", "Phase", "projects_phase"),
                ("owner_id", "Owner", "user"),
                ("start_date", "Start date", "date"),
                ("end_date", "End date", "date"),
            )
        ],
    }


# -- projects -----------------------------------------------------------------------------


def _filtered(ctx, res: Resource, items: list) -> list:
    for name, kind in res.filters.items():
        raw = ctx.args.get(name)
        if raw in (None, ""):
            continue
        value = parse_query(name, raw, kind, ctx.strict)
        hook = res.filter_hooks.get(name) or COMMON_FILTERS.get(name)
        items = hook(ctx.store, items, value) if hook else [r for r in items if r.get(name) == value]
    return items


def list_projects(archived: bool):
    """Projects on the boards, or the archived ones."""

    def handler(ctx, res: Resource):
        items = [r for r in ctx.store.rows(res.name) if (r.get("archive_time") is not None) == archived]
        page, extra = paginate(ctx, _filtered(ctx, res, items))
        return [show(ctx, res, r) for r in page], extra

    return handler


def archive_project(ctx, res: Resource, id: str):
    project = find(ctx, res, id)
    stamp = res.stamp()
    return show(ctx, res, ctx.store.update(res.name, project["id"], {"archive_time": stamp, "update_time": stamp}))


def search_projects(ctx, res: Resource):
    term = ctx.args.get("term", "")
    exact = parse_query("exact_match", ctx.args.get("exact_match", "false"), "bool", True)
    if len(term) < (1 if exact else 2):
        raise bad_request("term must be at least 2 characters (1 with exact_match)")
    fields = ctx.args["fields"].split(",") if ctx.args.get("fields") else ["title", "description"]
    unknown = set(fields) - {"custom_fields", "notes", "title", "description"}
    if unknown:
        raise bad_request(f"fields: unknown field {sorted(unknown)[0]}")
    person = parse_query("person_id", ctx.args["person_id"], "int", True) if ctx.args.get("person_id") else None
    org = (
        parse_query("organization_id", ctx.args["organization_id"], "int", True)
        if ctx.args.get("organization_id")
        else None
    )
    needle = term.lower()
    hits = []
    for project in ctx.store.rows(res.name):
        values = [str(project.get(f) or "").lower() for f in fields if f in ("title", "description")]
        if not any(v == needle if exact else needle in v for v in values):
            continue
        if (person and person not in project["person_ids"]) or (org and org not in project["org_ids"]):
            continue
        hits.append(project)
    page, extra = paginate(ctx, hits)
    items = [
        {
            "result_score": 1.0,
            "item": {
                "id": p["id"],
                "type": "project",
                "title": p["title"],
                "status": p.get("status"),
                "owner": {"id": p.get("owner_id")},
                "board_id": p.get("board_id"),
                "description": p.get("description"),
                "end_date": p.get("end_date"),
                "deal_count": len(p.get("deal_ids") or []),
                "custom_fields": [],
                "notes": [],
            },
        }
        for p in page
    ]
    return {"items": items}, extra


def permitted_users(ctx, res: Resource, id: str):
    """Every user of the company may see a project in the sandbox."""
    find(ctx, res, id)
    return [u["id"] for u in ctx.store.rows("users")]


def changelog(ctx, res: Resource, id: str):
    project = find(ctx, res, id)
    entries = [dict(e) for e in ctx.store.rows("projectChangelog") if e["project_id"] == project["id"]]
    page, extra = paginate(ctx, entries, descending=True)
    return [{k: v for k, v in e.items() if k not in ("id", "project_id")} for e in page], extra


def delete_board(ctx, res: Resource, id: str):
    """A board with projects on it is refused; its phases go with it."""
    board = find(ctx, res, id)
    if any(p.get("board_id") == board["id"] for p in ctx.store.rows("projects")):
        raise bad_request("The board still has projects; move or delete them first")
    with ctx.store.lock:
        for phase in [p for p in ctx.store.rows("phases") if p["board_id"] == board["id"]]:
            ctx.store.delete("phases", phase["id"])
        ctx.store.delete(res.name, board["id"])
    return {"id": board["id"]}


def list_phases(ctx, res: Resource):
    if not ctx.args.get("board_id"):
        raise bad_request("board_id is required")
    board_id = parse_query("board_id", ctx.args["board_id"], "int", True)
    find(ctx, RESOURCES[1], str(board_id))
    phases = [show(ctx, res, p) for p in ctx.store.rows(res.name) if p["board_id"] == board_id]
    return sorted(phases, key=lambda p: (p["order_nr"], p["id"]))


def delete_task(ctx, res: Resource, id: str):
    """Deleting a task deletes its subtasks."""
    task = find(ctx, res, id)
    with ctx.store.lock:
        for sub in [t for t in ctx.store.rows(res.name) if t.get("parent_task_id") == task["id"]]:
            ctx.store.delete(res.name, sub["id"])
        ctx.store.delete(res.name, task["id"])
    return ctx.respond(200, {"id": task["id"]}, {})


# -- the plan and the v1 lists of one project ---------------------------------------------


def _project(ctx, id: str) -> dict:
    return find(ctx, PROJECTS, id)


def _placement(ctx, project: dict, kind: str, item_id: int) -> dict:
    stored = next(
        (
            p
            for p in ctx.store.rows("projectPlan")
            if p["project_id"] == project["id"] and p["item_type"] == kind and p["item_id"] == item_id
        ),
        None,
    )
    return {
        "item_id": item_id,
        "item_type": kind,
        "phase_id": (stored or {}).get("phase_id", project.get("phase_id")),
        "group_id": (stored or {}).get("group_id", PLAN_GROUP["id"]),
    }


def _project_tasks(ctx, project: dict) -> list:
    return [t for t in ctx.store.rows("tasks") if t["project_id"] == project["id"]]


def _project_activities(ctx, project: dict) -> list:
    return [a for a in ctx.store.rows("activities") if a.get("project_id") == project["id"]]


def plan(ctx, res: Resource | None, id: str):
    project = _project(ctx, id)
    items = [("task", t["id"]) for t in _project_tasks(ctx, project)]
    items += [("activity", a["id"]) for a in _project_activities(ctx, project)]
    return [_placement(ctx, project, kind, item_id) for kind, item_id in items]


def place(kind: str):
    """Move a task or an activity of the project to another phase or group."""

    def handler(ctx, res: Resource | None, id: str, item_id: str):
        project = _project(ctx, id)
        key = parse_query("item_id", item_id, "int", False)
        items = _project_tasks(ctx, project) if kind == "task" else _project_activities(ctx, project)
        if not any(i["id"] == key for i in items):
            raise not_found("Task" if kind == "task" else "Activity")
        body = ctx.body()
        changes = {}
        for name in ("phase_id", "group_id"):
            if body.get(name) is not None:
                changes[name] = int(check_value(name, body[name], "number", False))
        if "phase_id" in changes and ctx.store.get("phases", changes["phase_id"]) is None:
            raise bad_request(f"phase_id {changes['phase_id']} does not exist")
        if changes.get("group_id", PLAN_GROUP["id"]) != PLAN_GROUP["id"]:
            raise bad_request(f"group_id {changes['group_id']} does not exist")
        with ctx.store.lock:
            current = _placement(ctx, project, kind, key)
            stored = next(
                (
                    p
                    for p in ctx.store.rows("projectPlan")
                    if p["project_id"] == project["id"] and p["item_type"] == kind and p["item_id"] == key
                ),
                None,
            )
            if stored is None:
                ctx.store.insert("projectPlan", {"project_id": project["id"], **current, **changes})
            else:
                ctx.store.update("projectPlan", stored["id"], changes)
        return _placement(ctx, project, kind, key)

    return handler


def groups(ctx, res: Resource | None, id: str):
    _project(ctx, id)
    return [dict(PLAN_GROUP)]


def project_tasks(ctx, res: Resource | None, id: str):
    """v1 view of the project's tasks: 0/1 flags as v1 writes them."""
    project = _project(ctx, id)
    return [
        {**t, "done": int(bool(t.get("is_done"))), "add_time": v1_time(t.get("add_time"))}
        for t in _project_tasks(ctx, project)
    ]


def project_activities(ctx, res: Resource | None, id: str):
    """v1 view of the project's activities (v1 names, v1 times)."""
    project = _project(ctx, id)
    out = []
    for a in _project_activities(ctx, project):
        out.append(
            {
                "id": a["id"],
                "subject": a.get("subject"),
                "type": a.get("type"),
                "done": bool(a.get("done")),
                "due_date": a.get("due_date"),
                "due_time": a.get("due_time"),
                "duration": a.get("duration"),
                "deal_id": a.get("deal_id"),
                "person_id": a.get("person_id"),
                "org_id": a.get("org_id"),
                "project_id": project["id"],
                "user_id": a.get("owner_id"),
                "busy_flag": bool(a.get("busy")),
                "active_flag": True,
                "add_time": v1_time(a.get("add_time")),
                "update_time": v1_time(a.get("update_time")),
            }
        )
    return out
