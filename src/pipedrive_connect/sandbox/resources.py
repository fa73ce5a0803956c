"""Declarations of the sandbox's collections (what each resource accepts and returns).

Shapes follow Pipedrive's v2 response schemas for v2 resources and the v1
schemas for resources that only exist in v1.  The ``prepare`` hooks hold the
few domain rules the real API applies on write (a deal lands in the first
stage of its pipeline, a person's name comes from first/last name, ...).
"""

from __future__ import annotations

import hashlib

from .records import Resource, bad_request, check_value
from .store import Store, v1_time

# -- hooks ---------------------------------------------------------------------


def _first_stage(store: Store, pipeline_id: int):
    stages = [s for s in store.rows("stages") if s["pipeline_id"] == pipeline_id]
    return min(stages, key=lambda s: s["order_nr"])["id"] if stages else None


def prepare_deal(store: Store, deal: dict, previous: dict | None) -> dict:
    """Keep pipeline and stage consistent and stamp status changes."""
    stage_changed = previous is None or deal.get("stage_id") != previous.get("stage_id")
    pipeline_changed = previous is not None and deal.get("pipeline_id") != previous.get("pipeline_id")
    if deal.get("stage_id") and stage_changed:
        deal["pipeline_id"] = store.get("stages", deal["stage_id"])["pipeline_id"]
    elif pipeline_changed or not deal.get("pipeline_id"):
        deal["pipeline_id"] = deal.get("pipeline_id") or min(store.table("pipelines"), default=None)
        deal["stage_id"] = _first_stage(store, deal["pipeline_id"])
    if stage_changed or pipeline_changed:
        deal["stage_change_time"] = deal["update_time"]
    if previous is not None:
        record_deal_changes(store, deal, previous)
    if previous is None or deal.get("status") != previous.get("status"):
        closed = deal.get("status") in ("won", "lost")
        deal["close_time"] = deal["update_time"] if closed else None
        deal["won_time"] = deal["update_time"] if deal.get("status") == "won" else None
        deal["lost_time"] = deal["update_time"] if deal.get("status") == "lost" else None
    return deal


def deal_status(store: Store, items: list, status: str) -> list:
    """status=deleted lists the deals deleted in the last 30 days, stamped with their deletion time."""
    if status != "deleted":
        return [d for d in items if d.get("status") == status]
    return [
        {**{k: v for k, v in d.items() if k != "delete_time"}, "status": "deleted", "is_deleted": True}
        | {"update_time": d["delete_time"]}
        for d in store.deleted_rows("deals")
    ]


def record_deal_changes(store: Store, deal: dict, previous: dict) -> None:
    """Keep a deal's field changes for its updates feed (GET /deals/{id}/flow)."""
    for key in sorted(set(deal) | set(previous)):
        if key not in ("update_time", "custom_fields") and deal.get(key) != previous.get(key):
            change = {"item_id": deal["id"], "field_key": key, "old_value": previous.get(key)}
            store.insert("dealChanges", {**change, "new_value": deal.get(key), "log_time": deal["update_time"]})


def _contacts(name: str, items: list) -> list:
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"value": item}
        check_value(f"{name}[{i}]", item, "dict", True)
        check_value(f"{name}[{i}].value", item.get("value"), "str", True)
        out.append(
            {"value": item["value"], "primary": bool(item.get("primary", i == 0)), "label": item.get("label", "work")}
        )
    return out


def prepare_person(store: Store, person: dict, previous: dict | None) -> dict:
    if not person.get("name"):
        person["name"] = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p)
    if not person.get("name"):
        raise bad_request("Missing required field(s): name")
    first, _, last = person["name"].partition(" ")
    person.setdefault("first_name", first)
    person.setdefault("last_name", last)
    for name in ("emails", "phones", "im"):
        person[name] = _contacts(name, person.get(name) or [])
    return person


