"""Lead <-> deal conversions (v2), finished in the background as Pipedrive does.

Starting a conversion only records it. The sandbox converts on the second status read: the first
read answers ``running``, the next one does the work (the new record is created, the old one
deleted, notes and activities moved) and answers ``completed``. Counting reads instead of seconds
keeps tests deterministic while clients still have to poll.
"""

from __future__ import annotations

import uuid

from ..records import Resource, bad_request, check_value, find, fresh, not_found
from ..resources import RESOURCES

TABLE = "conversions"
_LINKED = ("notes", "activities")  # records that follow the converted deal or lead


def _start(ctx, res: Resource, record: dict, options: dict) -> dict:
    with ctx.store.lock:
        conversion_id = str(uuid.UUID(int=ctx.store.rng.getrandbits(128), version=4))
        ctx.store.insert(
            TABLE,
            {"id": conversion_id, "source": res.name, "source_id": record["id"], "reads": 0, "options": options},
        )
    return {"conversion_id": conversion_id}


def convert_lead(ctx, res: Resource, id: str):
    lead = find(ctx, res, id)
    body = ctx.body()
    unknown = set(body) - {"stage_id", "pipeline_id"}
    if unknown:
        raise bad_request(f"Unknown field: {sorted(unknown)[0]}")
    for key, table in (("stage_id", "stages"), ("pipeline_id", "pipelines")):
        if key in body:
            check_value(key, body[key], "int", strict=True)
            if ctx.store.get(table, body[key]) is None:
                raise bad_request(f"{key} {body[key]} does not exist")
    return _start(ctx, res, lead, body)


def convert_deal(ctx, res: Resource, id: str):
    deal = find(ctx, res, id)
    if ctx.body():
        raise bad_request("This operation takes no body")
    if not deal.get("person_id") and not deal.get("org_id"):
        raise bad_request("A deal without a person or an organization cannot become a lead")
    return _start(ctx, res, deal, {})


def status(ctx, res: Resource, id: str, conversion_id: str):
    """Read a conversion; the second read performs it (the source record is gone afterwards)."""
    conversion = ctx.store.get(TABLE, conversion_id)
    if conversion is None or conversion["source"] != res.name or str(conversion["source_id"]) != id:
        raise not_found("Conversion")
    with ctx.store.lock:
        changes: dict = {"reads": conversion["reads"] + 1}
        if changes["reads"] >= 2 and "target_id" not in conversion:
            changes["target_id"] = (_to_deal if res.name == "leads" else _to_lead)(ctx, conversion)
        conversion = ctx.store.update(TABLE, conversion_id, changes)
    source_key, target_key = ("lead_id", "deal_id") if res.name == "leads" else ("deal_id", "lead_id")
    out = {"conversion_id": conversion_id, "status": "completed" if "target_id" in conversion else "running"}
    out[source_key] = conversion["source_id"]
    if "target_id" in conversion:
        out[target_key] = conversion["target_id"]
    return out


def _insert(ctx, table: str, values: dict) -> dict:
    res = RESOURCES[table]
    record = {**fresh(res.defaults), **values}
    stamp = res.stamp()
    record.update(add_time=stamp, update_time=stamp)
    if res.prepare:
        record = res.prepare(ctx.store, record, None)
    return ctx.store.insert(table, record)


def _move_links(ctx, old_key: str, old_id, new_key: str, new_id) -> None:
    for table in _LINKED:
        for row in ctx.store.rows(table):
            if row.get(old_key) == old_id:
                ctx.store.update(table, row["id"], {old_key: None, new_key: new_id})


def _to_deal(ctx, conversion: dict) -> int:
    lead = ctx.store.get("leads", conversion["source_id"])
    value = lead.get("value") or {}
    options = conversion["options"]
    deal = _insert(
        ctx,
        "deals",
        {
            "title": lead["title"],
            "owner_id": lead["owner_id"],
            "person_id": lead.get("person_id"),
            "org_id": lead.get("organization_id"),
            "value": value.get("amount", 0),
            "currency": value.get("currency", "EUR"),
            "expected_close_date": lead.get("expected_close_date"),
            "source_lead_id": lead["id"],
            **({"stage_id": options["stage_id"]} if "stage_id" in options else {}),
            **({"pipeline_id": options["pipeline_id"]} if "pipeline_id" in options else {}),
        },
    )
    _move_links(ctx, "lead_id", lead["id"], "deal_id", deal["id"])
    ctx.store.delete("leads", lead["id"])
    return deal["id"]


def _to_lead(ctx, conversion: dict) -> str:
    deal = ctx.store.get("deals", conversion["source_id"])
    lead = _insert(
        ctx,
        "leads",
        {
            "title": deal["title"],
            "owner_id": deal["owner_id"],
            "person_id": deal.get("person_id"),
            "organization_id": deal.get("org_id"),
            "value": {"amount": deal.get("value") or 0, "currency": deal.get("currency") or "EUR"},
            "expected_close_date": deal.get("expected_close_date"),
            "source_deal_id": deal["id"],
        },
    )
    _move_links(ctx, "deal_id", deal["id"], "lead_id", lead["id"])
    ctx.store.delete("deals", deal["id"])
    return lead["id"]
