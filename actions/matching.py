"""Find or upsert one record by a natural key (an e-mail, a product code, an external id...).

An upsert looks the key up, then creates the record, or updates only the fields that differ (no
write at all when nothing does, so no tokens are spent on it). The record's fields are given as the
resource's Add action takes them and are checked by that action's schema; the writes are that Add
action and the matching Update action, so wiring, custom fields and transforms are declared once.

Pipedrive's search index lags behind writes, so a record created a moment ago may not be found yet.
Within one process, upserts never create one key twice: a lock per key makes a second upsert wait
for the first, and a short-lived memory of the keys just created answers for the index until it
catches up. Across processes (two runners, two machines) only the index protects, which is why a
create that failed ambiguously is checked again after `settleSeconds` (docs/events.md).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pipedrive_connect.errors import StepError

REMEMBER_SECONDS = 300  # how long a key just created is answered from memory (the index lags less)
STRIPES = 64  # locks shared by hash: one key always takes the same one, and memory stays flat
MAX_CANDIDATES = 10  # more matches than this are listed in the error only up to here


@dataclass(frozen=True)
class Key:
    """A standard natural key: where search looks, where the input's value is, how a hit shows it."""

    field: str  # the search endpoint's `fields` value
    input: str  # the Add action's input that holds the value
    item: str  # the search item's key that holds the found value(s)
    fold: bool = False  # compare case-insensitively (e-mail addresses)


@dataclass(frozen=True)
class Kind:
    entity: str  # the item type in Pipedrive's search
    add: str
    update: str
    get: str
    search: str  # the v2 search path of the entity
    keys: dict[str, Key] = field(default_factory=dict)
    scope: tuple[str, str] | None = None  # (Add input, search filter) narrowing a title match
    fields: str | None = None  # the resource whose custom fields apply (None: no custom field keys)


KINDS = {
    "persons": Kind(
        "person",
        "addPerson",
        "updatePerson",
        "getPerson",
        "/persons/search",
        {
            "email": Key("email", "emails", "emails", fold=True),
            "phone": Key("phone", "phones", "phones"),
            "name": Key("name", "name", "name"),
        },
        fields="persons",
    ),
    "organizations": Kind(
        "organization",
        "addOrganization",
        "updateOrganization",
        "getOrganization",
        "/organizations/search",
        {"name": Key("name", "name", "name")},
        fields="organizations",
    ),
    "deals": Kind(
        "deal",
        "addDeal",
        "updateDeal",
        "getDeal",
        "/deals/search",
        {"title": Key("title", "title", "title")},
        scope=("orgId", "organization_id"),
        fields="deals",
    ),
    "products": Kind(
        "product",
        "addProduct",
        "updateProduct",
        "getProduct",
        "/products/search",
        {"code": Key("code", "code", "code")},
    ),
    "leads": Kind(
        "lead",
        "addLead",
        "updateLead",
        "getLead",
        "/leads/search",
        {"title": Key("title", "title", "title")},
        scope=("personId", "person_id"),
    ),
}
NEVER_UPDATED = {"add_time"}  # set when a record is created, never changed by an upsert


