"""Merges of deals, persons and organizations (v1): the survivor absorbs the other record.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

from ..records import REFS, Resource, bad_request, check_value, find, not_found
from ..resources import v1_view


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
        custom = {
            **{k: v for k, v in loser.get("custom_fields", {}).items() if not _empty(v)},
            **{k: v for k, v in survivor.get("custom_fields", {}).items() if not _empty(v)},
        }
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
                taken = any(
                    f["user_id"] == record["user_id"] and f["entity_id"] == new
                    for f in store.rows("followers")
                    if f["entity"] == table
                )
                if taken:
                    store.delete(name, record["id"])
                    continue
                changes["entity_id"] = new
            if table == "persons" and record.get("participants"):
                changes["participants"] = [
                    {**p, "person_id": new if p["person_id"] == old else p["person_id"]} for p in record["participants"]
                ]
            if changes:
                store.update(name, record["id"], changes)