def prepare_product(store: Store, product: dict, previous: dict | None) -> dict:
    if product.get("id") is None:
        product["id"] = store.new_id("products")
    prices = []
    for i, price in enumerate(product.get("prices") or []):
        check_value(f"prices[{i}]", price, "dict", True)
        check_value(f"prices[{i}].price", price.get("price"), "number", True)
        check_value(f"prices[{i}].currency", price.get("currency"), "str", True)
        prices.append(
            {
                "product_id": product["id"],
                "price": price["price"],
                "currency": price["currency"],
                "cost": price.get("cost", 0),
                "direct_cost": price.get("direct_cost"),
                "notes": price.get("notes", ""),
            }
        )
    product["prices"] = prices
    return product


def _next_order(store: Store, table: str, **scope) -> int:
    rows = [r for r in store.rows(table) if all(r.get(k) == v for k, v in scope.items())]
    return max((r.get("order_nr") or 0 for r in rows), default=0) + 1


def prepare_pipeline(store: Store, pipeline: dict, previous: dict | None) -> dict:
    if previous is None and pipeline.get("order_nr") is None:
        pipeline["order_nr"] = _next_order(store, "pipelines")
    return pipeline


def prepare_stage(store: Store, stage: dict, previous: dict | None) -> dict:
    if previous is None and stage.get("order_nr") is None:
        stage["order_nr"] = _next_order(store, "stages", pipeline_id=stage["pipeline_id"])
    return stage


def prepare_activity(store: Store, activity: dict, previous: dict | None) -> dict:
    """The person of an activity is its primary participant (read-only in v2)."""
    types = {t["key_string"] for t in store.rows("activityTypes")}
    if activity.get("type") not in types:
        raise bad_request(f"type must be one of: {', '.join(sorted(types))}")
    participants = []
    for i, p in enumerate(activity.get("participants") or []):
        check_value(f"participants[{i}]", p, "dict", True)
        person_id = check_value(f"participants[{i}].person_id", p.get("person_id"), "int", True)
        if store.get("persons", person_id) is None:
            raise bad_request(f"participants[{i}].person_id {person_id} does not exist")
        participants.append({"person_id": person_id, "primary": bool(p.get("primary", i == 0))})
    activity["participants"] = participants
    activity["person_id"] = next((p["person_id"] for p in participants if p["primary"]), None)
    if not activity.get("subject"):
        activity["subject"] = activity["type"].capitalize()
    if activity.get("done") and not activity.get("marked_as_done_time"):
        activity["marked_as_done_time"] = activity["update_time"]
    return activity


def prepare_deal_product(store: Store, item: dict, previous: dict | None) -> dict:
    gross = item["item_price"] * item["quantity"]
    discount = item.get("discount") or 0
    item["sum"] = gross * (1 - discount / 100) if item.get("discount_type") == "percentage" else gross - discount
    item["name"] = store.get("products", item["product_id"])["name"]
    item["currency"] = store.get("deals", item["deal_id"])["currency"]
    if item.get("update_time"):  # a changed product line is a change of its deal, as in Pipedrive
        store.update("deals", item["deal_id"], {"update_time": item["update_time"]})
    return item


def prepare_lead(store: Store, lead: dict, previous: dict | None) -> dict:
    if not lead.get("person_id") and not lead.get("organization_id"):
        raise bad_request("A lead must be linked to a person or an organization")
    if lead.get("value") is not None:
        check_value("value.amount", lead["value"].get("amount"), "number", True)
        check_value("value.currency", lead["value"].get("currency"), "str", True)
    return lead


def prepare_note(store: Store, note: dict, previous: dict | None) -> dict:
    if not any(note.get(k) for k in ("deal_id", "person_id", "org_id", "lead_id")):
        raise bad_request("A note must be attached to a deal, person, organization or lead")
    return note


