"""Roles (v1): the hierarchy, who holds each role, default visibility settings and visible pipelines.

A user holds one role; one without a ``role_id`` holds the top role (``TOP``), which cannot be
deleted. The users' own role reports (:mod:`.users`) read the same ``role_id``.
"""

from __future__ import annotations

from ..records import Resource, bad_request, check_value, find, not_found, paginate, parse_query

TOP = 1
VISIBILITY_KEYS = (
    "deal_default_visibility",
    "lead_default_visibility",
    "org_default_visibility",
    "person_default_visibility",
    "product_default_visibility",
)
DEFAULT_SETTINGS = {
    **dict.fromkeys(VISIBILITY_KEYS, 3),
    "deal_access_level": 3,
    "org_access_level": 3,
    "person_access_level": 3,
    "product_access_level": 3,
}

ROLES = Resource(
    "roles",
    "v1",
    label="Role",
    fields={"name": "str", "parent_role_id": "int?"},
    required=("name",),
    defaults={"parent_role_id": None, "hidden_pipeline_ids": [], "settings": dict(DEFAULT_SETTINGS)},
)
RESOURCES = [ROLES]


def base_data() -> dict:
    return {"roles": [{"id": TOP, "name": "Company", "parent_role_id": None}]}


def _role_of(user: dict) -> int:
    return user.get("role_id") or TOP


def _level(ctx, role: dict) -> int:
    level, seen = 1, {role["id"]}
    while role.get("parent_role_id") is not None and role["parent_role_id"] not in seen:
        role = ctx.store.get("roles", role["parent_role_id"]) or {}
        seen.add(role.get("id"))
        level += 1
    return level


def _view(ctx, role: dict) -> dict:
    """v1 counts are strings."""
    holders = sum(1 for u in ctx.store.rows("users") if _role_of(u) == role["id"])
    children = sum(1 for r in ctx.store.rows("roles") if r.get("parent_role_id") == role["id"])
    return {
        "id": role["id"],
        "name": role["name"],
        "parent_role_id": role.get("parent_role_id"),
        "active_flag": True,
        "assignment_count": str(holders),
        "sub_role_count": str(children),
        "level": _level(ctx, role),
    }


def _parent(ctx, body: dict, role_id: int | None = None) -> int | None:
    """A parent must exist and may not be the role itself or one of its sub-roles."""
    parent_id = check_value("parent_role_id", body.get("parent_role_id"), "int?", False)
    if parent_id is None:
        return None
    parent = ctx.store.get("roles", parent_id)
    if parent is None:
        raise bad_request(f"parent_role_id {parent_id} does not exist")
    while parent is not None and role_id is not None:
        if parent["id"] == role_id:
            raise bad_request("A role cannot sit under itself or one of its sub-roles")
        parent = ctx.store.get("roles", parent.get("parent_role_id"))
    return parent_id


def list_roles(ctx, res: Resource):
    page, extra = paginate(ctx, [_view(ctx, r) for r in ctx.store.rows(res.name)])
    return page, extra


def get_role(ctx, res: Resource, id: str):
    role = find(ctx, res, id)
    return ctx.respond(200, _view(ctx, role), {"settings": dict(role["settings"])})


def add_role(ctx, res: Resource):
    body = ctx.body()
    name = check_value("name", body.get("name"), "str", False)
    if not name:
        raise bad_request("Missing required field(s): name")
    parent_id = _parent(ctx, body)
    record = {**ROLES.defaults, "settings": dict(DEFAULT_SETTINGS), "name": name, "parent_role_id": parent_id}
    return {"id": ctx.store.insert(res.name, record)["id"]}


def update_role(ctx, res: Resource, id: str):
    role = find(ctx, res, id)
    body = ctx.body()
    changes = {}
    if "name" in body:
        changes["name"] = check_value("name", body["name"], "str", False)
    if "parent_role_id" in body:
        if role["id"] == TOP and body["parent_role_id"] is not None:
            raise bad_request("The top role cannot have a parent")
        changes["parent_role_id"] = _parent(ctx, body, role["id"])
    ctx.store.update(res.name, role["id"], changes)
    return {"id": role["id"]}


