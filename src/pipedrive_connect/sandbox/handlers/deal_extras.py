"""Histories and bulk operations: changelogs, the deal updates feed, archived deals, duplicates,
products across deals and in bulk.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table. Field changes are logged by
:func:`..records.update_record` into the ``changelog`` table.
"""

from __future__ import annotations

from types import SimpleNamespace

from ..records import (
    INT,
    Resource,
    bad_request,
    find,
    fresh,
    list_records,
    paginate,
    parse_query,
    show,
    validate_body,
)
from ..resources import RESOURCES, v1_view


def cursor_page(ctx, items: list, **kw):
    """Cursor paging for the v1 operations that take a cursor (changelogs)."""
    return paginate(SimpleNamespace(args=ctx.args, strict=True), items, **kw)


def changelog(ctx, res: Resource, id: str):
    record = find(ctx, res, id)
    entries = [c for c in ctx.store.rows("changelog") if c["entity"] == res.name and c["entity_id"] == record["id"]]
    page, extra = cursor_page(ctx, entries, descending=True)
    return [{k: v for k, v in c.items() if k not in ("id", "entity", "entity_id")} for c in page], extra


def followers_changelog(ctx, res: Resource, id: str):
    """Who started following (the sandbox keeps current followers only, so every entry is an addition)."""
    record = find(ctx, res, id)
    rows = [f for f in ctx.store.rows("followers") if f["entity"] == res.name and f["entity_id"] == record["id"]]
    page, extra = paginate(ctx, rows)
    return [
        {"action": "added", "actor_user_id": ctx.user_id, "follower_user_id": f["user_id"], "time": f["add_time"]}
        for f in page
    ], extra


def participants_changelog(ctx, res: Resource, id: str):
    deal = find(ctx, res, id)
    rows = [p for p in ctx.store.rows("dealParticipants") if p["deal_id"] == deal["id"]]
    page, extra = cursor_page(ctx, rows)
    return [
        {
            "actor_user_id": p.get("added_by_user_id") or ctx.user_id,
            "person_id": p["person_id"],
            "action": "added",
            "time": p["add_time"],
        }
        for p in page
    ], extra


def deal_flow(ctx, res: Resource, id: str):
    """The deal's updates feed: notes, files, activities and field changes, newest first."""
    deal = find(ctx, res, id)
    updates = [
        {"object": kind, "timestamp": r["update_time"], "data": r}
        for kind, table in (("note", "notes"), ("file", "files"), ("activity", "activities"))
        for r in ctx.store.rows(table)
        if r.get("deal_id") == deal["id"]
    ]
    updates += [  # kept by the store on every change of a deal (resources.record_deal_changes)
        {"object": "dealChange", "timestamp": c["log_time"], "data": {**c, "user_id": 1}}
        for c in ctx.store.rows("dealChanges")
        if c["item_id"] == deal["id"]
    ]
    kinds = [k for k in (ctx.args.get("items") or "").split(",") if k]
    if kinds:
        updates = [u for u in updates if u["object"] in kinds]
    updates.sort(key=lambda u: str(u["timestamp"]), reverse=True)
    page, extra = paginate(ctx, [{"id": i, **u} for i, u in enumerate(updates)])
    return [{k: v for k, v in u.items() if k != "id"} for u in page], extra


def archived(ctx, res: Resource):
    """Archived deals (v2) or leads (v1), with the list's usual filters and paging."""
    return list_records(ctx, res, items=[r for r in ctx.store.rows(res.name) if r.get("is_archived")])


def duplicate_deal(ctx, res: Resource, id: str):
    """A copy of the deal (v1 answer) with copies of its product lines."""
    deal = find(ctx, res, id)
    with ctx.store.lock:
        stamp = res.stamp()
        copy = {k: v for k, v in deal.items() if k != "id"}
        copy.update(title=f"{deal['title']} (copy)", add_time=stamp, update_time=stamp)
        copy = ctx.store.insert(res.name, copy)
        for line in [p for p in ctx.store.rows("dealProducts") if p["deal_id"] == deal["id"]]:
            ctx.store.insert("dealProducts", {**{k: v for k, v in line.items() if k != "id"}, "deal_id": copy["id"]})
    return v1_view("deals", copy)


def deal_ids(ctx) -> set[int]:
    """deal_ids, repeated (deal_ids=1&deal_ids=2) or comma-separated; 1 to 100 of them."""
    raw = [part.strip() for value in ctx.args.getlist("deal_ids") for part in value.split(",") if part.strip()]
    if not raw:
        raise bad_request("deal_ids is required")
    if len(raw) > 100 or not all(INT.match(v) for v in raw):
        raise bad_request("deal_ids must be 1 to 100 integers")
    return {int(v) for v in raw}


def products_of_deals(ctx, res: Resource):
    wanted = deal_ids(ctx)
    items = [p for p in ctx.store.rows(res.name) if p["deal_id"] in wanted]
    sort_by, direction = ctx.args.get("sort_by", "id"), ctx.args.get("sort_direction", "asc")
    if sort_by not in ("id", "deal_id", "add_time", "update_time", "order_nr") or direction not in ("asc", "desc"):
        raise bad_request("sort_by or sort_direction is not one of the allowed values")
    page, extra = paginate(ctx, items, sort_by=sort_by, descending=direction == "desc")
    return [show(ctx, res, p) for p in page], extra


def add_many_products(ctx, res: Resource, id: str):
    deal = find(ctx, RESOURCES["deals"], id)
    body = ctx.body()
    lines = body.get("data")
    if set(body) != {"data"} or not isinstance(lines, list) or not 1 <= len(lines) <= 100:
        raise bad_request('The body must be {"data": [...]} with 1 to 100 product lines')
    clean = []
    for i, line in enumerate(lines):
        if not isinstance(line, dict):
            raise bad_request(f"data[{i}] must be an object")
        clean.append(validate_body(ctx.store, res, line, creating=True))
    created = []
    with ctx.store.lock:
        for values in clean:
            stamp = res.stamp()
            record = {**fresh(res.defaults), **values, "deal_id": deal["id"], "add_time": stamp, "update_time": stamp}
            created.append(ctx.store.insert(res.name, res.prepare(ctx.store, record, None) if res.prepare else record))
    return ctx.respond(201, [show(ctx, res, r) for r in created])


def delete_many_products(ctx, res: Resource, id: str):
    deal = find(ctx, RESOURCES["deals"], id)
    lines = sorted((p for p in ctx.store.rows(res.name) if p["deal_id"] == deal["id"]), key=lambda p: p["id"])
    if ctx.args.get("ids"):
        wanted = parse_query("ids", ctx.args["ids"], "ints", strict=True)
        if len(wanted) > 100:
            raise bad_request("ids must not list more than 100 ids")
        lines = [p for p in lines if p["id"] in set(wanted)]
    chosen, more = lines[:100], len(lines) > 100
    for line in chosen:
        ctx.store.delete(res.name, line["id"])
    return ctx.respond(200, {"ids": [p["id"] for p in chosen]}, {"more_items_in_collection": more})
