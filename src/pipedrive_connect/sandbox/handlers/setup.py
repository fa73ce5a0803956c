"""Company setup written through the API (v1): activity types, saved filters, users, meeting integration links.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`; ``res`` is the
resource named in the route table. Deleting an activity type deactivates it, as Pipedrive does.
"""

from __future__ import annotations

import re

from ..records import UUID, Resource, bad_request, check_value, find, not_found, parse_query, show
from ..store import now_v2, v1_time

ICONS = (
    "task email meeting deadline call lunch calendar downarrow document smartphone camera scissors cogs bubble "
    "uparrow checkbox signpost shuffle addressbook linegraph picture car world search clip sound brush key padlock "
    "pricetag suitcase finish plane loop wifi truck cart bulb bell presentation"
).split()
COLOR = re.compile(r"^[0-9A-Fa-f]{6}$")
FILTER_TYPES = ("deals", "leads", "org", "people", "products", "activity", "projects")
ACCESS_APPS = ("global", "sales", "campaigns", "projects", "account_settings", "partnership", "nova")

LINKS = Resource("userProviderLinks", "v1", label="User provider link", id_type="str", fields={}, paginated=False)
RESOURCES = [LINKS]


# -- activity types ----------------------------------------------------------------------------


def _type_changes(ctx, body: dict) -> dict:
    changes = {}
    if "name" in body:
        changes["name"] = check_value("name", body["name"], "str", False)
    if "icon_key" in body:
        changes["icon_key"] = check_value("icon_key", body["icon_key"], "enum:" + "|".join(ICONS), False)
    if body.get("color") is not None:
        if not COLOR.match(str(body["color"])):
            raise bad_request("color must be six hex digits, such as FFCC00")
        changes["color"] = str(body["color"])
    if "order_nr" in body:
        changes["order_nr"] = check_value("order_nr", body["order_nr"], "int", False)
    return changes


def add_activity_type(ctx, res: Resource):
    changes = _type_changes(ctx, ctx.body())
    if not changes.get("name") or "icon_key" not in changes:
        raise bad_request("Missing required field(s): name, icon_key")
    key = re.sub(r"[^a-z0-9]+", "_", changes["name"].lower()).strip("_") or "custom"
    with ctx.store.lock:
        taken = {t["key_string"] for t in ctx.store.rows(res.name)}
        base, n = key, 1
        while key in taken:
            n += 1
            key = f"{base}_{n}"
        stamp = res.stamp()
        record = {
            "color": None,
            "order_nr": max((t.get("order_nr") or 0 for t in ctx.store.rows(res.name)), default=0) + 1,
            **changes,
            "key_string": key,
            "active_flag": True,
            "is_custom_flag": True,
            "add_time": stamp,
            "update_time": stamp,
        }
        return show(ctx, res, ctx.store.insert(res.name, record))


def update_activity_type(ctx, res: Resource, id: str):
    current = find(ctx, res, id)
    changes = _type_changes(ctx, ctx.body())
    return show(ctx, res, ctx.store.update(res.name, current["id"], {**changes, "update_time": res.stamp()}))


def delete_activity_type(ctx, res: Resource, id: str):
    current = find(ctx, res, id)
    return show(ctx, res, ctx.store.update(res.name, current["id"], {"active_flag": False, "update_time": res.stamp()}))


# -- saved filters -----------------------------------------------------------------------------


def add_filter(ctx, res: Resource):
    body = ctx.body()
    name = check_value("name", body.get("name"), "str", False)
    kind = check_value("type", body.get("type"), "enum:" + "|".join(FILTER_TYPES), False)
    conditions = check_value("conditions", body.get("conditions"), "dict", False)
    if conditions.get("glue") not in ("and", "or") or not isinstance(conditions.get("conditions"), list):
        raise bad_request("conditions needs glue (and, or) and a list of conditions")
    stamp = res.stamp()
    record = {
        "name": name,
        "type": kind,
        "conditions": conditions,
        "filter_code": None,
        "is_editable": True,
        "active_flag": True,
        "temporary_flag": None,
        "user_id": ctx.user_id,
        "visible_to": "7",
        "custom_view_id": None,
        "last_used_time": None,
        "add_time": stamp,
        "update_time": stamp,
    }
    return show(ctx, res, ctx.store.insert(res.name, record))


def delete_filter(ctx, res: Resource, id: str):
    current = find(ctx, res, id)
    ctx.store.delete(res.name, current["id"])
    return {"id": current["id"]}