def delete_role(ctx, res: Resource, id: str):
    """Its users and sub-roles move up to its parent."""
    role = find(ctx, res, id)
    if role["id"] == TOP:
        raise bad_request("The top role cannot be deleted")
    with ctx.store.lock:
        for child in [r for r in ctx.store.rows(res.name) if r.get("parent_role_id") == role["id"]]:
            ctx.store.update(res.name, child["id"], {"parent_role_id": role.get("parent_role_id") or TOP})
        for user in [u for u in ctx.store.rows("users") if u.get("role_id") == role["id"]]:
            ctx.store.update("users", user["id"], {"role_id": role.get("parent_role_id")})
        ctx.store.delete(res.name, role["id"])
    return {"id": role["id"]}


def list_assignments(ctx, res: Resource, id: str):
    role = find(ctx, res, id)
    holders = [u for u in ctx.store.rows("users") if _role_of(u) == role["id"]]
    page, extra = paginate(ctx, holders)
    return [
        {
            "user_id": u["id"],
            "role_id": role["id"],
            "name": role["name"],
            "parent_role_id": role.get("parent_role_id"),
            "active_flag": True,
            "type": "assignment",
        }
        for u in page
    ], extra


def _user(ctx) -> dict:
    user_id = check_value("user_id", ctx.body().get("user_id"), "int", False)
    user = ctx.store.get("users", user_id)
    if user is None:
        raise bad_request(f"user_id {user_id} does not exist")
    return user


def add_assignment(ctx, res: Resource, id: str):
    role = find(ctx, res, id)
    user = _user(ctx)
    ctx.store.update("users", user["id"], {"role_id": role["id"]})
    return {"user_id": user["id"], "role_id": role["id"]}


def delete_assignment(ctx, res: Resource, id: str):
    """The user goes back to the top role."""
    role = find(ctx, res, id)
    user = _user(ctx)
    if _role_of(user) != role["id"] or role["id"] == TOP:
        raise not_found("Role assignment")
    ctx.store.update("users", user["id"], {"role_id": None})
    return {"id": role["id"]}


def get_settings(ctx, res: Resource, id: str):
    return dict(find(ctx, res, id)["settings"])


def set_setting(ctx, res: Resource, id: str):
    role = find(ctx, res, id)
    body = ctx.body()
    key = check_value("setting_key", body.get("setting_key"), "enum:" + "|".join(VISIBILITY_KEYS), False)
    value = check_value("value", body.get("value"), "int", False)
    if value not in (1, 3, 5, 7):
        raise bad_request("value must be one of: 1, 3, 5, 7")
    ctx.store.update(res.name, role["id"], {"settings": {**role["settings"], key: value}})
    return {"id": role["id"], key: value}


def _visible(ctx, role: dict) -> list[int]:
    hidden = set(role.get("hidden_pipeline_ids") or [])
    return sorted(p["id"] for p in ctx.store.rows("pipelines") if p["id"] not in hidden)


def get_pipelines(ctx, res: Resource, id: str):
    role = find(ctx, res, id)
    visible = parse_query("visible", ctx.args.get("visible", "true"), "bool", False)
    ids = _visible(ctx, role) if visible else sorted(set(role.get("hidden_pipeline_ids") or []))
    return {"pipeline_ids": ids, "visible": visible}


def update_pipelines(ctx, res: Resource, id: str):
    role = find(ctx, res, id)
    change = check_value("visible_pipeline_ids", ctx.body().get("visible_pipeline_ids"), "dict", False)
    add, remove = (check_value(k, change.get(k) or [], "ints", False) for k in ("add", "remove"))
    if not add and not remove:
        raise bad_request("visible_pipeline_ids needs add or remove")
    for pipeline_id in (*add, *remove):
        if ctx.store.get("pipelines", pipeline_id) is None:
            raise bad_request(f"pipeline {pipeline_id} does not exist")
    hidden = (set(role.get("hidden_pipeline_ids") or []) - set(add)) | set(remove)
    role = ctx.store.update(res.name, role["id"], {"hidden_pipeline_ids": sorted(hidden)})
    return {"pipeline_ids": _visible(ctx, role), "visible": True}
