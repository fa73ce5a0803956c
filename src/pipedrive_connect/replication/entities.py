"""What `replicate` copies and how: one declaration per entity, and a record's conversion to table rows.

Each entity names the list it reads (a bundle action, or an endpoint the bundle has no action for),
how it is kept up to date (`incremental` on `updated_since`, `full` with a sweep for deletions, or
`per_deal` for the deals changed since the last run), its typed columns and its nested lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

# column types, one letter each: integer, float, string, boolean, timestamp, date, JSON
TYPES = {"i", "f", "s", "b", "t", "d", "j"}


def columns(spec: str) -> dict[str, str]:
    """'title:s value:f' -> {'title': 's', 'value': 'f'}."""
    out = dict(part.split(":") for part in spec.split())
    assert set(out.values()) <= TYPES, spec
    return out


@dataclass(frozen=True)
class Child:
    """A nested list of a record, copied to its own table keyed by (parent id, position)."""

    table: str
    field: str
    columns: dict[str, str]


@dataclass(frozen=True)
class Entity:
    name: str
    mode: str  # incremental | full | per_deal
    columns: dict[str, str]
    action: str | None = None  # the bundle action that lists it ...
    endpoint: tuple[str, str, int, str] | None = None  # ... or (api, path, token cost, paging) where there is none
    key: str = "id"
    key_type: str = "i"
    fields: str | None = None  # the *_fields entity holding its custom fields
    children: tuple[Child, ...] = ()
    deleted_feed: bool = False  # v2 deals list deleted ones with status=deleted
    batch: int = 1  # per_deal: deals per request
    v1_sort: str = "update_time ASC"  # incremental v1 lists: oldest change first
    default: bool = True  # in the default set (the costly per-deal feeds are asked for by name)
    note: str = ""

    @property
    def table_columns(self) -> dict[str, str]:
        return {self.key: self.key_type, **self.columns}


CONTACT = columns("value:s label:s primary:b")
_FIELDS_V2 = columns("field_name:s field_type:s is_custom_field:b options:j")
_CUSTOM = {"deals": "deal_fields", "persons": "person_fields", "organizations": "organization_fields"}
_CUSTOM |= {"products": "product_fields"}

ENTITIES: tuple[Entity, ...] = (
    # the field definitions first: they name the custom-field columns of the entities after them
    Entity("deal_fields", "full", _FIELDS_V2, "getDealFields", key="field_code", key_type="s"),
    Entity("person_fields", "full", _FIELDS_V2, "getPersonFields", key="field_code", key_type="s"),
    Entity(
        "organization_fields",
        "full",
        _FIELDS_V2,
        endpoint=("v2", "/organizationFields", 10, "cursor"),
        key="field_code",
        key_type="s",
    ),
    Entity("product_fields", "full", _FIELDS_V2, "getProductFields", key="field_code", key_type="s"),
    Entity("activity_fields", "full", _FIELDS_V2, "getActivityFields", key="field_code", key_type="s"),
    Entity("note_fields", "full", columns("key:s name:s field_type:s active_flag:b"), "getNoteFields"),
    Entity(
        "users",
        "full",
        columns("name:s email:s active_flag:b role_id:i timezone_name:s created:t modified:t"),
        "getUsers",
    ),
    Entity("pipelines", "full", columns("name:s order_nr:i is_deleted:b add_time:t update_time:t"), "getPipelines"),
    Entity(
        "stages",
        "full",
        columns("name:s pipeline_id:i order_nr:i deal_probability:f is_deleted:b add_time:t update_time:t"),
        "getStages",
    ),
    Entity(
        "activity_types",
        "full",
        columns("name:s key_string:s icon_key:s order_nr:i active_flag:b is_custom_flag:b"),
        "getActivityTypes",
    ),
    Entity("lead_labels", "full", columns("name:s color:s add_time:t update_time:t"), "getLeadLabels", key_type="s"),
    Entity("filters", "full", columns("name:s type:s active_flag:b user_id:i add_time:t update_time:t"), "getFilters"),
    Entity(
        "organizations",
        "incremental",
        columns("name:s owner_id:i address:j website:s visible_to:i label_ids:j is_deleted:b add_time:t update_time:t"),
        "getOrganizations",
        fields="organization_fields",
    ),
    Entity(
        "persons",
        "incremental",
        columns(
            "name:s first_name:s last_name:s owner_id:i org_id:i job_title:s visible_to:i label_ids:j "
            "is_deleted:b add_time:t update_time:t"
        ),
        "getPersons",
        fields="person_fields",
        children=(Child("person_emails", "emails", CONTACT), Child("person_phones", "phones", CONTACT)),
    ),
    Entity(
        "products",
        "incremental",
        columns(
            "name:s code:s description:s unit:s tax:f owner_id:i visible_to:i is_deleted:b add_time:t update_time:t"
        ),
        "getProducts",
        fields="product_fields",
        children=(Child("product_prices", "prices", columns("currency:s price:f cost:f direct_cost:f notes:s")),),
    ),
    Entity(
        "deals",
        "incremental",
        columns(
            "title:s value:f currency:s status:s pipeline_id:i stage_id:i owner_id:i person_id:i org_id:i "
            "probability:f lost_reason:s visible_to:i expected_close_date:d close_time:t won_time:t lost_time:t "
            "stage_change_time:t label_ids:j is_deleted:b is_archived:b add_time:t update_time:t"
        ),
        "getDeals",
        fields="deal_fields",
        deleted_feed=True,
    ),
    Entity(
        "activities",
        "incremental",
        columns(
            "subject:s type:s owner_id:i deal_id:i lead_id:s person_id:i org_id:i due_date:d due_time:s "
            "duration:s done:b note:s participants:j is_deleted:b add_time:t update_time:t"
        ),
        "getActivities",
    ),
    Entity(
        "notes",
        "incremental",
        columns("content:s deal_id:i person_id:i org_id:i lead_id:s user_id:i active_flag:b add_time:t update_time:t"),
        "getNotes",
    ),
    Entity(
        "leads",
        "incremental",
        columns(
            "title:s owner_id:i person_id:i organization_id:i label_ids:j value:j expected_close_date:d "
            "is_archived:b add_time:t update_time:t"
        ),
        "getLeads",
        key_type="s",
        v1_sort="update_time",  # the spec allows a bare field name only
    ),
    Entity(
        "files",
        "full",
        columns(
            "name:s file_name:s file_type:s file_size:i deal_id:i person_id:i org_id:i product_id:i activity_id:i "
            "active_flag:b add_time:t update_time:t"
        ),
        "getFiles",
    ),
    Entity(
        "deal_products",
        "per_deal",
        columns(
            "deal_id:i product_id:i name:s item_price:f quantity:f sum:f currency:s discount:f tax:f "
            "is_enabled:b add_time:t update_time:t"
        ),
        endpoint=("v2", "/deals/products", 10, "cursor"),
        batch=100,
        note="products of the deals changed since the last run, 100 deals a call",
    ),
    Entity(
        "deal_participants",
        "per_deal",
        columns("deal_id:i person_id:i active_flag:b add_time:t"),
        "getDealParticipants",
        default=False,
        note="one call (10 tokens) per deal changed since the last run",
    ),
    Entity(
        "deal_flow",
        "per_deal",
        columns("deal_id:i object:s timestamp:t field_key:s old_value:s new_value:s data:j"),
        endpoint=("v1", "/deals/{id}/flow", 40, "offset"),
        key_type="s",
        default=False,
        note="change history: one call (40 tokens) per deal changed since the last run",
    ),
)
BY_NAME = {e.name: e for e in ENTITIES}


# ---- values -------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """Either API's timestamp ('2025-01-01T09:00:00Z' or '2025-01-01 09:00:00', UTC) as naive UTC."""
    if not value or not isinstance(value, str):
        return None
    try:
        if value[-1] == "Z" and len(value) == 20:  # the common case, fast
            return datetime.fromisoformat(value[:-1])
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def _ref(value: Any) -> Any:
    """A v1 reference object ({"value": 5, "name": ...}) stands for its id."""
    return value.get("value") if isinstance(value, dict) else value


