"""Search (v2): per-entity search, itemSearch and search by field, ranked like Pipedrive.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

from ..records import Resource, bad_request, paginate, parse_query


def _notes_of(ctx, key: str, entity_id) -> list[str]:
    def index():
        by_entity: dict = {}
        for note in ctx.store.rows("notes"):
            by_entity.setdefault(note.get(key), []).append(note["content"])
        return by_entity

    return ctx.memo(("notes", key), index).get(entity_id, [])


def _custom_values(record: dict) -> list[str]:
    return [
        str(v)
        for v in (record.get("custom_fields") or {}).values()
        if isinstance(v, (str, int, float)) and not isinstance(v, bool)
    ]


def _ref(store, table: str, key) -> dict | None:
    linked = store.get(table, key)
    return {"id": linked["id"], "name": linked.get("name") or linked.get("title")} if linked else None


SEARCH_FIELDS = {
    "deals": {
        "title": lambda c, r: [r["title"]],
        "notes": lambda c, r: _notes_of(c, "deal_id", r["id"]),
        "custom_fields": lambda c, r: _custom_values(r),
    },
    "persons": {
        "name": lambda c, r: [r["name"]],
        "email": lambda c, r: [e["value"] for e in r["emails"]],
        "phone": lambda c, r: [p["value"] for p in r["phones"]],
        "notes": lambda c, r: _notes_of(c, "person_id", r["id"]),
        "custom_fields": lambda c, r: _custom_values(r),
    },
    "organizations": {
        "name": lambda c, r: [r["name"]],
        "address": lambda c, r: [(r.get("address") or {}).get("value") or ""],
        "notes": lambda c, r: _notes_of(c, "org_id", r["id"]),
        "custom_fields": lambda c, r: _custom_values(r),
    },
    "products": {
        "name": lambda c, r: [r["name"]],
        "code": lambda c, r: [r.get("code") or ""],
        "description": lambda c, r: [r.get("description") or ""],
        "custom_fields": lambda c, r: _custom_values(r),
    },
    "leads": {
        "title": lambda c, r: [r["title"]],
        "notes": lambda c, r: _notes_of(c, "lead_id", r["id"]),
        "custom_fields": lambda c, r: [],
    },
}
SEARCH_FILTERS = {
    "person_id": ("person_id", "int"),
    "organization_id": ("org_id", "int"),
    "status": ("status", "enum:open|won|lost"),
}
ITEM_TYPES = {
    "deal": "deals",
    "person": "persons",
    "organization": "organizations",
    "product": "products",
    "lead": "leads",
}


def _search_item(store, table: str, r: dict) -> dict:
    """The compact item shape each search endpoint returns."""
    owner = {"id": r.get("owner_id")}
    if table == "deals":
        stage = store.get("stages", r.get("stage_id")) or {}
        return {
            "id": r["id"],
            "type": "deal",
            "title": r["title"],
            "value": r["value"],
            "currency": r["currency"],
            "status": r["status"],
            "visible_to": r["visible_to"],
            "owner": owner,
            "stage": {"id": stage.get("id"), "name": stage.get("name")},
            "person": _ref(store, "persons", r.get("person_id")),
            "organization": _ref(store, "organizations", r.get("org_id")),
            "custom_fields": _custom_values(r),
            "notes": [],
            "is_archived": r.get("is_archived", False),
        }
    if table == "persons":
        return {
            "id": r["id"],
            "type": "person",
            "name": r["name"],
            "phones": [p["value"] for p in r["phones"]],
            "emails": [e["value"] for e in r["emails"]],
            "visible_to": r["visible_to"],
            "owner": owner,
            "organization": _ref(store, "organizations", r.get("org_id")),
            "custom_fields": _custom_values(r),
            "notes": [],
        }
    if table == "organizations":
        return {
            "id": r["id"],
            "type": "organization",
            "name": r["name"],
            "address": (r.get("address") or {}).get("value"),
            "visible_to": r["visible_to"],
            "owner": owner,
            "custom_fields": _custom_values(r),
            "notes": [],
        }
    if table == "products":
        return {
            "id": r["id"],
            "type": "product",
            "name": r["name"],
            "code": r.get("code"),
            "visible_to": r["visible_to"],
            "owner": owner,
            "custom_fields": _custom_values(r),
        }
    value = r.get("value") or {}
    return {
        "id": r["id"],
        "type": "lead",
        "title": r["title"],
        "owner": owner,
        "person": _ref(store, "persons", r.get("person_id")),
        "organization": _ref(store, "organizations", r.get("organization_id")),
        "phones": [],
        "emails": [],
        "custom_fields": [],
        "notes": [],
        "value": value.get("amount"),
        "currency": value.get("currency"),
        "visible_to": int(r.get("visible_to") or 3),
        "is_archived": r.get("is_archived", False),
    }


def _score(term: str, values: list[str], exact: bool) -> float:
    term = term.lower()
    best = 0.0
    for value in values:
        value = value.lower()
        if value == term:
            return 1.0
        if not exact and term in value:
            best = max(best, 0.8 if value.startswith(term) else 0.5)
    return best


def _rank_id(table: str, record: dict) -> str:
    """Tie-breaker for equal scores that sorts ids numerically and is unique across types."""
    return f"{table}:{str(record['id']):>36}"


def _search_term(ctx) -> tuple[str, bool]:
    term = ctx.args.get("term", "")
    exact = parse_query("exact_match", ctx.args.get("exact_match", "false"), "bool", True)
    if len(term.strip()) < (1 if exact else 2):
        raise bad_request("term must be at least 2 characters long (1 with exact_match)")
    return term.strip(), exact


def _ranked(ctx, tables: list[str], term: str, exact: bool, fields: list[str] | None) -> list[dict]:
    ranked = []
    for table in tables:
        extractors = SEARCH_FIELDS[table]
        chosen = fields or list(extractors)
        for name in chosen:
            if name not in extractors:
                raise bad_request(f"fields: {name} is not searchable for {table}")
        for r in ctx.store.rows(table):
            if not ctx.search_index.findable(table, r["id"]):
                continue
            score = max(_score(term, extractors[f](ctx, r), exact) for f in chosen)
            if score:
                ranked.append(
                    {
                        "id": _rank_id(table, r),
                        "rank": -score,
                        "record": r,
                        "result": {"result_score": score, "item": _search_item(ctx.store, table, r)},
                    }
                )
    return ranked


def _search_page(ctx, ranked: list[dict]):
    page, extra = paginate(ctx, ranked, 100, sort_by="rank")
    return [e["result"] for e in page], extra


def search_entity(ctx, res: Resource):
    term, exact = _search_term(ctx)
    fields = ctx.args["fields"].split(",") if ctx.args.get("fields") else None
    ranked = _ranked(ctx, [res.name], term, exact, fields)
    for name, (key, kind) in SEARCH_FILTERS.items():
        if ctx.args.get(name):
            value = parse_query(name, ctx.args[name], kind, True)
            key = "organization_id" if key == "org_id" and res.name == "leads" else key
            ranked = [e for e in ranked if e["record"].get(key) == value]
    items, extra = _search_page(ctx, ranked)
    return {"items": items}, extra


def search_items(ctx, res: Resource | None):
    term, exact = _search_term(ctx)
    types = ctx.args["item_types"].split(",") if ctx.args.get("item_types") else list(ITEM_TYPES)
    unknown = [t for t in types if t not in ITEM_TYPES]
    if unknown:
        raise bad_request(f"item_types: unsupported type {unknown[0]}")
    tables = [ITEM_TYPES[t] for t in types]
    fields = ctx.args["fields"].split(",") if ctx.args.get("fields") else None
    ranked = []
    for table in tables:
        usable = [f for f in fields if f in SEARCH_FIELDS[table]] if fields else None
        if usable != []:
            ranked += _ranked(ctx, [table], term, exact, usable)
    items, extra = _search_page(ctx, ranked)
    return {"items": items, "related_items": []}, extra


def search_by_field(ctx, res: Resource | None):
    """Case-sensitive match of one field (standard name or custom key)."""
    entity = ctx.args.get("entity_type")
    if entity not in ITEM_TYPES:
        raise bad_request(f"entity_type must be one of: {', '.join(ITEM_TYPES)}")
    field, term = ctx.args.get("field"), ctx.args.get("term")
    if not field or not term:
        raise bad_request("field and term are required")
    match = ctx.args.get("match", "exact")
    tests = {"exact": lambda v: v == term, "beginning": lambda v: v.startswith(term), "middle": lambda v: term in v}
    if match not in tests:
        raise bad_request("match must be exact, beginning or middle")
    table = ITEM_TYPES[entity]
    label = "title" if table in ("deals", "leads") else "name"
    ranked = []
    for r in ctx.store.rows(table):
        if not ctx.search_index.findable(table, r["id"]):
            continue
        value = r.get(field, (r.get("custom_fields") or {}).get(field))
        if isinstance(value, (str, int, float)) and tests[match](str(value)):
            ranked.append(
                {"id": _rank_id(table, r), "rank": 0, "result": {"id": r["id"], label: r[label], "type": entity}}
            )
    return _search_page(ctx, ranked)