# ---- the per-process guard ------------------------------------------------------------------
class Guard:
    """Locks per key and the keys created lately, shared by every job of one runtime."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self._created: dict[tuple, tuple[float, object]] = {}

    def lock(self, key: tuple) -> threading.Lock:
        return self._stripes[hash(key) % STRIPES]

    def created(self, key: tuple) -> object | None:
        with self._lock:
            hit = self._created.get(key)
            if hit and hit[0] < time.monotonic():
                del self._created[key]
                hit = None
            return hit[1] if hit else None

    def remember(self, key: tuple, record_id: object) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._created) > 10_000:  # a long run: drop what has expired
                self._created = {k: hit for k, hit in self._created.items() if hit[0] > now}
            self._created[key] = (now + REMEMBER_SECONDS, record_id)

    def forget(self, key: tuple) -> None:
        with self._lock:
            self._created.pop(key, None)


_GUARD_LOCK = threading.Lock()


def guard(call) -> Guard:
    with _GUARD_LOCK:  # one Guard per runtime, even when the first upserts start together
        return call.cached(("matching", "guard"), float("inf"), Guard)


# ---- the key --------------------------------------------------------------------------------
@dataclass
class Match:
    """A resolved natural key: what to look for and where."""

    kind: Kind
    by: str
    value: str
    field_code: str | None = None  # for a custom field key
    scope: object = None  # the organization of a deal title, the person of a lead title
    on_multiple: str = "error"

    @property
    def key(self) -> tuple:
        value = self.value.lower() if self.by == "email" else self.value
        return (self.kind.entity, self.by, self.field_code, value, self.scope)

    def describe(self) -> str:
        what = f"custom field {self.field_code}" if self.field_code else self.by
        return f"{what} {self.value!r}" + (f" (within {self.scope})" if self.scope is not None else "")


def _first(value):
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("value")
    return value


def resolve_key(call, record: dict) -> Match:
    """The key the inputs name; its value from `matchValue`, else from the record's own field."""
    kind = KINDS[call.action.resource]
    by, value = call.inputs["matchBy"], call.inputs.get("matchValue")
    if by == "customField":
        name = call.inputs.get("matchField")
        if not name:
            raise StepError(
                "input", "Input 'matchField' is required to match on a custom field", input_path="matchField"
            )
        if kind.fields is None:
            raise StepError("input", f"Input 'matchBy': {kind.entity}s cannot be matched on a custom field here")
        by_code, by_name = call.code("custom_fields").fields_of(call, resource=kind.fields)
        found = by_code.get(name) or by_name.get(str(name).strip().lower())
        if found is None:
            by_code, by_name = call.code("custom_fields").fields_of(call, refresh=True, resource=kind.fields)
            found = by_code.get(name) or by_name.get(str(name).strip().lower())
        if found is None:
            raise StepError(
                "input", f"Input 'matchField': no {kind.entity} field is named {name!r}", input_path="matchField"
            )
        code = found["field_code"]
        if value in (None, ""):
            given = record.get("customFields") or {}
            value = next(
                (v for k, v in given.items() if k == code or str(k).strip().lower() == found["field_name"].lower()),
                None,
            )
        match = Match(kind, by, "" if value is None else str(value), field_code=code)
    else:
        if value in (None, ""):
            value = _first(record.get(kind.keys[by].input))
        match = Match(kind, by, "" if value is None else str(value).strip())
        if kind.scope and by == "title" and record.get(kind.scope[0]) is not None:
            match.scope = record[kind.scope[0]]
    if not match.value:
        raise StepError(
            "input",
            f"Input 'matchValue': no value to match on {by}; give it, or set it in the record",
            input_path="matchValue",
        )
    match.on_multiple = call.inputs.get("onMultiple", "error")
    return match


# ---- looking up -----------------------------------------------------------------------------
def _search(call, path: str, query: dict) -> Any:
    request = call.request("GET", path, api="v2", cost=20, search=True, query=query)
    return call.send(request).data or []


def candidates(call, match: Match) -> list:
    """Ids of the records whose key is exactly the value (e-mails in any case)."""
    kind = match.kind
    if match.field_code:
        query: dict[str, object] = {"term": match.value, "entity_type": kind.entity, "field": match.field_code}
        query.update(match="exact", limit=100)
        return [hit["id"] for hit in _search(call, "/itemSearch/field", query) if isinstance(hit, dict)]
    key = kind.keys[match.by]
    query = {"term": match.value, "fields": key.field, "exact_match": "true", "limit": 100}
    if match.scope is not None and kind.scope:
        query[kind.scope[1]] = match.scope
    data = _search(call, kind.search, query)
    wanted = match.value.lower() if key.fold else match.value
    ids = []
    hits: list[dict] = data.get("items", []) if isinstance(data, dict) else []
    for hit in hits:
        item = hit.get("item") or {}
        values = item.get(key.item)
        values = values if isinstance(values, list) else [values]
        found = [str(_first(v)).strip() for v in values if v is not None]
        if wanted in ([v.lower() for v in found] if key.fold else found):
            ids.append(item["id"])
    return ids


def fetch(call, match: Match, record_id) -> dict | None:
    """The full record (None when it is gone)."""
    getter = call.sub(match.kind.get, {"id": record_id})
    try:
        return getter.submit(getter.wire())
    except StepError as exc:
        if exc.kind == "not_found":
            return None
        raise