def prepare_field(store: Store, definition: dict, previous: dict | None) -> dict:
    """New custom fields get a 40-hex key and numbered options, as in Pipedrive."""
    if previous is None and not definition.get("field_code"):
        seed = f"{definition['field_name']}:{store.new_id('fieldKeys')}"
        definition["field_code"] = hashlib.sha1(seed.encode()).hexdigest()
        definition["is_custom_field"] = True
        options = definition.get("options") or []
        next_option = store.new_id("fieldOptions")
        definition["options"] = [
            {"id": next_option * 100 + i, "label": o["label"]} for i, o in enumerate(options)
        ] or None
    return definition


def present_note(store: Store, note: dict) -> dict:
    """v1 notes embed names of what they are attached to."""
    deal, person, org = (
        store.get(t, note.get(k))
        for t, k in (("deals", "deal_id"), ("persons", "person_id"), ("organizations", "org_id"))
    )
    user = store.get("users", note.get("user_id")) or {}
    note["deal"] = {"title": deal["title"]} if deal else None
    note["person"] = {"name": person["name"]} if person else None
    note["organization"] = {"name": org["name"]} if org else None
    note["user"] = {
        "email": user.get("email"),
        "icon_url": None,
        "is_you": user.get("id") == 1,
        "name": user.get("name"),
    }
    return note


def v1_user_ref(store: Store, user_id) -> dict | None:
    """v1 embeds related users, persons and organizations as small objects with a ``value`` id."""
    user = store.get("users", user_id)
    return user and {
        "id": user["id"],
        "name": user["name"],
        "email": user["email"],
        "has_pic": False,
        "pic_hash": None,
        "active_flag": True,
        "value": user["id"],
    }


def v1_person_ref(store: Store, person_id) -> dict | None:
    person = store.get("persons", person_id)
    return person and {
        "active_flag": not person["is_deleted"],
        "name": person["name"],
        "email": person["emails"],
        "phone": person["phones"],
        "owner_id": person["owner_id"],
        "value": person["id"],
    }


def v1_org_ref(store: Store, org_id) -> dict | None:
    org = store.get("organizations", org_id)
    return org and {
        "name": org["name"],
        "owner_id": org["owner_id"],
        "active_flag": not org["is_deleted"],
        "address": (org.get("address") or {}).get("value"),
        "value": org["id"],
        "people_count": sum(p.get("org_id") == org["id"] for p in store.rows("persons")),
    }


V1_RENAMES = {"deals": {"owner_id": "user_id"}, "persons": {"emails": "email", "phones": "phone"}}


def v1_view(table: str, record: dict) -> dict:
    """v1 representation of a v2-shaped entity: custom fields at the root, v1 names."""
    out = {k: v for k, v in record.items() if k != "custom_fields"}
    out.update(record.get("custom_fields") or {})
    for old, new in V1_RENAMES.get(table, {}).items():
        out[new] = out.pop(old)
    out["visible_to"] = str(record.get("visible_to"))
    out["active_flag"] = not record.get("is_deleted")
    for key in ("add_time", "update_time"):
        out[key] = v1_time(out.get(key))
    if table == "deals":
        out["active"], out["deleted"] = out["status"] == "open", bool(record.get("is_deleted"))
    return out


def present_participant(store: Store, participant: dict) -> dict:
    person = store.get("persons", participant["person_id"]) or {}
    deal = store.get("deals", participant["deal_id"]) or {}
    participant["person"] = {
        "id": person.get("id"),
        "name": person.get("name"),
        "active_flag": True,
        "email": person.get("emails", []),
        "phone": person.get("phones", []),
        # this spot of the v1 schema spells has_pic as 0/1
        "owner_id": {**(v1_user_ref(store, person.get("owner_id")) or {}), "has_pic": 0},
    }
    participant["person_id"] = v1_person_ref(store, participant["person_id"])
    participant["added_by_user_id"] = v1_user_ref(store, participant["added_by_user_id"])
    participant["related_item_data"] = {"deal_id": deal.get("id"), "title": deal.get("title")}
    participant["related_item_type"] = "deal"
    participant["related_item_id"] = participant["deal_id"]
    return participant


