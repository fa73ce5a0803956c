"""Per-entity extras (v1): the updates feed, linked deals and products, the person picture, field deletion.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

from ..records import Resource, bad_request, find, paginate, show
from ..resources import v1_org_ref, v1_person_ref, v1_user_ref, v1_view


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


def flow(ctx, res: Resource, id: str):
    """Updates feed: notes, files and activities linked to the entity, newest first."""
    record = find(ctx, res, id)
    key = {"persons": "person_id", "organizations": "org_id"}[res.name]
    updates = [
        {"object": kind, "timestamp": r["update_time"], "data": r}
        for kind, table in (("note", "notes"), ("file", "files"), ("activity", "activities"))
        for r in ctx.store.rows(table)
        if r.get(key) == record["id"]
    ]
    updates.sort(key=lambda u: u["timestamp"], reverse=True)
    page, extra = paginate(ctx, [{"id": i, **u} for i, u in enumerate(updates)])
    return [{k: v for k, v in u.items() if k != "id"} for u in page], extra


def product_deals(ctx, res: Resource, id: str):
    product = find(ctx, res, id)
    deal_ids = {dp["deal_id"] for dp in ctx.store.rows("dealProducts") if dp["product_id"] == product["id"]}
    status = ctx.args.get("status", "all_not_deleted")
    deals = [d for d in ctx.store.rows("deals") if d["id"] in deal_ids and status in ("all_not_deleted", d["status"])]
    page, extra = paginate(ctx, deals)
    return [
        {
            **v1_view("deals", d),
            "user_id": v1_user_ref(ctx.store, d["owner_id"]),
            "person_id": v1_person_ref(ctx.store, d["person_id"]),
            "org_id": v1_org_ref(ctx.store, d["org_id"]),
        }
        for d in page
    ], extra


def person_products(ctx, res: Resource, id: str):
    person = find(ctx, res, id)
    deals = {d["id"]: d for d in ctx.store.rows("deals") if d.get("person_id") == person["id"]}
    items = [
        {
            "id": dp["id"],
            "deal_id": dp["deal_id"],
            "product_id": dp["product_id"],
            "deal_title": deals[dp["deal_id"]]["title"],
            "product_name": dp["name"],
        }
        for dp in ctx.store.rows("dealProducts")
        if dp["deal_id"] in deals
    ]
    page, extra = paginate(ctx, items)
    return page, extra
