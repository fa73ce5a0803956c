"""Handlers for operations that are not plain CRUD: files, followers, search,
merges, users and the read-only reports.

Each handler takes ``(ctx, res, **path)`` like the generic ones in
:mod:`engine`; ``res`` is the resource named in the route table.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from datetime import date, timedelta

from werkzeug.utils import send_file

from .engine import (REFS, Resource, bad_request, check_value, find, not_found,
                     paginate, parse_query, show)
from .resources import RESOURCES, v1_org_ref, v1_person_ref, v1_user_ref
from .store import v1_time

# -- files ------------------------------------------------------------------------

FILE_LINKS = {"deal_id": "deals", "person_id": "persons", "org_id": "organizations", "product_id": "products",
              "activity_id": "activities", "lead_id": "leads"}
ENTITY_KEYS = {"deals": "deal_id", "persons": "person_id", "organizations": "org_id", "products": "product_id"}


def upload_file(ctx, res: Resource):
    """Multipart upload: part ``file`` plus exactly one link field."""
    upload = ctx.request.files.get("file")
    if upload is None:
        raise bad_request("The multipart part 'file' is required")
    links = {k: v for k, v in ctx.request.form.items() if k in FILE_LINKS and v != ""}
    if len(links) != 1:
        raise bad_request(f"Give exactly one of: {', '.join(FILE_LINKS)}")
    (link, raw), = links.items()
    value = raw if link == "lead_id" else check_value(link, raw, "int", strict=False)
    if ctx.store.get(FILE_LINKS[link], value) is None:
        raise not_found(RESOURCES[FILE_LINKS[link]].title)
    content = upload.read()
    name = upload.filename or "file"
    stamp = res.stamp()
    record = {**res.defaults, **{k: None for k in FILE_LINKS}, link: value, "file_name": name, "name": name,
              "file_type": name.rsplit(".", 1)[-1].lower() if "." in name else "", "file_size": len(content),
              "add_time": stamp, "update_time": stamp}
    with ctx.store.lock:
        ctx.store.insert("files", record)
        record["url"] = f"{ctx.request.host_url}v1/files/{record['id']}/download"
        ctx.store.insert("fileBlobs", {"id": record["id"], "content": base64.b64encode(content).decode()})
    return show(ctx, res, record)


def download_file(ctx, res: Resource, id: str):
    record = find(ctx, res, id)
    blob = ctx.store.get("fileBlobs", record["id"])
    content = base64.b64decode(blob["content"]) if blob else b""
    # send_file writes both filename= (ASCII fallback) and RFC 5987 filename*=.
    return send_file(io.BytesIO(content), ctx.request.environ, mimetype="application/octet-stream",
                     as_attachment=True, download_name=record["name"], conditional=False)


def entity_files(ctx, res: Resource, id: str):
    record = find(ctx, res, id)
    key = ENTITY_KEYS[res.name]
    items = [f for f in ctx.store.rows("files") if f.get(key) == record["id"]]
    page, extra = paginate(ctx, items, 100, reject_over=True)
    return [show(ctx, RESOURCES["files"], f) for f in page], extra


# -- followers (v2) -------------------------------------------------------------------


def _followers(ctx, table: str, entity_id: int) -> list[dict]:
    return [f for f in ctx.store.rows("followers") if f["entity"] == table and f["entity_id"] == entity_id]


def list_followers(ctx, res: Resource, id: str):
    record = find(ctx, res, id)
    page, extra = paginate(ctx, _followers(ctx, res.name, record["id"]))
    return [{"user_id": f["user_id"], "add_time": f["add_time"]} for f in page], extra


def add_follower(ctx, res: Resource, id: str):
    record = find(ctx, res, id)
    body = ctx.body()
    unknown = set(body) - {"user_id"}
    if unknown:
        raise bad_request(f"Unknown field: {sorted(unknown)[0]}")
    user_id = check_value("user_id", body.get("user_id"), "int", strict=True)
    if ctx.store.get("users", user_id) is None:
        raise bad_request(f"user_id {user_id} does not exist")
    with ctx.store.lock:
        if any(f["user_id"] == user_id for f in _followers(ctx, res.name, record["id"])):
            raise bad_request(f"User {user_id} is already following this {res.title.lower()}")
        follower = ctx.store.insert("followers", {"entity": res.name, "entity_id": record["id"],
                                                  "user_id": user_id, "add_time": res.stamp()})
    return ctx.respond(201, {"user_id": user_id, "add_time": follower["add_time"]})


def delete_follower(ctx, res: Resource, id: str, follower_id: str):
    record = find(ctx, res, id)
    user_id = parse_query("follower_id", follower_id, "int", strict=True)
    match = next((f for f in _followers(ctx, res.name, record["id"]) if f["user_id"] == user_id), None)
    if match is None:
        raise not_found("Follower")
    ctx.store.delete("followers", match["id"])
    return {"user_id": user_id}


# -- search (v2) -----------------------------------------------------------------------


def _notes_of(ctx, key: str, entity_id) -> list[str]:
    def index():
        by_entity: dict = {}
        for note in ctx.store.rows("notes"):
            by_entity.setdefault(note.get(key), []).append(note["content"])
        return by_entity

    return ctx.memo(("notes", key), index).get(entity_id, [])


def _custom_values(record: dict) -> list[str]:
    return [str(v) for v in (record.get("custom_fields") or {}).values()
            if isinstance(v, (str, int, float)) and not isinstance(v, bool)]


def _ref(store, table: str, key) -> dict | None:
    linked = store.get(table, key)
    return {"id": linked["id"], "name": linked.get("name") or linked.get("title")} if linked else None


SEARCH_FIELDS = {
    "deals": {"title": lambda c, r: [r["title"]], "notes": lambda c, r: _notes_of(c, "deal_id", r["id"]),
              "custom_fields": lambda c, r: _custom_values(r)},
    "persons": {"name": lambda c, r: [r["name"]], "email": lambda c, r: [e["value"] for e in r["emails"]],
                "phone": lambda c, r: [p["value"] for p in r["phones"]],
                "notes": lambda c, r: _notes_of(c, "person_id", r["id"]),
                "custom_fields": lambda c, r: _custom_values(r)},
    "organizations": {"name": lambda c, r: [r["name"]],
                      "address": lambda c, r: [(r.get("address") or {}).get("value") or ""],
                      "notes": lambda c, r: _notes_of(c, "org_id", r["id"]),
                      "custom_fields": lambda c, r: _custom_values(r)},
    "products": {"name": lambda c, r: [r["name"]], "code": lambda c, r: [r.get("code") or ""],
                 "description": lambda c, r: [r.get("description") or ""],
                 "custom_fields": lambda c, r: _custom_values(r)},
    "leads": {"title": lambda c, r: [r["title"]], "notes": lambda c, r: _notes_of(c, "lead_id", r["id"]),
              "custom_fields": lambda c, r: []},
}
SEARCH_FILTERS = {"person_id": ("person_id", "int"), "organization_id": ("org_id", "int"),
                  "status": ("status", "enum:open|won|lost")}
ITEM_TYPES = {"deal": "deals", "person": "persons", "organization": "organizations", "product": "products",
              "lead": "leads"}


def _search_item(store, table: str, r: dict) -> dict:
    """The compact item shape each search endpoint returns."""
    owner = {"id": r.get("owner_id")}
    if table == "deals":
        stage = store.get("stages", r.get("stage_id")) or {}
        return {"id": r["id"], "type": "deal", "title": r["title"], "value": r["value"], "currency": r["currency"],
                "status": r["status"], "visible_to": r["visible_to"], "owner": owner,
                "stage": {"id": stage.get("id"), "name": stage.get("name")},
                "person": _ref(store, "persons", r.get("person_id")),
                "organization": _ref(store, "organizations", r.get("org_id")),
                "custom_fields": _custom_values(r), "notes": [], "is_archived": r.get("is_archived", False)}
    if table == "persons":
        return {"id": r["id"], "type": "person", "name": r["name"], "phones": [p["value"] for p in r["phones"]],
                "emails": [e["value"] for e in r["emails"]], "visible_to": r["visible_to"], "owner": owner,
                "organization": _ref(store, "organizations", r.get("org_id")),
                "custom_fields": _custom_values(r), "notes": []}
    if table == "organizations":
        return {"id": r["id"], "type": "organization", "name": r["name"],
                "address": (r.get("address") or {}).get("value"), "visible_to": r["visible_to"], "owner": owner,
                "custom_fields": _custom_values(r), "notes": []}
    if table == "products":
        return {"id": r["id"], "type": "product", "name": r["name"], "code": r.get("code"),
                "visible_to": r["visible_to"], "owner": owner, "custom_fields": _custom_values(r)}
    value = r.get("value") or {}
    return {"id": r["id"], "type": "lead", "title": r["title"], "owner": owner,
            "person": _ref(store, "persons", r.get("person_id")),
            "organization": _ref(store, "organizations", r.get("organization_id")), "phones": [], "emails": [],
            "custom_fields": [], "notes": [], "value": value.get("amount"), "currency": value.get("currency"),
            "visible_to": int(r.get("visible_to") or 3), "is_archived": r.get("is_archived", False)}


def _score(term: str, values: list[str], exact: bool) -> float:
    term = term.lower()
    best = 0.0
    for value in values:
        value = value.lower()
        if value == term:
            return 1.0
        if not exact and term in value:
            best = max(best, 0.8 if value.startswith(term) else 0.5)
    return best


def _rank_id(table: str, record: dict) -> str:
    """Tie-breaker for equal scores that sorts ids numerically and is unique across types."""
    return f"{table}:{str(record['id']):>36}"


def _search_term(ctx) -> tuple[str, bool]:
    term = ctx.args.get("term", "")
    exact = parse_query("exact_match", ctx.args.get("exact_match", "false"), "bool", True)
    if len(term.strip()) < (1 if exact else 2):
        raise bad_request("term must be at least 2 characters long (1 with exact_match)")
    return term.strip(), exact


def _ranked(ctx, tables: list[str], term: str, exact: bool, fields: list[str] | None) -> list[dict]:
    ranked = []
    for table in tables:
        extractors = SEARCH_FIELDS[table]
        chosen = fields or list(extractors)
        for name in chosen:
            if name not in extractors:
                raise bad_request(f"fields: {name} is not searchable for {table}")
        for r in ctx.store.rows(table):
            score = max(_score(term, extractors[f](ctx, r), exact) for f in chosen)
            if score:
                ranked.append({"id": _rank_id(table, r), "rank": -score, "record": r,
                               "result": {"result_score": score, "item": _search_item(ctx.store, table, r)}})
    return ranked


def _search_page(ctx, ranked: list[dict]):
    page, extra = paginate(ctx, ranked, 100, sort_by="rank")
    return [e["result"] for e in page], extra


def search_entity(ctx, res: Resource):
    term, exact = _search_term(ctx)
    fields = ctx.args["fields"].split(",") if ctx.args.get("fields") else None
    ranked = _ranked(ctx, [res.name], term, exact, fields)
    for name, (key, kind) in SEARCH_FILTERS.items():
        if ctx.args.get(name):
            value = parse_query(name, ctx.args[name], kind, True)
            key = "organization_id" if key == "org_id" and res.name == "leads" else key
            ranked = [e for e in ranked if e["record"].get(key) == value]
    items, extra = _search_page(ctx, ranked)
    return {"items": items}, extra


def search_items(ctx, res: Resource | None):
    term, exact = _search_term(ctx)
    types = ctx.args["item_types"].split(",") if ctx.args.get("item_types") else list(ITEM_TYPES)
    unknown = [t for t in types if t not in ITEM_TYPES]
    if unknown:
        raise bad_request(f"item_types: unsupported type {unknown[0]}")
    tables = [ITEM_TYPES[t] for t in types]
    fields = ctx.args["fields"].split(",") if ctx.args.get("fields") else None
    ranked = []
    for table in tables:
        usable = [f for f in fields if f in SEARCH_FIELDS[table]] if fields else None
        if usable != []:
            ranked += _ranked(ctx, [table], term, exact, usable)
    items, extra = _search_page(ctx, ranked)
    return {"items": items, "related_items": []}, extra


def search_by_field(ctx, res: Resource | None):
    """Case-sensitive match of one field (standard name or custom key)."""
    entity = ctx.args.get("entity_type")
    if entity not in ITEM_TYPES:
        raise bad_request(f"entity_type must be one of: {', '.join(ITEM_TYPES)}")
    field, term = ctx.args.get("field"), ctx.args.get("term")
    if not field or not term:
        raise bad_request("field and term are required")
    match = ctx.args.get("match", "exact")
    tests = {"exact": lambda v: v == term, "beginning": lambda v: v.startswith(term), "middle": lambda v: term in v}
    if match not in tests:
        raise bad_request("match must be exact, beginning or middle")
    table = ITEM_TYPES[entity]
    label = "title" if table in ("deals", "leads") else "name"
    ranked = []
    for r in ctx.store.rows(table):
        value = r.get(field, (r.get("custom_fields") or {}).get(field))
        if isinstance(value, (str, int, float)) and tests[match](str(value)):
            ranked.append({"id": _rank_id(table, r), "rank": 0,
                           "result": {"id": r["id"], label: r[label], "type": entity}})
    return _search_page(ctx, ranked)


# -- merges (v1) -------------------------------------------------------------------------

V1_RENAMES = {"deals": {"owner_id": "user_id"}, "persons": {"emails": "email", "phones": "phone"}}


def v1_view(table: str, record: dict) -> dict:
    """v1 representation of a v2-shaped entity: custom fields at the root, v1 names."""
    out = {k: v for k, v in record.items() if k != "custom_fields"}
    out.update(record.get("custom_fields") or {})
    for old, new in V1_RENAMES.get(table, {}).items():
        out[new] = out.pop(old)
    out["visible_to"] = str(record.get("visible_to"))
    out["active_flag"] = not record.get("is_deleted")
    for key in ("add_time", "update_time"):
        out[key] = v1_time(out.get(key))
    if table == "deals":
        out["active"], out["deleted"] = out["status"] == "open", bool(record.get("is_deleted"))
    return out


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge(ctx, res: Resource, id: str):
    """``merge_with_id`` survives; ``{id}`` is absorbed and its related data moves over."""
    body = ctx.body()
    other_id = check_value("merge_with_id", body.get("merge_with_id"), "int", strict=False)
    with ctx.store.lock:
        loser = find(ctx, res, id)
        survivor = ctx.store.get(res.name, other_id)
        if survivor is None:
            raise not_found(res.title)
        if survivor is loser:
            raise bad_request("Cannot merge an entity with itself")
        changes = {k: v for k, v in loser.items() if k in res.fields and _empty(survivor.get(k))}
        custom = {**{k: v for k, v in loser.get("custom_fields", {}).items() if not _empty(v)},
                  **{k: v for k, v in survivor.get("custom_fields", {}).items() if not _empty(v)}}
        changes.update(custom_fields=custom, update_time=res.stamp())
        ctx.store.update(res.name, survivor["id"], changes)
        _relink(ctx.store, res.name, loser["id"], survivor["id"])
        ctx.store.delete(res.name, loser["id"])
        return {**v1_view(res.name, survivor), "merge_what_id": loser["id"]}


def _relink(store, table: str, old, new) -> None:
    """Point every reference to ``old`` (foreign keys, followers, participants) at ``new``."""
    keys = [k for k, t in REFS.items() if t == table]
    for name, rows in store.tables.items():
        for record in list(rows.values()):
            changes = {k: new for k in keys if record.get(k) == old}
            if name == "followers" and record["entity"] == table and record["entity_id"] == old:
                taken = any(f["user_id"] == record["user_id"] and f["entity_id"] == new
                            for f in store.rows("followers") if f["entity"] == table)
                if taken:
                    store.delete(name, record["id"])
                    continue
                changes["entity_id"] = new
            if table == "persons" and record.get("participants"):
                changes["participants"] = [{**p, "person_id": new if p["person_id"] == old else p["person_id"]}
                                           for p in record["participants"]]
            if changes:
                store.update(name, record["id"], changes)


# -- users and account ------------------------------------------------------------------------


def current_user(ctx, res: Resource):
    return ctx.store.get("users", ctx.user_id)


def find_users(ctx, res: Resource):
    term = ctx.args.get("term", "")
    if not term:
        raise bad_request("term is required")
    by_email = parse_query("search_by_email", ctx.args.get("search_by_email", "0"), "bool", False)
    key = "email" if by_email else "name"
    return [u for u in ctx.store.rows("users") if term.lower() in (u.get(key) or "").lower()]


def user_detail(kind: str):
    """Per-user settings reports, all derived from the user record."""

    def handler(ctx, res: Resource, id: str):
        user = find(ctx, res, id)
        admin = any(a.get("admin") for a in user.get("access", []))
        if kind == "permissions":
            return {"can_add_products": True, "can_delete_deals": admin, "can_see_company_wide_statistics": admin,
                    "can_use_api": True, "can_see_other_users": True, "can_merge_deals": True,
                    "can_merge_people": True, "can_merge_organizations": True}
        if kind == "roleSettings":
            return {"deal_default_visibility": 3, "org_default_visibility": 3, "person_default_visibility": 3,
                    "product_default_visibility": 3, "deal_access_level": 3, "org_access_level": 3,
                    "person_access_level": 3, "product_access_level": 3}
        page, extra = paginate(ctx, [{"id": user["id"], "user_id": user["id"], "role_id": user.get("role_id") or 1,
                                      "parent_role_id": 0, "name": "Sales", "active_flag": True, "type": "2"}])
        return page, extra

    return handler


def user_settings(ctx, res: Resource):
    return {"marketplace_team": False, "list_limit": 500, "beta_app": False,
            "prevent_salesphone_callto_override": False, "file_upload_destination": "s3",
            "callto_link_syntax": "callto:[number]", "autofill_deal_expected_close_date": False,
            "person_duplicate_condition": "name_and_email"}


def user_connections(ctx, res: Resource):
    return {"google": None}


def permission_set_assignments(ctx, res: Resource, id: str):
    permission_set = find(ctx, res, id)
    users = [u for u in ctx.store.rows("users")
             if any(a.get("permission_set_id") == permission_set["id"] for a in u.get("access", []))]
    page, extra = paginate(ctx, [{"id": u["id"], "user_id": u["id"], "permission_set_id": permission_set["id"],
                                  "name": permission_set["name"]} for u in users])
    return page, extra


def permitted_users(ctx, res: Resource, id: str):
    find(ctx, res, id)
    return [u["id"] for u in ctx.store.rows("users")]


def empty_list(ctx, res: Resource | None, id: str | None = None):
    """Mailbox and add-ons are not modelled: their lists exist but stay empty."""
    if res is not None and id is not None:
        find(ctx, res, id)
    page, extra = paginate(ctx, [])
    return page, extra


def unknown_item(ctx, res: Resource | None, id: str):
    raise not_found("Mail item")


def delete_field(ctx, res: Resource, id: str):
    """Only custom fields can be deleted; standard ones are part of the product."""
    definition = find(ctx, res, id)
    if not definition.get("is_custom_field"):
        raise bad_request(f"{definition['field_code']} is a standard field and cannot be deleted")
    ctx.store.delete(res.name, definition["id"])
    return show(ctx, res, definition)


def delete_picture(ctx, res: Resource, id: str):
    person = find(ctx, res, id)
    ctx.store.update("persons", person["id"], {"picture_id": None})
    return {"id": person["id"]}


# -- reports over deals ---------------------------------------------------------------------------


def flow(ctx, res: Resource, id: str):
    """Updates feed: notes, files and activities linked to the entity, newest first."""
    record = find(ctx, res, id)
    key = {"persons": "person_id", "organizations": "org_id"}[res.name]
    updates = [{"object": kind, "timestamp": r["update_time"], "data": r}
               for kind, table in (("note", "notes"), ("file", "files"), ("activity", "activities"))
               for r in ctx.store.rows(table) if r.get(key) == record["id"]]
    updates.sort(key=lambda u: u["timestamp"], reverse=True)
    page, extra = paginate(ctx, [{"id": i, **u} for i, u in enumerate(updates)])
    return [{k: v for k, v in u.items() if k != "id"} for u in page], extra


def product_deals(ctx, res: Resource, id: str):
    product = find(ctx, res, id)
    deal_ids = {dp["deal_id"] for dp in ctx.store.rows("dealProducts") if dp["product_id"] == product["id"]}
    status = ctx.args.get("status", "all_not_deleted")
    deals = [d for d in ctx.store.rows("deals") if d["id"] in deal_ids and status in ("all_not_deleted", d["status"])]
    page, extra = paginate(ctx, deals)
    return [{**v1_view("deals", d), "user_id": v1_user_ref(ctx.store, d["owner_id"]),
             "person_id": v1_person_ref(ctx.store, d["person_id"]), "org_id": v1_org_ref(ctx.store, d["org_id"])}
            for d in page], extra


def person_products(ctx, res: Resource, id: str):
    person = find(ctx, res, id)
    deals = {d["id"]: d for d in ctx.store.rows("deals") if d.get("person_id") == person["id"]}
    items = [{"id": dp["id"], "deal_id": dp["deal_id"], "product_id": dp["product_id"],
              "deal_title": deals[dp["deal_id"]]["title"], "product_name": dp["name"]}
             for dp in ctx.store.rows("dealProducts") if dp["deal_id"] in deals]
    page, extra = paginate(ctx, items)
    return page, extra


def _totals(deals: list[dict]) -> dict:
    totals: dict = {}
    for d in deals:
        t = totals.setdefault(d["currency"], {"value": 0, "count": 0, "value_converted": 0,
                                              "value_formatted": "", "value_converted_formatted": ""})
        t["value"] += d["value"]
        t["count"] += 1
        t["value_converted"] += d["value"]
    return totals


def deals_summary(ctx, res: Resource):
    status = ctx.args.get("status")
    deals = [d for d in ctx.store.rows("deals") if not status or d["status"] == status]
    for name in ("user_id", "stage_id", "pipeline_id"):
        if ctx.args.get(name):
            key = "owner_id" if name == "user_id" else name
            value = parse_query(name, ctx.args[name], "int", False)
            deals = [d for d in deals if d.get(key) == value]
    weighted = _totals([{**d, "value": d["value"] * (d.get("probability") or 100) / 100} for d in deals])
    return {"values_total": _totals(deals), "weighted_values_total": weighted, "total_count": len(deals),
            "total_currency_converted_value": sum(d["value"] for d in deals),
            "total_weighted_currency_converted_value": sum(t["value"] for t in weighted.values()),
            "total_currency_converted_value_formatted": "", "total_weighted_currency_converted_value_formatted": ""}


def deals_timeline(ctx, res: Resource):
    """Deals grouped into consecutive day/week/month/quarter periods by a date field."""
    for name in ("start_date", "interval", "amount", "field_key"):
        if not ctx.args.get(name):
            raise bad_request(f"{name} is required")
    start = date.fromisoformat(parse_query("start_date", ctx.args["start_date"], "date", False))
    amount = parse_query("amount", ctx.args["amount"], "int", False)
    interval = ctx.args["interval"]
    if interval not in ("day", "week", "month", "quarter"):
        raise bad_request("interval must be one of: day, week, month, quarter")
    key = ctx.args["field_key"]
    periods = []
    for _ in range(amount):
        end = _period_end(start, interval)
        deals = [v1_view("deals", d) for d in ctx.store.rows("deals")
                 if start.isoformat() <= str(d.get(key) or "")[:10] <= end.isoformat()]
        periods.append({"period_start": f"{start} 00:00:00", "period_end": f"{end} 23:59:59",
                        "deals": deals, "totals": {"count": len(deals), "values": _totals(deals)}})
        start = end + timedelta(days=1)
    return periods


def _period_end(start: date, interval: str) -> date:
    if interval == "day":
        return start
    if interval == "week":
        return start + timedelta(days=6)
    months = 1 if interval == "month" else 3
    year, month = start.year + (start.month - 1 + months) // 12, (start.month - 1 + months) % 12 + 1
    return date(year, month, min(start.day, 28)) - timedelta(days=1)  # the day before the same day next period


def pipeline_statistics(kind: str):
    def handler(ctx, res: Resource, id: str):
        pipeline = find(ctx, res, id)
        for name in ("start_date", "end_date"):
            if not ctx.args.get(name):
                raise bad_request(f"{name} is required")
        deals = [d for d in ctx.store.rows("deals") if d["pipeline_id"] == pipeline["id"]]
        statuses = Counter(d["status"] for d in deals)
        total = len(deals) or 1
        if kind == "conversion":
            stages = sorted((s for s in ctx.store.rows("stages") if s["pipeline_id"] == pipeline["id"]),
                            key=lambda s: s["order_nr"])
            return {"stage_conversions": [{"from_stage_id": a["id"], "to_stage_id": b["id"], "conversion_rate": 0}
                                          for a, b in zip(stages, stages[1:])],
                    "won_conversion": round(100 * statuses["won"] / total),
                    "lost_conversion": round(100 * statuses["lost"] / total)}
        return {"movements_between_stages": {"count": 0},
                "new_deals": {"count": len(deals), "deals_ids": [d["id"] for d in deals],
                              "values": _totals(deals)},
                "deals_left_open": {"count": statuses["open"]},
                "won_deals": {"count": statuses["won"]}, "lost_deals": {"count": statuses["lost"]},
                "average_age_in_days": {"across_all_stages": 0, "by_stages": []}}

    return handler
