"""Custom-field administration (v2): change a field, add, rename and remove its options; v1 lead fields.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the field table named in the route table.
"""

from __future__ import annotations

import json

from ..records import Resource, bad_request, check_value, find, paginate, show

_CHANGEABLE = {
    "field_name": "str",
    "description": "str?",
    "ui_visibility": "dict",
    "important_fields": "dict",
    "required_fields": "dict",
}
_CHOICE_TYPES = ("enum", "set")


def _custom(ctx, res: Resource, id: str) -> dict:
    definition = find(ctx, res, id)
    if not definition.get("is_custom_field"):
        raise bad_request(f"{definition['field_code']} is a standard field and cannot be changed")
    return definition


def update_field(ctx, res: Resource, id: str):
    """PATCH a custom field: its name, help text, visibility and important/required rules; never its type."""
    definition = _custom(ctx, res, id)
    body = ctx.body()
    for key, value in body.items():
        if key not in _CHANGEABLE:
            raise bad_request(f"Unknown field: {key}")
        check_value(key, value, _CHANGEABLE[key], strict=True)
    if "field_name" in body and not body["field_name"].strip():
        raise bad_request("field_name must not be empty")
    record = ctx.store.update(res.name, definition["id"], dict(body))
    return show(ctx, res, record)


def _option_list(ctx, needs: tuple[str, ...]) -> list[dict]:
    """The body: a non-empty JSON array of option objects with exactly the keys `needs`."""
    raw = ctx.request.get_data(cache=True)
    try:
        items = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(items, list) or not items:
        raise bad_request("The body must be a non-empty array of options")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != set(needs):
            raise bad_request(f"options[{i}] must hold exactly: {', '.join(needs)}")
        if "id" in item:
            check_value(f"options[{i}].id", item["id"], "int", strict=True)
        if "label" in item and (not isinstance(item["label"], str) or not item["label"].strip()):
            raise bad_request(f"options[{i}].label must be a non-empty string")
    return items


def _choice_field(ctx, res: Resource, id: str) -> dict:
    definition = _custom(ctx, res, id)
    if definition.get("field_type") not in _CHOICE_TYPES:
        raise bad_request(f"{definition['field_code']} is not a single or multiple option field")
    return definition


def _options(definition: dict) -> list[dict]:
    return [dict(o) for o in definition.get("options") or []]


def add_options(ctx, res: Resource, id: str):
    with ctx.store.lock:
        definition = _choice_field(ctx, res, id)
        items = _option_list(ctx, ("label",))
        options = _options(definition)
        next_id = max((o["id"] for o in options), default=0) + 1
        added = [{"id": next_id + i, "label": item["label"]} for i, item in enumerate(items)]
        ctx.store.update(res.name, definition["id"], {"options": options + added})
    return added


def update_options(ctx, res: Resource, id: str):
    with ctx.store.lock:
        definition = _choice_field(ctx, res, id)
        items = _option_list(ctx, ("id", "label"))
        options = {o["id"]: o for o in _options(definition)}
        unknown = [item["id"] for item in items if item["id"] not in options]
        if unknown:
            raise bad_request(f"Unknown option id(s): {unknown}")
        for item in items:
            options[item["id"]]["label"] = item["label"]
        ctx.store.update(res.name, definition["id"], {"options": list(options.values())})
    return [options[item["id"]] for item in items]


def delete_options(ctx, res: Resource, id: str):
    with ctx.store.lock:
        definition = _choice_field(ctx, res, id)
        items = _option_list(ctx, ("id",))
        options = {o["id"]: o for o in _options(definition)}
        unknown = [item["id"] for item in items if item["id"] not in options]
        if unknown:
            raise bad_request(f"Unknown option id(s): {unknown}")
        removed = [options.pop(item["id"]) for item in items]
        ctx.store.update(res.name, definition["id"], {"options": list(options.values()) or None})
    return removed


# v1 lead fields: the standard ones (the sandbox models no custom lead fields)
_LEAD_FIELDS = [
    ("title", "Title", "varchar"),
    ("owner_id", "Owner", "user"),
    ("person_id", "Person", "people"),
    ("organization_id", "Organization", "org"),
    ("value", "Value", "monetary"),
    ("expected_close_date", "Expected close date", "date"),
    ("label_ids", "Labels", "set"),
    ("source_name", "Source", "varchar"),
]


def lead_fields(ctx, res: Resource | None):
    fields: list[dict] = [
        {
            "id": i,
            "key": key,
            "name": name,
            "order_nr": i,
            "field_type": kind,
            "add_time": "2026-01-01T00:00:00Z",
            "update_time": None,
            "active_flag": True,
            "edit_flag": False,
            "mandatory_flag": key == "title",
            "options": [],
        }
        for i, (key, name, kind) in enumerate(_LEAD_FIELDS, start=1)
    ]
    return paginate(ctx, fields)