def present_file(store: Store, file: dict) -> dict:
    names = {
        "deal_name": ("deals", "deal_id", "title"),
        "person_name": ("persons", "person_id", "name"),
        "org_name": ("organizations", "org_id", "name"),
        "product_name": ("products", "product_id", "name"),
        "lead_name": ("leads", "lead_id", "title"),
    }
    for out, (table, key, attr) in names.items():
        linked = store.get(table, file.get(key))
        file[out] = linked[attr] if linked else ""
    return file


def _deal_persons(store: Store, items: list, deal_id: int) -> list:
    """Persons linked to a deal: its contact person and its participants."""
    deal = store.get("deals", deal_id) or {}
    linked = {deal.get("person_id")} | {
        p["person_id"] for p in store.rows("dealParticipants") if p["deal_id"] == deal_id
    }
    return [r for r in items if r["id"] in linked]


def _activity_person(store: Store, items: list, person_id: int) -> list:
    return [r for r in items if any(p["person_id"] == person_id for p in r.get("participants", []))]


def _by_type(store: Store, items: list, kind: str) -> list:
    return [r for r in items if r.get("type") == kind]


# -- declarations ----------------------------------------------------------------

_OWNER_FILTERS = {
    "ids": "ints",
    "owner_id": "int",
    "updated_since": "datetime",
    "updated_until": "datetime",
    "filter_id": "int",
}

