"""The records of declared resources: validation, pagination and generic CRUD.

A resource is data (:class:`Resource`); the handlers here work for every
resource, so adding one to the sandbox means declaring it, not coding it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .store import Store, now_v2, v1_time

HEX40 = re.compile(r"^[0-9a-f]{40}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
INT = re.compile(r"^-?\d+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Body fields that point at another table; checked on write, rewritten on merge.
REFS = {
    "owner_id": "users",
    "user_id": "users",
    "creator_user_id": "users",
    "person_id": "persons",
    "org_id": "organizations",
    "organization_id": "organizations",
    "deal_id": "deals",
    "pipeline_id": "pipelines",
    "stage_id": "stages",
    "product_id": "products",
    "activity_id": "activities",
    "lead_id": "leads",
}


class ApiError(Exception):
    """An error answered with Pipedrive's error envelope."""

    def __init__(self, status: int, error: str, error_info: str = "", **extra):
        super().__init__(error)
        self.status, self.error, self.error_info, self.extra = status, error, error_info, extra


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "Please check developers.pipedrive.com for the expected input.")


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found", "The requested object was not found.")


@dataclass(frozen=True)
class Resource:
    """Declaration of one collection.

    ``fields`` maps each writable body field to a type (see :func:`check_value`);
    ``filters`` maps list query parameters to types, matched against the
    record field of the same name unless a hook in ``filter_hooks`` says
    otherwise.  ``prepare`` fills derived values on create/update/seed.
    """

    name: str
    version: str
    fields: dict
    required: tuple = ()
    filters: dict = field(default_factory=dict)
    filter_hooks: dict = field(default_factory=dict)
    sort_by: tuple = ("id", "update_time", "add_time")
    defaults: dict = field(default_factory=dict)
    prepare: Callable | None = None
    present: Callable | None = None
    lookup: str = "id"
    id_type: str = "int"
    parent: tuple | None = None  # (parent table, foreign key field)
    create_status: int = 200
    max_limit: int = 500
    reject_over_limit: bool = False
    paginated: bool = True
    custom_fields: str | None = None  # fields table holding this entity's custom fields
    gone_after_delete: bool = False
    delete_returns_true: bool = False  # v1 notes answer a delete with data: true
    iso_time: bool = False  # v1 resources that still use RFC 3339 timestamps
    label: str = ""
    archivable: bool = False  # plain lists leave archived records out (they have their own list)

    @property
    def strict(self) -> bool:
        return self.version == "v2"

    @property
    def title(self) -> str:
        return self.label or self.name.rstrip("s").capitalize()

    def stamp(self) -> str:
        """Timestamp in the resource's API style."""
        return now_v2() if self.version == "v2" or self.iso_time else v1_time(now_v2())


def fresh(defaults: dict) -> dict:
    """A copy of a resource's defaults whose lists and dicts are not shared."""
    return {k: (v.copy() if isinstance(v, (list, dict)) else v) for k, v in defaults.items()}


# -- validation -----------------------------------------------------------------


def check_value(name: str, value, kind: str, strict: bool):
    """Validate (and for v1, coerce) one value; raise 400 on mismatch.

    Kinds: int, number, str, bool, date, datetime, uuid, list, dict, ints, enum:a|b.
    A trailing ``?`` allows null.  v2 is strict (no strings for numbers, only
    real booleans), v1 accepts the loose forms older clients send.
    """
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    if value is None:
        raise bad_request(f"{name} must not be null")
    if kind.startswith("enum:"):
        allowed = kind[5:].split("|")
        if value not in allowed:
            raise bad_request(f"{name} must be one of: {', '.join(allowed)}")
        return value
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if not strict and isinstance(value, str) and INT.match(value):
            return int(value)
        raise bad_request(f"{name} must be an integer")
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if not strict and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise bad_request(f"{name} must be a number")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if not strict and value in (0, 1, "0", "1", "true", "false"):
            return value in (1, "1", "true")
        raise bad_request(f"{name} must be a boolean (true or false)")
    if kind in ("str", "date", "datetime", "uuid"):
        if not isinstance(value, str):
            raise bad_request(f"{name} must be a string")
        if kind == "datetime":
            parse_time(name, value)
        if kind == "date" and not DATE.match(value):
            raise bad_request(f"{name} must be a date (YYYY-MM-DD)")
        if kind == "uuid" and not UUID.match(value):
            raise bad_request(f"{name} must be a UUID")
        return value
    if kind == "list":
        if not isinstance(value, list):
            raise bad_request(f"{name} must be an array")
        return value
    if kind == "ints":
        if not isinstance(value, list):
            raise bad_request(f"{name} must be an array of integers")
        return [check_value(name, v, "int", strict) for v in value]
    if kind == "dict":
        if not isinstance(value, dict):
            raise bad_request(f"{name} must be an object")
        return value
    raise AssertionError(f"unknown kind {kind}")