def delete_filters(ctx, res: Resource):
    if not ctx.args.get("ids"):
        raise bad_request("ids is required")
    ids = parse_query("ids", ctx.args["ids"], "ints", False)
    missing = [i for i in ids if ctx.store.get(res.name, i) is None]
    if missing:
        raise not_found(f"Filter {missing[0]}")
    with ctx.store.lock:
        for filter_id in ids:
            ctx.store.delete(res.name, filter_id)
    return {"id": ids}


def filter_helpers(ctx, res: Resource | None):
    """What conditions may say: the operators per field type and the relative dates."""
    compare = ["=", "!=", "<", ">", "<=", ">=", "IS NULL", "IS NOT NULL"]
    text = ["=", "!=", "LIKE '$%'", "LIKE '%$%'", "NOT LIKE '$%'", "IS NULL", "IS NOT NULL"]
    return {
        "operators": {
            "int": compare,
            "double": compare,
            "date": compare,
            "varchar": text,
            "text": text,
            "enum": ["=", "!=", "IS NULL", "IS NOT NULL"],
            "set": ["=", "!=", "IS NULL", "IS NOT NULL"],
        },
        "relative_dates": {
            "yesterday": "Yesterday",
            "today": "Today",
            "tomorrow": "Tomorrow",
            "last_week": "Last week",
            "this_week": "This week",
            "next_week": "Next week",
            "last_month": "Last month",
            "this_month": "This month",
            "next_month": "Next month",
        },
    }


# -- users -------------------------------------------------------------------------------------


def _access(value) -> list:
    entries = check_value("access", value, "list", False)
    out = []
    for i, entry in enumerate(entries):
        check_value(f"access[{i}]", entry, "dict", False)
        out.append(
            {
                "app": check_value(f"access[{i}].app", entry.get("app"), "enum:" + "|".join(ACCESS_APPS), False),
                "admin": bool(check_value(f"access[{i}].admin", entry.get("admin", False), "bool", False)),
                "permission_set_id": entry.get("permission_set_id") or "00000000-0000-4000-8000-000000000002",
            }
        )
    return out


def add_user(ctx, res: Resource):
    """A new user is shaped like the sandbox's own first user, with their e-mail and access."""
    body = ctx.body()
    email = check_value("email", body.get("email"), "str", False)
    if "@" not in email:
        raise bad_request("email must be an e-mail address")
    access = _access(body["access"]) if body.get("access") is not None else _access([{"app": "sales"}])
    active = check_value("active_flag", body.get("active_flag", True), "bool", False)
    with ctx.store.lock:
        if any(u.get("email", "").lower() == email.lower() for u in ctx.store.rows("users")):
            raise bad_request(f"A user with the e-mail {email} exists already")
        template = ctx.store.get("users", 1) or {}
        record = {
            **{k: v for k, v in template.items() if k != "id"},
            "name": email.split("@")[0],
            "email": email,
            "access": access,
            "active_flag": active,
            "activated": False,
            "has_created_company": False,
            "is_you": False,
            "is_deleted": False,
            "role_id": None,
            "last_login": None,
            "created": v1_time(now_v2()),
            "modified": None,
        }
        return ctx.store.insert("users", record)


def update_user(ctx, res: Resource, id: str):
    user = find(ctx, res, id)
    body = ctx.body()
    if "active_flag" not in body:
        raise bad_request("Missing required field(s): active_flag")
    active = check_value("active_flag", body["active_flag"], "bool", False)
    return ctx.store.update("users", user["id"], {"active_flag": active, "modified": v1_time(now_v2())})


# -- meeting integration links -----------------------------------------------------------------


def add_provider_link(ctx, res: Resource):
    body = ctx.body()
    link_id = check_value("user_provider_id", body.get("user_provider_id"), "str", False)
    if not UUID.match(link_id):
        raise bad_request("user_provider_id must be a UUID")
    user_id = check_value("user_id", body.get("user_id"), "int", False)
    if ctx.store.get("users", user_id) is None:
        raise bad_request(f"user_id {user_id} does not exist")
    company_id = check_value("company_id", body.get("company_id"), "int", False)
    client_id = check_value("marketplace_client_id", body.get("marketplace_client_id"), "str", False)
    record = {"id": link_id, "user_id": user_id, "company_id": company_id, "marketplace_client_id": client_id}
    ctx.store.insert(res.name, record)
    return {"message": "The user was added successfully"}


def delete_provider_link(ctx, res: Resource, id: str):
    link = find(ctx, res, id)
    ctx.store.delete(res.name, link["id"])
    return {"message": "The user was deleted successfully"}