_DECLARED = [
    Resource(
        "deals",
        "v2",
        custom_fields="dealFields",
        archivable=True,
        fields={
            "title": "str",
            "owner_id": "int",
            "person_id": "int?",
            "org_id": "int?",
            "pipeline_id": "int",
            "stage_id": "int",
            "value": "number",
            "currency": "str",
            "status": "enum:open|won|lost",
            "probability": "number?",
            "lost_reason": "str?",
            "visible_to": "int",
            "close_time": "str?",
            "won_time": "str?",
            "lost_time": "str?",
            "expected_close_date": "date?",
            "label_ids": "ints",
            "is_deleted": "bool",
            "is_archived": "bool",
            "custom_fields": "dict",
            "archive_time": "str?",
        },
        required=("title",),
        filters={  # status first: status=deleted swaps in the deleted deals, the other filters narrow them
            "status": "enum:open|won|lost|deleted",
            **_OWNER_FILTERS,
            "person_id": "int",
            "org_id": "int",
            "pipeline_id": "int",
            "stage_id": "int",
        },
        filter_hooks={"status": deal_status},
        defaults={
            "value": 0,
            "currency": "EUR",
            "owner_id": 1,
            "person_id": None,
            "org_id": None,
            "status": "open",
            "probability": None,
            "lost_reason": None,
            "visible_to": 3,
            "expected_close_date": None,
            "label_ids": [],
            "is_deleted": False,
            "is_archived": False,
            "origin": "API",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "source_lead_id": None,
            "arr": None,
            "mrr": None,
            "acv": None,
            "custom_fields": {},
        },
        prepare=prepare_deal,
    ),
    Resource(
        "persons",
        "v2",
        custom_fields="personFields",
        fields={
            "name": "str",
            "first_name": "str",
            "last_name": "str",
            "owner_id": "int",
            "org_id": "int?",
            "emails": "list",
            "phones": "list",
            "im": "list",
            "visible_to": "int",
            "label_ids": "ints",
            "marketing_status": "str",
            "birthday": "date?",
            "job_title": "str?",
            "notes": "str?",
            "postal_address": "dict?",
            "custom_fields": "dict",
        },
        filters={**_OWNER_FILTERS, "org_id": "int", "deal_id": "int"},
        filter_hooks={"deal_id": _deal_persons},
        defaults={
            "owner_id": 1,
            "org_id": None,
            "emails": [],
            "phones": [],
            "im": [],
            "is_deleted": False,
            "visible_to": 3,
            "label_ids": [],
            "picture_id": None,
            "birthday": None,
            "job_title": None,
            "notes": None,
            "postal_address": None,
            "custom_fields": {},
        },
        prepare=prepare_person,
    ),
    Resource(
        "organizations",
        "v2",
        custom_fields="organizationFields",
        label="Organization",
        fields={
            "name": "str",
            "owner_id": "int",
            "visible_to": "int",
            "label_ids": "ints",
            "address": "dict?",
            "website": "str?",
            "linkedin": "str?",
            "industry": "int?",
            "annual_revenue": "int?",
            "employee_count": "int?",
            "custom_fields": "dict",
        },
        required=("name",),
        filters=dict(_OWNER_FILTERS),
        defaults={
            "owner_id": 1,
            "is_deleted": False,
            "visible_to": 3,
            "label_ids": [],
            "address": None,
            "website": None,
            "linkedin": None,
            "industry": None,
            "annual_revenue": None,
            "employee_count": None,
            "custom_fields": {},
        },
    ),
    Resource(
        "products",
        "v2",
        custom_fields="productFields",
        create_status=201,
        fields={
            "name": "str",
            "code": "str",
            "description": "str",
            "unit": "str",
            "tax": "number",
            "category": "str?",
            "owner_id": "int",
            "is_linkable": "bool",
            "visible_to": "int",
            "prices": "list",
            "billing_frequency": "enum:one-time|annually|semi-annually|quarterly|monthly|weekly",
            "billing_frequency_cycles": "int?",
            "custom_fields": "dict",
        },
        required=("name",),
        filters={"ids": "ints", "owner_id": "int", "updated_since": "datetime", "filter_id": "int"},
        sort_by=("id", "name", "add_time", "update_time"),
        defaults={
            "code": "",
            "description": "",
            "unit": "",
            "tax": 0,
            "category": None,
            "owner_id": 1,
            "is_deleted": False,
            "is_linkable": True,
            "visible_to": 3,
            "prices": [],
            "billing_frequency": "one-time",
            "billing_frequency_cycles": None,
            "custom_fields": {},
        },
        prepare=prepare_product,
    ),
    Resource(
        "pipelines",
        "v2",
        fields={"name": "str", "is_deal_probability_enabled": "bool", "order_nr": "int"},
        required=("name",),
        defaults={"is_deleted": False, "is_deal_probability_enabled": False},
        prepare=prepare_pipeline,
    ),
    Resource(
        "stages",
        "v2",
        fields={
            "name": "str",
            "pipeline_id": "int",
            "deal_probability": "int",
            "is_deal_rot_enabled": "bool",
            "days_to_rotten": "int?",
            "order_nr": "int",
        },
        required=("name", "pipeline_id"),
        filters={"pipeline_id": "int"},
        sort_by=("id", "update_time", "add_time", "order_nr"),
        defaults={"is_deleted": False, "deal_probability": 100, "is_deal_rot_enabled": False, "days_to_rotten": None},
        prepare=prepare_stage,
    ),
    Resource(
        "activities",
        "v2",
        label="Activity",
        fields={
            "subject": "str",
            "type": "str",
            "owner_id": "int",
            "deal_id": "int?",
            "lead_id": "uuid?",
            "org_id": "int?",
            "project_id": "int?",
            "due_date": "date?",
            "due_time": "str?",
            "duration": "str?",
            "busy": "bool",
            "done": "bool",
            "location": "dict?",
            "participants": "list",
            "attendees": "list",
            "public_description": "str",
            "priority": "int?",
            "note": "str",
        },
        filters={
            **_OWNER_FILTERS,
            "deal_id": "int",
            "lead_id": "uuid",
            "person_id": "int",
            "org_id": "int",
            "done": "bool",
        },
        filter_hooks={"person_id": _activity_person},
        sort_by=("id", "update_time", "add_time", "due_date"),
        defaults={
            "type": "task",
            "owner_id": 1,
            "creator_user_id": 1,
            "is_deleted": False,
            "deal_id": None,
            "lead_id": None,
            "org_id": None,
            "project_id": None,
            "due_date": None,
            "due_time": None,
            "duration": None,
            "busy": False,
            "done": False,
            "marked_as_done_time": None,
            "location": None,
            "participants": [],
            "attendees": [],
            "public_description": "",
            "priority": None,
            "note": "",
        },
        prepare=prepare_activity,
    ),
    Resource(
        "dealProducts",
        "v2",
        parent=("deals", "deal_id"),
        create_status=201,
        label="Deal product",
        fields={
            "product_id": "int",
            "item_price": "number",
            "quantity": "number",
            "tax": "number",
            "comments": "str",
            "discount": "number",
            "is_enabled": "bool",
            "tax_method": "enum:exclusive|inclusive|none",
            "discount_type": "enum:percentage|amount",
            "product_variation_id": "int?",
            "billing_frequency": "enum:one-time|annually|semi-annually|quarterly|monthly|weekly",
            "billing_frequency_cycles": "int?",
            "billing_start_date": "date?",
        },
        required=("product_id", "item_price", "quantity"),
        sort_by=("id", "add_time", "update_time", "order_nr"),
        defaults={
            "tax": 0,
            "comments": "",
            "discount": 0,
            "is_enabled": True,
            "tax_method": "inclusive",
            "discount_type": "percentage",
            "product_variation_id": None,
            "order_nr": None,
            "billing_frequency": "one-time",
            "billing_frequency_cycles": None,
            "billing_start_date": None,
        },
        prepare=prepare_deal_product,
    ),
    Resource(
        "dealParticipants",
        "v1",
        parent=("deals", "deal_id"),
        label="Participant",
        fields={"person_id": "int"},
        required=("person_id",),
        defaults={"active_flag": True, "added_by_user_id": 1},
        present=present_participant,
    ),
    Resource(
        "notes",
        "v1",
        fields={
            "content": "str",
            "deal_id": "int",
            "person_id": "int",
            "org_id": "int",
            "lead_id": "uuid",
            "user_id": "int",
            "add_time": "str",
            "pinned_to_deal_flag": "bool",
            "pinned_to_person_flag": "bool",
            "pinned_to_organization_flag": "bool",
            "pinned_to_lead_flag": "bool",
        },
        required=("content",),
        filters={
            "user_id": "int",
            "lead_id": "uuid",
            "deal_id": "int",
            "person_id": "int",
            "org_id": "int",
            "updated_since": "datetime",
            "start_date": "date",
            "end_date": "date",
        },
        defaults={
            "user_id": 1,
            "last_update_user_id": 1,
            "active_flag": True,
            "deal_id": None,
            "person_id": None,
            "org_id": None,
            "lead_id": None,
            "pinned_to_deal_flag": False,
            "pinned_to_person_flag": False,
            "pinned_to_organization_flag": False,
            "pinned_to_lead_flag": False,
        },
        prepare=prepare_note,
        present=present_note,
        delete_returns_true=True,
    ),
    Resource(
        "files",
        "v1",
        max_limit=100,
        reject_over_limit=True,
        fields={"name": "str", "description": "str"},
        defaults={
            "user_id": 1,
            "active_flag": True,
            "inline_flag": False,
            "remote_location": "s3",
            "remote_id": None,
            "description": "",
        },
        present=present_file,
    ),
    Resource(
        "leads",
        "v1",
        id_type="uuid",
        archivable=True,
        iso_time=True,
        fields={
            "title": "str",
            "owner_id": "int",
            "label_ids": "list",
            "person_id": "int?",
            "organization_id": "int?",
            "value": "dict?",
            "expected_close_date": "date?",
            "visible_to": "str?",
            "was_seen": "bool",
            "is_archived": "bool",
            "origin_id": "str?",
            "channel": "int?",
            "channel_id": "str?",
        },
        required=("title",),
        create_status=201,
        filters={"owner_id": "int", "person_id": "int", "organization_id": "int", "updated_since": "datetime"},
        defaults={
            "owner_id": 1,
            "creator_id": 1,
            "label_ids": [],
            "person_id": None,
            "organization_id": None,
            "source_name": "API",
            "origin": "API",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "source_deal_id": None,
            "is_archived": False,
            "was_seen": False,
            "value": None,
            "expected_close_date": None,
            "next_activity_id": None,
            "visible_to": "3",
        },
        prepare=prepare_lead,
    ),
    Resource(
        "leadLabels",
        "v1",
        id_type="uuid",
        iso_time=True,
        label="Lead label",
        paginated=False,
        fields={"name": "str", "color": "enum:blue|brown|dark-gray|gray|green|orange|pink|purple|red|yellow"},
        required=("name", "color"),
    ),
    Resource("leadSources", "v1", fields={}, paginated=False),
    Resource(
        "callLogs",
        "v1",
        id_type="str",
        max_limit=50,
        gone_after_delete=True,
        label="callLog",
        fields={
            "user_id": "int",
            "activity_id": "int",
            "subject": "str",
            "duration": "str",
            "outcome": "enum:connected|no_answer|left_message|left_voicemail|wrong_number|busy",
            "from_phone_number": "str",
            "to_phone_number": "str",
            "start_time": "datetime",
            "end_time": "datetime",
            "person_id": "int",
            "org_id": "int",
            "deal_id": "int",
            "lead_id": "uuid",
            "note": "str",
        },
        required=("to_phone_number", "outcome", "start_time", "end_time"),
        defaults={"user_id": 1, "has_recording": False, "company_id": 1},
    ),
    Resource(
        "filters",
        "v1",
        paginated=False,
        fields={"name": "str", "conditions": "dict"},
        filters={"type": "enum:deals|leads|org|people|products|activity|projects"},
        filter_hooks={"type": _by_type},
    ),
    Resource("users", "v1", fields={}, paginated=False),
    Resource("currencies", "v1", fields={}, paginated=False, label="Currency", filters={"term": "str"}),
    Resource("activityTypes", "v1", fields={}, paginated=False, iso_time=True, label="Activity type"),
    Resource(
        "permissionSets",
        "v1",
        fields={},
        id_type="str",
        paginated=False,
        label="Permission set",
        filters={"app": "str"},
    ),
    Resource("noteFields", "v1", fields={}, label="Note field"),
]