def parse_query(name: str, raw: str, kind: str, strict: bool):
    """Turn a query-string value into the declared type (400 when it is not)."""
    kind = kind.rstrip("?")
    if kind == "int":
        if not INT.match(raw):
            raise bad_request(f"{name} must be an integer")
        return int(raw)
    if kind == "bool":
        allowed = ("true", "false") if strict else ("true", "false", "0", "1")
        if raw not in allowed:
            raise bad_request(f"{name} must be true or false")
        return raw in ("true", "1")
    if kind == "ints":
        parts = raw.split(",")
        if not all(INT.match(p.strip()) for p in parts):
            raise bad_request(f"{name} must be a comma-separated list of integers")
        return [int(p) for p in parts]
    if kind == "datetime":
        return parse_time(name, raw)
    return check_value(name, raw, kind, strict)


def parse_time(name: str, raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"{name} must be an RFC 3339 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def record_time(value: str) -> datetime:
    """Parse a stored timestamp (either API style)."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_id(res: Resource, raw: str):
    """Path ids are declared as strings by the router so a bad one gives 400, not 404."""
    if res.lookup != "id" or res.id_type == "str":
        return raw
    if res.id_type == "uuid":
        if not UUID.match(raw):
            raise bad_request("id must be a UUID")
        return raw
    if not INT.match(raw):
        raise bad_request("id must be an integer")
    return int(raw)


def check_custom_fields(store: Store, res: Resource, values: dict) -> dict:
    """Validate a v2 ``custom_fields`` object against the entity's field definitions."""
    if res.custom_fields is None:  # callers check first: only entities with custom fields get here
        raise TypeError(f"{res.name} has no custom fields")
    defs = {f["field_code"]: f for f in store.rows(res.custom_fields) if f.get("is_custom_field")}
    for key, value in values.items():
        definition = defs.get(key)
        if definition is None:
            raise bad_request(f"custom field {key} does not exist")
        if value is not None:
            kind = CUSTOM_FIELD_KINDS.get(definition["field_type"])
            if kind:
                check_value(f"custom_fields.{key}", value, kind, strict=True)
            if definition["field_type"] == "set" and not value:
                raise bad_request(f"custom_fields.{key}: send null, not an empty array, to clear a set field")
            if definition["field_type"] in ("enum", "set"):
                option_ids = {o["id"] for o in definition.get("options") or []}
                chosen = value if isinstance(value, list) else [value]
                if not set(chosen) <= option_ids:
                    raise bad_request(f"custom_fields.{key}: unknown option id")
            if definition["field_type"] == "monetary":
                check_value(f"custom_fields.{key}.value", value.get("value"), "number", True)
    return values


CUSTOM_FIELD_KINDS = {
    "varchar": "str",
    "varchar_auto": "str",
    "text": "str",
    "phone": "str",
    "date": "date",
    "double": "number",
    "int": "int",
    "enum": "int",
    "set": "ints",
    "monetary": "dict",
    "daterange": "dict",
    "timerange": "dict",
    "time": "dict",
    "address": "dict",
    "user": "int",
    "org": "int",
    "people": "int",
    "boolean": "bool",
}


def validate_body(store: Store, res: Resource, body: dict, creating: bool) -> dict:
    """Check a create/update body; unknown fields are an error in v2, ignored in v1."""
    clean = {}
    for key, value in body.items():
        kind = res.fields.get(key)
        if kind is None:
            if res.strict:
                raise bad_request(f"Unknown field: {key}")
            if HEX40.match(key):
                clean[key] = value  # v1 custom field at the root
            continue
        clean[key] = check_value(key, value, kind, res.strict)
    if creating:
        missing = [f for f in res.required if clean.get(f) in (None, "")]
        if missing:
            raise bad_request(f"Missing required field(s): {', '.join(missing)}")
    for key, value in clean.items():
        table = REFS.get(key)
        if table and value is not None and store.get(table, value) is None:
            raise bad_request(f"{key} {value} does not exist")
    if clean.get("custom_fields") and res.custom_fields:
        check_custom_fields(store, res, clean["custom_fields"])
    return clean


# -- pagination -------------------------------------------------------------------


def page_limit(ctx, res_max: int, reject: bool) -> int:
    raw = ctx.args.get("limit")
    if raw is None:
        return min(100, res_max)
    limit = parse_query("limit", raw, "int", ctx.strict)
    if limit < 1:
        raise bad_request("limit must be at least 1")
    if limit > res_max:
        if reject or ctx.strict:
            raise bad_request(f"limit must not exceed {res_max}")
        return res_max
    return limit


def encode_cursor(key: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple:
    try:
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_request("Invalid cursor") from None
    if not isinstance(key, list) or len(key) != 3:
        raise bad_request("Invalid cursor")
    return tuple(key)


def paginate(
    ctx, items: list, max_limit: int = 500, reject_over: bool = False, sort_by: str = "id", descending: bool = False
):
    """Slice ``items`` into one page; returns (page, additional_data).

    v1 uses offsets (``start``); v2 uses a keyset cursor holding the sort
    value and id of the last item returned, so pages stay stable while
    records are added or removed between calls.
    """
    limit = page_limit(ctx, max_limit, reject_over)

    def key(r):
        value = r.get(sort_by)
        return (value is not None, value, r.get("id"))

    items = sorted(items, key=key, reverse=descending)
    if not ctx.strict:
        start = parse_query("start", ctx.args.get("start", "0"), "int", False)
        if start < 0:
            raise bad_request("start must not be negative")
        page = items[start : start + limit]
        more = start + limit < len(items)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return page, {"pagination": pagination}
    start = 0
    if ctx.args.get("cursor"):
        after = decode_cursor(ctx.args["cursor"])
        try:
            start = next(
                (i for i, r in enumerate(items) if (key(r) < after if descending else key(r) > after)), len(items)
            )
        except TypeError:
            raise bad_request("Invalid cursor") from None
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, {"next_cursor": encode_cursor(key(page[-1])) if more else None}


# -- generic handlers ---------------------------------------------------------------


def find(ctx, res: Resource, raw_id: str) -> dict:
    """Fetch one record by path id (404 unknown, 410 for resources that say so)."""
    key = parse_id(res, raw_id)
    if res.lookup == "id":
        record = ctx.store.get(res.name, key)
    else:
        record = next((r for r in ctx.store.rows(res.name) if r.get(res.lookup) == key), None)
    if record is None:
        if res.gone_after_delete and ctx.store.was_deleted(res.name, key):
            raise ApiError(
                410, f"The {res.title} you are trying to access is no longer available", "The object was deleted."
            )
        raise not_found(res.title)
    return record


def parent_record(ctx, res: Resource, parent_id: str | None) -> dict:
    """The record a nested resource hangs off (e.g. the deal of a deal product)."""
    from .resources import RESOURCES  # resources imports this module, so look it up late

    if res.parent is None:  # callers check first: only nested resources have a parent
        raise TypeError(f"{res.name} is not a nested resource")
    return find(ctx, RESOURCES[res.parent[0]], path_id(parent_id))


def path_id(raw: str | None) -> str:
    """A path id the route always carries: nested resources' routes have both <id> and <item_id>."""
    if raw is None:
        raise TypeError("a nested resource's route without its path id")
    return raw


def show(ctx, res: Resource, record: dict) -> dict:
    """Copy a record for output; v2 entities list every custom field, unset ones as null."""
    out = {"id": record.get("id"), **record}
    if res.custom_fields:
        out["custom_fields"] = {
            **dict.fromkeys(ctx.custom_keys(res.custom_fields)),
            **(record.get("custom_fields") or {}),
        }
    return res.present(ctx.store, out) if res.present else out


def list_records(ctx, res: Resource, id: str | None = None, items: list | None = None):
    """List a table (or `items`, a subset a handler chose), filtered, sorted and paged as the query says."""
    if items is None:
        items = [r for r in ctx.store.rows(res.name) if not (res.archivable and r.get("is_archived"))]
    if res.parent:
        parent = parent_record(ctx, res, id)
        items = [r for r in items if r.get(res.parent[1]) == parent["id"]]
    for name, kind in res.filters.items():
        raw = ctx.args.get(name)
        if raw is None or raw == "":
            continue
        value = parse_query(name, raw, kind, ctx.strict)
        hook = res.filter_hooks.get(name) or COMMON_FILTERS.get(name)
        if hook:
            items = hook(ctx.store, items, value)
        else:
            items = [r for r in items if r.get(name) == value]
    if not res.paginated:
        return [show(ctx, res, r) for r in items], {}
    if ctx.strict:
        sort_by, direction = ctx.args.get("sort_by", "id"), ctx.args.get("sort_direction", "asc")
    else:  # v1: sort="field ASC" (only the first clause is honoured)
        clause = (ctx.args.get("sort") or "id ASC").split(",")[0].split()
        sort_by, direction = clause[0], (clause[1] if len(clause) > 1 else "asc").lower()
    if sort_by not in res.sort_by:
        raise bad_request(f"sort_by must be one of: {', '.join(res.sort_by)}")
    if direction not in ("asc", "desc"):
        raise bad_request("sort_direction must be asc or desc")
    page, extra = paginate(ctx, items, res.max_limit, res.reject_over_limit, sort_by, direction == "desc")
    return [show(ctx, res, r) for r in page], extra


def get_record(ctx, res: Resource, id: str, item_id: str | None = None):
    if res.parent:
        parent = parent_record(ctx, res, id)
        record = find(ctx, res, path_id(item_id))
        if record.get(res.parent[1]) != parent["id"]:
            raise not_found(res.title)
    else:
        record = find(ctx, res, id)
    return show(ctx, res, record)


def create_record(ctx, res: Resource, id: str | None = None):
    body = validate_body(ctx.store, res, ctx.body(), creating=True)
    with ctx.store.lock:
        record = {**fresh(res.defaults), **body}
        if res.parent:
            record[res.parent[1]] = parent_record(ctx, res, id)["id"]
        stamp = res.stamp()
        record.setdefault("add_time", stamp)
        record["update_time"] = stamp
        if res.prepare:
            record = res.prepare(ctx.store, record, None)
        ctx.store.insert(res.name, record)
        return ctx.respond(res.create_status, show(ctx, res, record))


def update_record(ctx, res: Resource, id: str, item_id: str | None = None):
    current = find(ctx, res, path_id(item_id) if res.parent else id)
    if res.parent:
        parent = parent_record(ctx, res, id)
        if current.get(res.parent[1]) != parent["id"]:
            raise not_found(res.title)
    body = validate_body(ctx.store, res, ctx.body(), creating=False)
    with ctx.store.lock:
        if "custom_fields" in body and isinstance(current.get("custom_fields"), dict):
            body["custom_fields"] = {**current["custom_fields"], **body["custom_fields"]}
        body["update_time"] = res.stamp()
        if res.prepare:
            body = res.prepare(ctx.store, {**current, **body}, current)
        log_changes(ctx, res, current, body)
        record = ctx.store.update(res.name, current["id"], body)
        return show(ctx, res, record)


_UNLOGGED = {"update_time", "add_time", "stage_change_time"}


def log_changes(ctx, res: Resource, current: dict, changes: dict) -> None:
    """One `changelog` row per changed field (custom fields by key), for the changelog operations."""
    before = {**current, **(current.get("custom_fields") or {})}
    after = {**changes, **(changes.get("custom_fields") or {})}
    for key, value in after.items():
        if key in _UNLOGGED or key == "custom_fields" or before.get(key) == value:
            continue
        ctx.store.insert(
            "changelog",
            {
                "entity": res.name,
                "entity_id": current["id"],
                "field_key": key,
                "old_value": None if before.get(key) is None else str(before.get(key)),
                "new_value": None if value is None else str(value),
                "actor_user_id": ctx.user_id,
                "time": v1_time(changes.get("update_time") or now_v2()),
                "change_source": "api",
                "change_source_user_agent": None,
                "is_bulk_update_flag": False,
            },
        )


def delete_record(ctx, res: Resource, id: str, item_id: str | None = None):
    current = find(ctx, res, path_id(item_id) if res.parent else id)
    if res.parent:
        parent = parent_record(ctx, res, id)
        if current.get(res.parent[1]) != parent["id"]:
            raise not_found(res.title)
    ctx.store.delete(res.name, current["id"])
    return True if res.delete_returns_true else {"id": current["id"]}


def _ids_filter(store, items, ids):
    wanted = set(ids)
    return [r for r in items if r["id"] in wanted]


def _updated_since(store, items, since):
    return [r for r in items if r.get("update_time") and record_time(r["update_time"]) >= since]


def _updated_until(store, items, until):
    return [r for r in items if r.get("update_time") and record_time(r["update_time"]) < until]


def _start_date(store, items, day):
    return [r for r in items if str(r.get("add_time") or "")[:10] >= str(day)]


def _end_date(store, items, day):
    return [r for r in items if str(r.get("add_time") or "")[:10] <= str(day)]


def _term(store, items, term):
    needle = str(term).lower()
    return [r for r in items if needle in str(r.get("name", "")).lower() or needle in str(r.get("code", "")).lower()]


COMMON_FILTERS = {
    "ids": _ids_filter,
    "updated_since": _updated_since,
    "updated_until": _updated_until,
    "start_date": _start_date,
    "end_date": _end_date,
    "term": _term,
}
