"""What a replication reads besides the lists: a deal's updates feed and the products of many deals."""

from __future__ import annotations

from ..records import Resource, bad_request, find, paginate, parse_query, show
from ..resources import RESOURCES


def deal_flow(ctx, res: Resource, id: str):
    """A deal's updates feed (v1, newest first): its field changes, then notes, files and activities."""
    deal = find(ctx, res, id)
    updates = [
        {"object": "dealChange", "timestamp": c["log_time"], "data": {**c, "user_id": 1}}
        for c in ctx.store.rows("dealChanges")
        if c["item_id"] == deal["id"]
    ]
    updates += [
        {"object": kind, "timestamp": r["update_time"], "data": r}
        for kind, table in (("note", "notes"), ("file", "files"), ("activity", "activities"))
        for r in ctx.store.rows(table)
        if r.get("deal_id") == deal["id"]
    ]
    updates.sort(key=lambda u: (u["timestamp"], u["object"], u["data"]["id"]), reverse=True)
    page, extra = paginate(ctx, [{"id": i, **u} for i, u in enumerate(updates)])
    return [{k: v for k, v in u.items() if k != "id"} for u in page], extra


def deals_products(ctx, res: Resource):
    """The products attached to up to 100 deals at once (v2 GET /deals/products?deal_ids=...)."""
    raw = ctx.args.get("deal_ids")
    if not raw:
        raise bad_request("deal_ids is required")
    wanted = set(parse_query("deal_ids", raw, "ints", ctx.strict))
    if len(wanted) > 100:
        raise bad_request("deal_ids takes at most 100 ids")
    items = [p for p in ctx.store.rows("dealProducts") if p["deal_id"] in wanted]
    sort_by = ctx.args.get("sort_by", "id")
    if sort_by not in ("id", "deal_id", "add_time", "update_time", "order_nr"):
        raise bad_request("sort_by must be one of: id, deal_id, add_time, update_time, order_nr")
    page, extra = paginate(ctx, items, sort_by=sort_by, descending=ctx.args.get("sort_direction") == "desc")
    return [show(ctx, RESOURCES["dealProducts"], p) for p in page], extra