def choose(call, match: Match, ids: list) -> dict | None:
    """The one matching record, or None; several are `ambiguous` unless onMultiple picks one."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return None
    if len(ids) == 1:
        return fetch(call, match, ids[0])
    if match.on_multiple == "error":
        shown = ids[:MAX_CANDIDATES]
        raise StepError(
            "ambiguous",
            f"{len(ids)} {match.kind.entity}s match {match.describe()}: ids "
            + ", ".join(map(str, shown))
            + (" ..." if len(ids) > len(shown) else "")
            + "; make the key unique, or set 'onMultiple' to oldest or newest",
            details={"candidates": shown, "count": len(ids)},
        )
    if all(isinstance(i, int) for i in ids):  # ids grow with time: the lowest was created first
        pick = min(ids) if match.on_multiple == "oldest" else max(ids)
        return fetch(call, match, pick)
    records = [r for r in (fetch(call, match, i) for i in ids[:MAX_CANDIDATES]) if r]
    records.sort(key=lambda r: str(r.get("add_time") or ""))
    return (records[0] if match.on_multiple == "oldest" else records[-1]) if records else None


def lookup(call, match: Match) -> dict | None:
    """The record the key names: remembered as just created, else found by search."""
    remembered = guard(call).created(match.key)
    if remembered is not None:
        record = fetch(call, match, remembered)
        if record is not None:
            return record
        guard(call).forget(match.key)
    return choose(call, match, candidates(call, match))


# ---- comparing ------------------------------------------------------------------------------
def _scalar(value):
    if isinstance(value, dict) and set(value) <= {"value", "primary", "label"} and "value" in value:
        return value["value"]
    return value


def same(wanted, have, fold: bool = False) -> bool:
    """Whether a wire value is already what the record holds (extra parts on the record are fine)."""
    if isinstance(wanted, dict):
        return isinstance(have, dict) and all(same(v, have.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(have, list) or len(wanted) != len(have):
            return False
        if all(isinstance(w, dict) and "currency" in w for w in wanted):  # product prices, one per currency
            by_currency = {h.get("currency"): h for h in have if isinstance(h, dict)}
            return all(same(w, by_currency.get(w["currency"])) for w in wanted)
        norm = [str(_scalar(v)).lower() if fold else _scalar(v) for v in wanted]
        got = [str(_scalar(v)).lower() if fold else _scalar(v) for v in have]
        in_order = all(same(w, g) for w, g in zip(norm, got, strict=True))
        return in_order or sorted(map(str, norm)) == sorted(map(str, got))  # ids in another order
    if isinstance(wanted, bool) or isinstance(have, bool):
        return wanted == have
    if isinstance(wanted, (int, float)) and isinstance(have, (int, float)):
        return float(wanted) == float(have)
    if wanted is None or have is None:
        return wanted is None and have is None
    return str(wanted) == str(have)


def differences(body: dict, record: dict) -> dict:
    """The part of a create body that the record does not hold yet: the update to send."""
    out: dict = {}
    for key, wanted in body.items():
        if key in NEVER_UPDATED:
            continue
        have = record.get(key)
        if key == "custom_fields" and isinstance(wanted, dict):
            changed = {k: v for k, v in wanted.items() if not same(v, (have or {}).get(k))}
            if changed:
                out[key] = changed
        elif not same(wanted, have, fold=key == "emails"):
            out[key] = wanted
    return out


# ---- the actions ----------------------------------------------------------------------------
def find(call):
    """findPerson and the others: {found, record}; nothing found is a success with found false."""
    match = resolve_key(call, {})
    record = lookup(call, match)
    return {"found": record is not None, "record": record}


def upsert(call):
    """upsertPerson and the others: {action: created|updated|unchanged, record}."""
    kind = KINDS[call.action.resource]
    record, create_only = call.inputs["record"], call.inputs.get("createOnly") or {}
    adder = call.sub(kind.add, {**create_only, **record}, "record")  # checked before anything is sent
    match = resolve_key(call, adder.inputs)
    only_on_create = {p.wire for p in adder.action.params if p.name in create_only and p.name not in record}
    body = {k: v for k, v in (adder.wire().body or {}).items() if k not in only_on_create}
    guard_ = guard(call)
    with guard_.lock(match.key):
        existing = lookup(call, match)
        if existing is None:
            return create(call, match, adder)
        changes = differences(body, existing)
        if not changes:
            return {"action": "unchanged", "record": existing}
        updater = call.sub(kind.update, {"id": existing["id"]})
        request = updater.wire()
        request.body = changes
        updated = updater.submit(request)
        return {"action": "updated", "record": updated, "changed": sorted(changes)}


def create(call, match: Match, adder) -> dict:
    """Create the record; after an ambiguous failure (a 5xx or a connection lost once it was sent),
    wait for the search index, look again, and create only if it is still not there."""
    try:
        record = adder.submit(adder.wire())
    except StepError as exc:
        if exc.kind != "outcome_unknown":
            raise
        time.sleep(call.inputs.get("settleSeconds", 10))
        record = lookup(call, match)
        if record is None:
            record = adder.submit(adder.wire())  # not there: the first attempt did not happen
        else:
            call.additional_data = {"recovered": f"the create's answer was lost ({exc.message}); found it after"}
    guard(call).remember(match.key, record["id"])
    return {"action": "created", "record": record}