def _number(kind: type) -> Callable[[Any], Any]:
    def to(value: Any) -> Any:
        if value is None or type(value) is kind:
            return value
        try:
            return kind(_ref(value))
        except (TypeError, ValueError):
            return None

    return to


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    value = value["value"] if isinstance(value, dict) and "value" in value else value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


# a record's value as its column's type: one function per column type, chosen once per column
CONVERT: dict[str, Callable[[Any], Any]] = {
    "i": _number(int),
    "f": _number(float),
    "s": _text,
    "b": lambda v: None if v is None else bool(v),
    "t": parse_time,
    "d": _day,
    "j": lambda v: v,
}


def convert(value: Any, kind: str) -> Any:
    return CONVERT[kind](value)


def flow_record(deal_id: int, update: dict) -> dict:
    """One entry of a deal's updates feed as a deal_flow record, keyed by its kind and id."""
    data = update.get("data") or {}
    change = update.get("object") == "dealChange"
    return {
        "id": f"{update.get('object')}:{data.get('id')}",
        "deal_id": deal_id,
        "object": update.get("object"),
        "timestamp": update.get("timestamp"),
        "field_key": data.get("field_key") if change else None,
        "old_value": data.get("old_value") if change else None,
        "new_value": data.get("new_value") if change else None,
        "data": data,
    }
