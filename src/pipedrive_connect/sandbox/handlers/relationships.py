"""Organization relationships (v1): one organization the parent of another, or two simply related.

Answers take one organization's point of view (``org_id``): from the parent's side the other one is its
daughter, from the daughter's side the other one is its parent. Organizations are embedded as v1 references.
"""

from __future__ import annotations

from ..records import Resource, bad_request, check_value, find, parse_query

RELATIONSHIPS = Resource(
    "organizationRelationships", "v1", label="Organization relationship", fields={}, paginated=False
)
RESOURCES = [RELATIONSHIPS]


def _org_ref(ctx, org_id: int) -> dict:
    org = ctx.store.get("organizations", org_id) or {}
    address = org.get("address")
    return {
        "name": org.get("name"),
        "people_count": sum(1 for p in ctx.store.rows("persons") if p.get("org_id") == org_id),
        "owner_id": org.get("owner_id"),
        "address": address.get("value") if isinstance(address, dict) else address,
        "cc_email": None,
        "value": org_id,
    }


def _view(ctx, rel: dict, org_id: int | None) -> dict:
    owner, linked = rel["rel_owner_org_id"], rel["rel_linked_org_id"]
    viewpoint = org_id if org_id in (owner, linked) else owner
    other = linked if viewpoint == owner else owner
    if rel["type"] == "related":
        calculated = "related"
    else:
        calculated = "daughter" if viewpoint == owner else "parent"
    return {
        "id": rel["id"],
        "type": rel["type"],
        "rel_owner_org_id": _org_ref(ctx, owner),
        "rel_linked_org_id": _org_ref(ctx, linked),
        "add_time": rel["add_time"],
        "update_time": rel["update_time"],
        "active_flag": "true",
        "calculated_type": calculated,
        "calculated_related_org_id": other,
        "related_organization_name": (ctx.store.get("organizations", other) or {}).get("name"),
    }


def _viewpoint(ctx) -> int | None:
    raw = ctx.args.get("org_id")
    return parse_query("org_id", raw, "int", False) if raw else None


def _checked(ctx, rel: dict) -> dict:
    rel["type"] = check_value("type", rel.get("type"), "enum:parent|related", False)
    for key in ("rel_owner_org_id", "rel_linked_org_id"):
        rel[key] = check_value(key, rel.get(key), "int", False)
        if ctx.store.get("organizations", rel[key]) is None:
            raise bad_request(f"{key} {rel[key]} does not exist")
    if rel["rel_owner_org_id"] == rel["rel_linked_org_id"]:
        raise bad_request("An organization cannot be related to itself")
    pair = {rel["rel_owner_org_id"], rel["rel_linked_org_id"]}
    for other in ctx.store.rows(RELATIONSHIPS.name):
        if other["id"] != rel.get("id") and {other["rel_owner_org_id"], other["rel_linked_org_id"]} == pair:
            raise bad_request("These organizations are related already")
    return rel


def list_relationships(ctx, res: Resource):
    org_id = _viewpoint(ctx)
    if org_id is None:
        raise bad_request("org_id is required")
    rels = [r for r in ctx.store.rows(res.name) if org_id in (r["rel_owner_org_id"], r["rel_linked_org_id"])]
    return [_view(ctx, r, org_id) for r in rels]


def get_relationship(ctx, res: Resource, id: str):
    return _view(ctx, find(ctx, res, id), _viewpoint(ctx))


def add_relationship(ctx, res: Resource):
    body = ctx.body()
    with ctx.store.lock:
        rel = _checked(ctx, {k: body.get(k) for k in ("type", "rel_owner_org_id", "rel_linked_org_id")})
        stamp = res.stamp()
        rel = ctx.store.insert(res.name, {**rel, "add_time": stamp, "update_time": stamp})
    org_id = check_value("org_id", body.get("org_id"), "int?", False)
    return _view(ctx, rel, org_id)


def update_relationship(ctx, res: Resource, id: str):
    current = find(ctx, res, id)
    body = ctx.body()
    with ctx.store.lock:
        changes = {k: body[k] for k in ("type", "rel_owner_org_id", "rel_linked_org_id") if body.get(k) is not None}
        rel = _checked(ctx, {**current, **changes})
        rel = ctx.store.update(res.name, current["id"], {**rel, "update_time": res.stamp()})
    return _view(ctx, rel, check_value("org_id", body.get("org_id"), "int?", False))


def delete_relationship(ctx, res: Resource, id: str):
    rel = find(ctx, res, id)
    ctx.store.delete(res.name, rel["id"])
    return {"id": rel["id"]}
