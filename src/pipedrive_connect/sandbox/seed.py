"""Initial data: the minimum every sandbox has, seed files, and bulk generation.

Seed files are JSON objects mapping a table name (``users``, ``pipelines``,
``stages``, ``organizations``, ``persons``, ``products``, ``deals``,
``dealFields``, ``notes``, ...) to a list of records in API shape; missing
values take the resource's defaults.  See docs/sandbox.md.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .handlers.part_a import base_data as part_a_base_data
from .records import fresh
from .resources import RESOURCES, prepare_field
from .store import Store, v1_time

# Tables load in this order so references resolve; unknown tables load last.
LOAD_ORDER = (
    "users",
    "currencies",
    "activityTypes",
    "permissionSets",
    "pipelines",
    "stages",
    "dealFields",
    "personFields",
    "organizationFields",
    "productFields",
    "activityFields",
    "noteFields",
    "organizations",
    "persons",
    "products",
    "deals",
    "leadLabels",
    "leadSources",
    "leads",
    "activities",
    "notes",
    "dealProducts",
    "dealParticipants",
    "followers",
    "filters",
    "callLogs",
)

COMPANY = {
    "company_id": 1,
    "company_name": "Sandbox Company",
    "company_domain": "sandbox",
    "company_country": "DE",
    "company_industry": "Software",
}


def _user(user_id: int, name: str, email: str, admin: bool) -> dict:
    return {
        "id": user_id,
        "name": name,
        "email": email,
        "default_currency": "EUR",
        "locale": "en_US",
        "lang": 1,
        "phone": None,
        "activated": True,
        "last_login": "2026-01-01 09:00:00",
        "created": "2025-01-01 09:00:00",
        "modified": None,
        "has_created_company": admin,
        "active_flag": True,
        "timezone_name": "Europe/Berlin",
        "timezone_offset": "+01:00",
        "role_id": 1,
        "icon_url": None,
        "is_you": user_id == 1,
        "is_deleted": False,
        "language": {"language_code": "en", "country_code": "US"},
        "access": [
            {
                "app": "sales",
                "admin": admin,
                "permission_set_id": "00000000-0000-4000-8000-00000000000" + ("1" if admin else "2"),
            }
        ],
        **COMPANY,
    }


def _field(code: str, name: str, field_type: str, options=None) -> dict:
    return {
        "field_code": code,
        "field_name": name,
        "field_type": field_type,
        "is_custom_field": False,
        "options": [{"id": o, "label": o.capitalize()} for o in options] if options else None,
    }


# Standard (non-custom) fields per entity: (code, name, type[, option ids]).
STANDARD_FIELDS: dict[str, list[tuple[Any, ...]]] = {
    "dealFields": [
        ("title", "Title", "varchar"),
        ("value", "Value", "monetary"),
        ("owner_id", "Owner", "user"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("stage_id", "Stage", "stage"),
        ("status", "Status", "status", ["open", "won", "lost", "deleted"]),
        ("expected_close_date", "Expected close date", "date"),
        ("probability", "Probability", "double"),
        ("lost_reason", "Lost reason", "varchar"),
        ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Deal created", "date"),
        ("update_time", "Update time", "date"),
    ],
    "personFields": [
        ("name", "Name", "varchar"),
        ("first_name", "First name", "varchar"),
        ("last_name", "Last name", "varchar"),
        ("emails", "Email", "varchar"),
        ("phones", "Phone", "phone"),
        ("owner_id", "Owner", "user"),
        ("org_id", "Organization", "org"),
        ("job_title", "Job title", "varchar"),
        ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Person created", "date"),
    ],
    "organizationFields": [
        ("name", "Name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("address", "Address", "address"),
        ("website", "Website", "varchar"),
        ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Organization created", "date"),
    ],
    "productFields": [
        ("name", "Name", "varchar"),
        ("code", "Product code", "varchar"),
        ("description", "Description", "text"),
        ("unit", "Unit", "varchar"),
        ("tax", "Tax", "double"),
        ("prices", "Unit prices", "price_list"),
        ("owner_id", "Owner", "user"),
        ("visible_to", "Visible to", "visible_to"),
    ],
    "activityFields": [
        ("subject", "Subject", "varchar"),
        ("type", "Type", "varchar"),
        ("due_date", "Due date", "date"),
        ("due_time", "Due time", "time"),
        ("owner_id", "Assigned to user", "user"),
        ("deal_id", "Deal", "deal"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("done", "Done", "boolean"),
        ("note", "Note", "text"),
    ],
}


def base_data() -> dict:
    """What every sandbox starts with, whatever the seed file says."""
    data = {
        "users": [
            _user(1, "Sandbox Admin", "admin@sandbox.example", True),
            _user(2, "Sandbox Seller", "seller@sandbox.example", False),
        ],
        "currencies": [
            {
                "id": 1,
                "code": "EUR",
                "name": "Euro",
                "decimal_points": 2,
                "symbol": "€",
                "active_flag": True,
                "is_custom_flag": False,
            },
            {
                "id": 2,
                "code": "USD",
                "name": "US Dollar",
                "decimal_points": 2,
                "symbol": "$",
                "active_flag": True,
                "is_custom_flag": False,
            },
        ],
        "activityTypes": [
            {
                "id": i,
                "name": name.capitalize(),
                "key_string": name,
                "icon_key": name,
                "color": None,
                "order_nr": i,
                "active_flag": True,
                "is_custom_flag": False,
            }
            for i, name in enumerate(("call", "meeting", "task"), start=1)
        ],
        "permissionSets": [
            {
                "id": "00000000-0000-4000-8000-000000000001",
                "name": "Global admin",
                "description": "Full access",
                "app": "global",
                "type": "admin",
                "assignment_count": 1,
            },
            {
                "id": "00000000-0000-4000-8000-000000000002",
                "name": "Regular user",
                "description": "Default sales access",
                "app": "sales",
                "type": "regular",
                "assignment_count": 1,
            },
        ],
        "pipelines": [{"id": 1, "name": "Sales pipeline"}],
        "stages": [
            {"id": i, "name": name, "pipeline_id": 1, "order_nr": i}
            for i, name in enumerate(("Qualified", "Proposal made", "Negotiation"), start=1)
        ],
        "leadSources": [{"id": 1, "name": "API"}, {"id": 2, "name": "Manually created"}],
        "filters": [
            {
                "id": 1,
                "name": "All open deals",
                "type": "deals",
                "filter_code": None,
                "is_editable": True,
                "active_flag": True,
                "temporary_flag": None,
                "user_id": 1,
                "visible_to": "7",
                "conditions": {"glue": "and", "conditions": []},
            }
        ],
        "noteFields": [
            {
                "id": i,
                "key": key,
                "name": name,
                "field_type": kind,
                "active_flag": True,
                "edit_flag": False,
                "bulk_edit_allowed": False,
                "mandatory_flag": key == "content",
            }
            for i, (key, name, kind) in enumerate(
                (
                    ("content", "Content", "text"),
                    ("deal_id", "Deal", "double"),
                    ("person_id", "Person", "people"),
                    ("org_id", "Organization", "org"),
                    ("user_id", "User", "user"),
                ),
                start=1,
            )
        ],
    }
    for table, rows in STANDARD_FIELDS.items():
        data[table] = [_field(*row) for row in rows]
    data.update(part_a_base_data())  # issue 16, part A: boards, phases, templates, roles...
    return data


def load(store: Store, data: dict) -> None:
    """Insert seed records, filling defaults and derived values like an API create would."""
    order = [t for t in LOAD_ORDER if t in data] + [t for t in data if t not in LOAD_ORDER]
    for table in order:
        res = RESOURCES.get(table)
        for raw in data[table]:
            # A record with a known id refines the existing one (e.g. renaming user 1).
            record = {**(store.get(table, raw.get("id")) or {}), **raw}
            if res is not None:
                stamp = res.stamp()
                record = {**fresh(res.defaults), "add_time": stamp, "update_time": stamp, **record}
                if res.prepare:
                    record = res.prepare(store, record, None)
            store.insert(table, record)


def load_file(store: Store, path: str | Path) -> None:
    """Load a seed file; one that cannot be used is a ValueError saying what to fix."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not (
        isinstance(data, dict)
        and all(isinstance(rows, list) and all(isinstance(r, dict) for r in rows) for rows in data.values())
    ):
        raise ValueError(f"{path} must hold a JSON object mapping table names to lists of records")
    load(store, data)