_FIELD_TABLES = ("dealFields", "personFields", "organizationFields", "productFields", "activityFields")
_DECLARED += [
    Resource(
        table,
        "v2",
        lookup="field_code",
        label="Field",
        fields={
            "field_name": "str",
            "field_type": "enum:varchar|text|double|phone|date|daterange|time|timerange|"
            "set|enum|varchar_auto|address|monetary|org|people|user",
            "options": "list",
            "description": "str?",
            "ui_visibility": "dict",
            "important_fields": "dict",
            "required_fields": "dict",
        },
        required=("field_name", "field_type"),
        sort_by=("id",),
        defaults={"description": None, "subfields": None, "is_optional_response_field": False},
        prepare=prepare_field,
    )
    for table in _FIELD_TABLES
]

RESOURCES: dict[str, Resource] = {r.name: r for r in _DECLARED}

# -- issue 16, part A: projects, roles, goals and the rest declare their resources beside their handlers
from dataclasses import replace as _replace  # noqa: E402

from .handlers import goals, projects, relationships, roles, setup  # noqa: E402  (they import records, not this)

for _res in (
    *projects.RESOURCES,
    *roles.RESOURCES,
    *goals.RESOURCES,
    *relationships.RESOURCES,
    *setup.RESOURCES,
    _replace(RESOURCES["dealFields"], name="projectFields"),
):
    RESOURCES[_res.name] = _res
