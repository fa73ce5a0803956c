"""Product duplicates and product variations (v2).

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the products resource.
"""

from __future__ import annotations

from ..records import INT, Resource, bad_request, check_value, find, not_found, paginate, show


def duplicate_product(ctx, res: Resource, id: str):
    product = find(ctx, res, id)
    with ctx.store.lock:
        stamp = res.stamp()
        copy = {k: v for k, v in product.items() if k != "id"}
        copy.update(name=f"{product['name']} (copy)", add_time=stamp, update_time=stamp)
        copy["id"] = ctx.store.new_id(res.name)
        copy["prices"] = [{**p, "product_id": copy["id"]} for p in product.get("prices") or []]
        ctx.store.insert(res.name, copy)
    return ctx.respond(201, show(ctx, res, copy))


def _prices(value, product: dict) -> list:
    check_value("prices", value, "list", strict=True)
    out = []
    for i, price in enumerate(value):
        check_value(f"prices[{i}]", price, "dict", True)
        check_value(f"prices[{i}].price", price.get("price"), "number", True)
        check_value(f"prices[{i}].currency", price.get("currency"), "str", True)
        out.append({"cost": 0, "direct_cost": 0, "notes": "", **price})
    return out


def _body(ctx, product: dict, creating: bool) -> dict:
    body = ctx.body()
    unknown = set(body) - {"name", "prices"}
    if unknown:
        raise bad_request(f"Unknown field: {sorted(unknown)[0]}")
    if creating and not body.get("name"):
        raise bad_request("Missing required field(s): name")
    out = {}
    if "name" in body:
        out["name"] = check_value("name", body["name"], "str", True)
        if not out["name"].strip() or len(out["name"]) > 255:
            raise bad_request("name must be 1 to 255 characters")
    if "prices" in body:
        out["prices"] = _prices(body["prices"], product)
    elif creating:
        out["prices"] = [{"price": 0, "currency": "EUR", "cost": 0, "direct_cost": 0, "notes": ""}]
    return out


def list_variations(ctx, res: Resource, id: str):
    product = find(ctx, res, id)
    page, extra = paginate(ctx, [v for v in ctx.store.rows("productVariations") if v["product_id"] == product["id"]])
    return [dict(v) for v in page], extra


def add_variation(ctx, res: Resource, id: str):
    product = find(ctx, res, id)
    variation = ctx.store.insert("productVariations", {**_body(ctx, product, True), "product_id": product["id"]})
    return ctx.respond(201, dict(variation))


def _variation(ctx, res: Resource, id: str, product_variation_id: str) -> tuple[dict, dict]:
    product = find(ctx, res, id)
    row = ctx.store.get("productVariations", int(product_variation_id)) if INT.match(product_variation_id) else None
    if row is None or row["product_id"] != product["id"]:
        raise not_found("Product variation")
    return product, row


def update_variation(ctx, res: Resource, id: str, product_variation_id: str):
    product, row = _variation(ctx, res, id, product_variation_id)
    return dict(ctx.store.update("productVariations", row["id"], _body(ctx, product, False)))


def delete_variation(ctx, res: Resource, id: str, product_variation_id: str):
    _, row = _variation(ctx, res, id, product_variation_id)
    ctx.store.delete("productVariations", row["id"])
    return {"id": row["id"]}
