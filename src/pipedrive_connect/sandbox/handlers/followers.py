"""Followers of deals, persons, organizations, products and users (v2).

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

from ..records import Resource, bad_request, check_value, find, not_found, paginate, parse_query


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
        follower = ctx.store.insert(
            "followers", {"entity": res.name, "entity_id": record["id"], "user_id": user_id, "add_time": res.stamp()}
        )
    return ctx.respond(201, {"user_id": user_id, "add_time": follower["add_time"]})


def delete_follower(ctx, res: Resource, id: str, follower_id: str):
    record = find(ctx, res, id)
    user_id = parse_query("follower_id", follower_id, "int", strict=True)
    match = next((f for f in _followers(ctx, res.name, record["id"]) if f["user_id"] == user_id), None)
    if match is None:
        raise not_found("Follower")
    ctx.store.delete("followers", match["id"])
    return {"user_id": user_id}
