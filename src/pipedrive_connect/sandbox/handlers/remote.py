"""Files kept elsewhere (v1): Google Drive files linked to records, and call recordings.

The sandbox cannot reach Google Drive: a "created" file is a record with a made-up Drive ID and address.
"""

from __future__ import annotations

import base64
import hashlib

from ..records import Resource, bad_request, check_value, find, fresh, not_found, show
from ..resources import RESOURCES

ITEM_KEYS = {
    "deal": ("deal_id", "deals"),
    "organization": ("org_id", "organizations"),
    "person": ("person_id", "persons"),
}
EDITORS = {
    "gdoc": "document",
    "gslides": "presentation",
    "gsheet": "spreadsheets",
    "gform": "forms",
    "gdraw": "drawings",
}


def _linked_file(ctx, res: Resource, remote_id: str, name: str, file_type: str | None) -> dict:
    form = ctx.body()
    item_type = check_value("item_type", form.get("item_type"), "enum:" + "|".join(ITEM_KEYS), False)
    item_id = check_value("item_id", form.get("item_id"), "int", False)
    check_value("remote_location", form.get("remote_location"), "enum:googledrive", False)
    key, table = ITEM_KEYS[item_type]
    if ctx.store.get(table, item_id) is None:
        raise not_found(RESOURCES[table].title)
    stamp = res.stamp()
    editor = EDITORS.get(file_type or "", "file")
    record = {
        **fresh(res.defaults),
        key: item_id,
        "name": name,
        "file_name": name,
        "file_type": file_type or "gdoc",
        "file_size": 0,
        "remote_location": "googledrive",
        "remote_id": remote_id,
        "url": f"https://docs.google.com/{editor}/d/{remote_id}",
        "add_time": stamp,
        "update_time": stamp,
    }
    return show(ctx, res, ctx.store.insert(res.name, record))


def add_remote_file(ctx, res: Resource):
    form = ctx.body()
    file_type = check_value("file_type", form.get("file_type"), "enum:" + "|".join(EDITORS), False)
    title = check_value("title", form.get("title"), "str", False)
    if not title:
        raise bad_request("title must not be empty")
    remote_id = hashlib.sha1(f"drive:{ctx.store.new_id('driveIds')}".encode()).hexdigest()[:28]
    return _linked_file(ctx, res, remote_id, title, file_type)


def link_remote_file(ctx, res: Resource):
    remote_id = check_value("remote_id", ctx.body().get("remote_id"), "str", False)
    if not remote_id:
        raise bad_request("remote_id must not be empty")
    return _linked_file(ctx, res, remote_id, f"Google Drive file {remote_id}", None)


def add_recording(ctx, res: Resource, id: str):
    """Multipart part ``file``: the call log now has a recording."""
    call_log = find(ctx, res, id)
    upload = ctx.request.files.get("file")
    if upload is None:
        raise bad_request("The multipart part 'file' is required")
    content = upload.read()
    with ctx.store.lock:
        ctx.store.insert("recordings", {"call_log_id": call_log["id"], "content": base64.b64encode(content).decode()})
        ctx.store.update(res.name, call_log["id"], {"has_recording": True})
    return None
