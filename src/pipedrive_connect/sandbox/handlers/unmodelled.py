"""Mailbox and add-ons are not modelled: their lists exist but stay empty, their items are unknown.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

from ..records import Resource, find, not_found, paginate


def empty_list(ctx, res: Resource | None, id: str | None = None):
    """Mailbox and add-ons are not modelled: their lists exist but stay empty."""
    if res is not None and id is not None:
        find(ctx, res, id)
    page, extra = paginate(ctx, [])
    return page, extra


def unknown_item(ctx, res: Resource | None, id: str):
    raise not_found("Mail item")
