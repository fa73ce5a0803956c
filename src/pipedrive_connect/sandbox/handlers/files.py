"""Files (v1): multipart upload, download, and the files linked to an entity.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

import base64
import io

from werkzeug.utils import send_file

from ..records import Resource, bad_request, check_value, find, not_found, paginate, show
from ..resources import RESOURCES

FILE_LINKS = {
    "deal_id": "deals",
    "person_id": "persons",
    "org_id": "organizations",
    "product_id": "products",
    "activity_id": "activities",
    "lead_id": "leads",
}
ENTITY_KEYS = {"deals": "deal_id", "persons": "person_id", "organizations": "org_id", "products": "product_id"}


def upload_file(ctx, res: Resource):
    """Multipart upload: part ``file`` plus exactly one link field."""
    upload = ctx.request.files.get("file")
    if upload is None:
        raise bad_request("The multipart part 'file' is required")
    links = {k: v for k, v in ctx.request.form.items() if k in FILE_LINKS and v != ""}
    if len(links) != 1:
        raise bad_request(f"Give exactly one of: {', '.join(FILE_LINKS)}")
    ((link, raw),) = links.items()
    value = raw if link == "lead_id" else check_value(link, raw, "int", strict=False)
    if ctx.store.get(FILE_LINKS[link], value) is None:
        raise not_found(RESOURCES[FILE_LINKS[link]].title)
    content = upload.read()
    name = upload.filename or "file"
    stamp = res.stamp()
    record = {
        **res.defaults,
        **{k: None for k in FILE_LINKS},
        link: value,
        "file_name": name,
        "name": name,
        "file_type": name.rsplit(".", 1)[-1].lower() if "." in name else "",
        "file_size": len(content),
        "add_time": stamp,
        "update_time": stamp,
    }
    with ctx.store.lock:
        ctx.store.insert("files", record)
        record["url"] = f"{ctx.request.host_url}v1/files/{record['id']}/download"
        ctx.store.insert("fileBlobs", {"id": record["id"], "content": base64.b64encode(content).decode()})
    return show(ctx, res, record)


def download_file(ctx, res: Resource, id: str):
    record = find(ctx, res, id)
    blob = ctx.store.get("fileBlobs", record["id"])
    content = base64.b64decode(blob["content"]) if blob else b""
    # send_file writes both filename= (ASCII fallback) and RFC 5987 filename*=.
    return send_file(
        io.BytesIO(content),
        ctx.request.environ,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=record["name"],
        conditional=False,
    )


def entity_files(ctx, res: Resource, id: str):
    record = find(ctx, res, id)
    key = ENTITY_KEYS[res.name]
    items = [f for f in ctx.store.rows("files") if f.get(key) == record["id"]]
    page, extra = paginate(ctx, items, 100, reject_over=True)
    return [show(ctx, RESOURCES["files"], f) for f in page], extra
