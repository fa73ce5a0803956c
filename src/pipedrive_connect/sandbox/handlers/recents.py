"""Recent changes (v1): records of several tables changed since a moment, oldest change first.

Each item carries a small v1 view of the record (its id, name, times), which every kind's schema accepts.
"""

from __future__ import annotations

from ..records import Resource, bad_request, paginate, parse_time, record_time
from ..store import v1_time

ITEMS = {
    "activity": ("activities", "subject"),
    "activityType": ("activityTypes", "name"),
    "deal": ("deals", "title"),
    "file": ("files", "name"),
    "filter": ("filters", "name"),
    "note": ("notes", "content"),
    "person": ("persons", "name"),
    "organization": ("organizations", "name"),
    "pipeline": ("pipelines", "name"),
    "product": ("products", "name"),
    "stage": ("stages", "name"),
    "user": ("users", "name"),
}


def recents(ctx, res: Resource | None):
    raw = ctx.args.get("since_timestamp")
    if not raw:
        raise bad_request("since_timestamp is required (YYYY-MM-DD HH:MM:SS)")
    since = parse_time("since_timestamp", raw)
    kinds = ctx.args["items"].split(",") if ctx.args.get("items") else list(ITEMS)
    unknown = [k for k in kinds if k not in ITEMS]
    if unknown:
        raise bad_request(f"items: unknown kind {unknown[0]}")
    changes = []
    for kind in kinds:
        table, label = ITEMS[kind]
        for record in ctx.store.rows(table):
            stamp = record.get("update_time") or record.get("add_time")
            if not stamp or record_time(stamp) < since:
                continue
            times = (record.get("add_time"), stamp)
            if kind != "activityType":  # activity types keep RFC 3339 times in v1 too
                times = tuple(v1_time(t) for t in times)
            data = {"id": record["id"], label: record.get(label), "add_time": times[0], "update_time": times[1]}
            changes.append({"item": kind, "id": record["id"], "data": data, "_at": record_time(stamp).isoformat()})
    page, extra = paginate(ctx, changes, sort_by="_at")
    return [{k: v for k, v in c.items() if k != "_at"} for c in page], extra
