"""Deal installments and additional (deal-level) discounts (v2).

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the deals resource. Installments have numeric ids, discounts UUIDs, as in Pipedrive.
"""

from __future__ import annotations

import uuid

from ..records import INT, Resource, bad_request, check_value, find, not_found, paginate
from .deal_extras import deal_ids

_INSTALLMENT = {"description": "str", "amount": "number", "billing_date": "date"}
_DISCOUNT = {"description": "str", "amount": "number", "type": "enum:percentage|amount"}


def _checked(ctx, kinds: dict, creating: bool) -> dict:
    body = ctx.body()
    for key, value in body.items():
        if key not in kinds:
            raise bad_request(f"Unknown field: {key}")
        check_value(key, value, kinds[key], strict=True)
    missing = [k for k in kinds if creating and k not in body]
    if missing:
        raise bad_request(f"Missing required field(s): {', '.join(missing)}")
    if body.get("amount", 0) < 0:
        raise bad_request("amount must not be negative")
    return body


def _installment_view(row: dict) -> dict:
    return {k: row[k] for k in ("id", "amount", "billing_date", "deal_id", "description")}


def list_installments(ctx, res: Resource):
    wanted = deal_ids(ctx)
    sort_by, direction = ctx.args.get("sort_by", "id"), ctx.args.get("sort_direction", "asc")
    if sort_by not in ("id", "billing_date", "deal_id") or direction not in ("asc", "desc"):
        raise bad_request("sort_by or sort_direction is not one of the allowed values")
    rows = [r for r in ctx.store.rows("installments") if r["deal_id"] in wanted]
    page, extra = paginate(ctx, rows, sort_by=sort_by, descending=direction == "desc")
    return [_installment_view(r) for r in page], extra


def add_installment(ctx, res: Resource, id: str):
    deal = find(ctx, res, id)
    body = _checked(ctx, _INSTALLMENT, creating=True)
    return _installment_view(ctx.store.insert("installments", {**body, "deal_id": deal["id"]}))


def _installment(ctx, res: Resource, id: str, installment_id: str) -> dict:
    deal = find(ctx, res, id)
    row = ctx.store.get("installments", int(installment_id)) if INT.match(installment_id) else None
    if row is None or row["deal_id"] != deal["id"]:
        raise not_found("Installment")
    return row


def update_installment(ctx, res: Resource, id: str, installment_id: str):
    row = _installment(ctx, res, id, installment_id)
    return _installment_view(ctx.store.update("installments", row["id"], _checked(ctx, _INSTALLMENT, creating=False)))


def delete_installment(ctx, res: Resource, id: str, installment_id: str):
    row = _installment(ctx, res, id, installment_id)
    ctx.store.delete("installments", row["id"])
    return {"id": row["id"]}


def list_discounts(ctx, res: Resource, id: str):
    deal = find(ctx, res, id)
    return [dict(r) for r in ctx.store.rows("discounts") if r["deal_id"] == deal["id"]]


def add_discount(ctx, res: Resource, id: str):
    deal = find(ctx, res, id)
    body = _checked(ctx, _DISCOUNT, creating=True)
    stamp = res.stamp()
    with ctx.store.lock:
        discount_id = str(uuid.UUID(int=ctx.store.rng.getrandbits(128), version=4))
        row = ctx.store.insert(
            "discounts",
            {
                "id": discount_id,
                **body,
                "deal_id": deal["id"],
                "created_at": stamp,
                "created_by": ctx.user_id,
                "updated_at": stamp,
                "updated_by": ctx.user_id,
            },
        )
    return ctx.respond(201, dict(row))


def _discount(ctx, res: Resource, id: str, discount_id: str) -> dict:
    deal = find(ctx, res, id)
    row = ctx.store.get("discounts", discount_id)
    if row is None or row["deal_id"] != deal["id"]:
        raise not_found("Discount")
    return row


def update_discount(ctx, res: Resource, id: str, discount_id: str):
    row = _discount(ctx, res, id, discount_id)
    changes = {**_checked(ctx, _DISCOUNT, creating=False), "updated_at": res.stamp(), "updated_by": ctx.user_id}
    return dict(ctx.store.update("discounts", row["id"], changes))


def delete_discount(ctx, res: Resource, id: str, discount_id: str):
    row = _discount(ctx, res, id, discount_id)
    ctx.store.delete("discounts", row["id"])
    return {"id": row["id"]}
