"""Comments on notes (v1), with UUID ids.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the notes resource.
"""

from __future__ import annotations

import uuid

from ..records import Resource, bad_request, find, not_found, paginate

TABLE = "noteComments"


def _view(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "id"}


def _content(ctx) -> str:
    body = ctx.body()
    unknown = set(body) - {"content"}
    if unknown:
        raise bad_request(f"Unknown field: {sorted(unknown)[0]}")
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise bad_request("content is required")
    return content


def list_comments(ctx, res: Resource, id: str):
    note = find(ctx, res, id)
    page, extra = paginate(
        ctx, [c for c in ctx.store.rows(TABLE) if c["object_id"] == str(note["id"])], sort_by="add_time"
    )
    return [_view(c) for c in page], extra


def add_comment(ctx, res: Resource, id: str):
    note = find(ctx, res, id)
    content = _content(ctx)
    stamp = res.stamp()
    with ctx.store.lock:
        comment_id = str(uuid.UUID(int=ctx.store.rng.getrandbits(128), version=4))
        row = ctx.store.insert(
            TABLE,
            {
                "id": comment_id,
                "uuid": comment_id,
                "active_flag": True,
                "add_time": stamp,
                "update_time": stamp,
                "content": content,
                "object_id": str(note["id"]),
                "object_type": "note",
                "user_id": ctx.user_id,
                "updater_id": ctx.user_id,
                "company_id": 1,
            },
        )
    return _view(row)


def _comment(ctx, res: Resource, id: str, commentId: str) -> dict:  # noqa: N803 - the spec's path name
    note = find(ctx, res, id)
    row = ctx.store.get(TABLE, commentId)
    if row is None or row["object_id"] != str(note["id"]):
        raise not_found("Comment")
    return row


def get_comment(ctx, res: Resource, id: str, commentId: str):  # noqa: N803
    return _view(_comment(ctx, res, id, commentId))


def update_comment(ctx, res: Resource, id: str, commentId: str):  # noqa: N803
    row = _comment(ctx, res, id, commentId)
    changes = {"content": _content(ctx), "update_time": res.stamp(), "updater_id": ctx.user_id}
    return _view(ctx.store.update(TABLE, row["id"], changes))


def delete_comment(ctx, res: Resource, id: str, commentId: str):  # noqa: N803
    ctx.store.delete(TABLE, _comment(ctx, res, id, commentId)["id"])
    return True