# -- bulk generation ---------------------------------------------------------------------------

_WORDS = (
    "Alpha",
    "Beacon",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Summit",
    "Tundra",
    "Vertex",
)
_FIRST = ("Ada", "Ben", "Chloe", "Dario", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kaia", "Luca")
_LAST = ("Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Sato", "Tanaka", "Ueda", "Vargas", "Weber")
GENERATE_ORDER = ("organizations", "persons", "products", "deals", "activities", "notes", "leads")


# customFields=N adds N custom fields of these types to each entity with custom fields, filled at random
CUSTOM_FIELD_OWNERS = {"deals": "dealFields", "persons": "personFields", "organizations": "organizationFields"}
CUSTOM_FIELD_OWNERS |= {"products": "productFields"}
CUSTOM_FIELD_TYPES = ("varchar", "enum", "double", "set", "date", "text")


def generate(store: Store, counts: dict[str, int], seed=None) -> None:
    """Bulk-create synthetic records fast (20,000 deals well under a second), deterministic per seed."""
    unknown = set(counts) - set(GENERATE_ORDER) - {"customFields"}
    if unknown:
        raise ValueError(f"cannot generate {sorted(unknown)}; choose from {GENERATE_ORDER + ('customFields',)}")
    rng = random.Random(seed)
    base = datetime(2025, 1, 1)  # naive UTC: isoformat() + "Z" is much faster than strftime
    stages = store.rows("stages")
    with store.lock:
        custom = {
            table: [_custom_field(store, fields, i) for i in range(counts.get("customFields", 0))]
            for table, fields in CUSTOM_FIELD_OWNERS.items()
        }
        for table in GENERATE_ORDER:
            defaults = RESOURCES[table].defaults
            for i in range(counts.get(table, 0)):
                stamp = (base + timedelta(minutes=i)).isoformat() + "Z"
                if RESOURCES[table].version == "v1" and not RESOURCES[table].iso_time:
                    stamp = v1_time(stamp)
                record = {
                    **fresh(defaults),
                    "add_time": stamp,
                    "update_time": stamp,
                    **_fake(table, rng, store, stages, stamp),
                }
                if custom.get(table):
                    record["custom_fields"] = {f["field_code"]: _custom_value(rng, f) for f in custom[table]}
                store.insert(table, record)


def _custom_field(store: Store, table: str, i: int) -> dict:
    kind = CUSTOM_FIELD_TYPES[i % len(CUSTOM_FIELD_TYPES)]
    options = [{"label": w} for w in _WORDS[:4]] if kind in ("enum", "set") else None
    definition = {"field_name": f"{kind.capitalize()} field {i + 1}", "field_type": kind, "options": options}
    definition = prepare_field(store, {**fresh(RESOURCES[table].defaults), **definition}, None)
    return store.insert(table, definition)


def _custom_value(rng: random.Random, field: dict):
    """A random value of a generated custom field, or null now and then (a field left empty)."""
    kind, options = field["field_type"], [o["id"] for o in field.get("options") or []]
    if rng.random() < 0.2:
        return None
    if kind == "enum":
        return rng.choice(options)
    if kind == "set":
        return sorted(rng.sample(options, rng.randint(1, len(options))))
    if kind == "double":
        return round(rng.uniform(0, 1000), 2)
    if kind == "date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f"{rng.choice(_WORDS)} {rng.randint(1, 999)}"


def _pick(rng: random.Random, store: Store, table: str):
    """A random existing id of a table (or None when it is empty)."""
    size = store.next_ids.get(table, 1) - 1
    for _ in range(3):
        key = rng.randint(1, size) if size else None
        if key is not None and key in store.tables.get(table, {}):
            return key
    return None


def _fake(table: str, rng: random.Random, store: Store, stages: list, stamp: str) -> dict:
    word = rng.choice(_WORDS)
    if table == "organizations":
        return {"name": f"{word} {rng.choice(('GmbH', 'Ltd', 'Inc', 'Labs'))} {rng.randint(1, 9999)}"}
    if table == "persons":
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        n = rng.randint(1, 99999)
        return {
            "name": f"{first} {last}",
            "first_name": first,
            "last_name": last,
            "org_id": _pick(rng, store, "organizations"),
            "emails": [{"value": f"{first}.{last}{n}@example.com".lower(), "primary": True, "label": "work"}],
            "phones": [{"value": f"+49 30 {n:05d}", "primary": True, "label": "work"}],
        }
    if table == "products":
        product_id = store.new_id("products")
        return {
            "id": product_id,
            "name": f"{word} plan {rng.randint(1, 999)}",
            "code": f"P-{product_id}",
            "prices": [
                {
                    "product_id": product_id,
                    "price": rng.randint(10, 500),
                    "currency": "EUR",
                    "cost": 0,
                    "direct_cost": None,
                    "notes": "",
                }
            ],
        }
    if table == "deals":
        stage = rng.choice(stages)
        status = rng.choices(("open", "won", "lost"), (6, 3, 1))[0]
        return {
            "title": f"{word} deal {rng.randint(1, 99999)}",
            "value": rng.randint(100, 50000),
            "person_id": _pick(rng, store, "persons"),
            "org_id": _pick(rng, store, "organizations"),
            "pipeline_id": stage["pipeline_id"],
            "stage_id": stage["id"],
            "status": status,
            "stage_change_time": stamp,
            "close_time": None if status == "open" else stamp,
            "won_time": stamp if status == "won" else None,
            "lost_time": stamp if status == "lost" else None,
        }
    if table == "activities":
        person = _pick(rng, store, "persons")
        kind = rng.choice(("call", "meeting", "task"))
        return {
            "subject": f"{kind.capitalize()} about {word}",
            "type": kind,
            "deal_id": _pick(rng, store, "deals"),
            "participants": [{"person_id": person, "primary": True}] if person else [],
            "person_id": person,
            "due_date": stamp[:10],
            "done": rng.random() < 0.5,
        }
    if table == "notes":
        return {"content": f"Note about {word}", "deal_id": _pick(rng, store, "deals")}
    return {
        "title": f"{word} lead {rng.randint(1, 9999)}",
        "person_id": _pick(rng, store, "persons"),
        "organization_id": _pick(rng, store, "organizations"),
    }
