"""Custom fields by name or by key, with each value shaped as its field type needs (API v2).

Designers know a field as "Region", not as its 40-character key, and type "EMEA" or "12"
where API v2 wants the option id 12. The field list of the entity is read once per runtime
(one list call, cached) and used to turn names into keys and values into the right types.
"""

import math

from pipedrive_connect.errors import StepError

FIELD_LISTS = {
    "deals": "/dealFields",
    "persons": "/personFields",
    "organizations": "/organizationFields",
    "products": "/productFields",
    "activities": "/activityFields",
}
CACHE_SECONDS = 300
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}
_ID_TYPES = {"user", "org", "people", "person", "deal", "lead", "stage", "int"}


def fields_of(call, refresh=False):
    """{field_code: field} and {lower-case name: field} for the action's entity, cached."""
    path = FIELD_LISTS[call.action.resource]

    def fetch():
        fields = call.lookup(call.request("GET", path, api="v2", cost=10, search=False), paging="cursor")
        return {f["field_code"]: f for f in fields}, {str(f["field_name"]).strip().lower(): f for f in fields}

    return call.cached(("fields", path), CACHE_SECONDS, fetch, refresh)


def resolve(call, values):
    """The customFields input with names turned into keys and values coerced by field type."""
    by_code, by_name = fields_of(call)
    if any(key not in by_code and str(key).strip().lower() not in by_name for key in values):
        by_code, by_name = fields_of(call, refresh=True)  # a field added since the list was read
    out = {}
    for key, value in values.items():
        field = by_code.get(key) or by_name.get(str(key).strip().lower())
        where = f"customFields.{key}"
        if field is None:
            raise StepError(
                "input", f"Input '{where}': no {call.action.resource[:-1]} field has this name or key", input_path=where
            )
        if not field.get("is_custom_field", True):
            raise StepError(
                "input",
                f"Input '{where}': {field['field_name']} is a standard field; use its own input",
                input_path=where,
            )
        out[field["field_code"]] = shape(field, value, where)
    return out


def by_name(call, result):
    """A result with every record's custom_fields keyed by field name and options shown by label: what
    a person reads, where Pipedrive gives 40-character keys and option ids (the customFieldNames option)."""
    by_code, _ = fields_of(call)

    def readable(value):
        if isinstance(value, list):
            return [readable(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: readable(v) for k, v in value.items() if k != "custom_fields"}
        if isinstance(value.get("custom_fields"), dict):
            out["custom_fields"] = {
                str(by_code[k]["field_name"]) if k in by_code else k: _label(by_code.get(k), v)
                for k, v in value["custom_fields"].items()
            }
        elif "custom_fields" in value:
            out["custom_fields"] = value["custom_fields"]
        return out

    return readable(result)


def _label(field, value):
    """An option id (or a list of them) as the option's label; other values as they are."""
    if field is None or field.get("field_type") not in ("enum", "set") or value is None:
        return value
    labels = {str(o.get("id")): o.get("label") for o in field.get("options") or []}
    if isinstance(value, list):
        return [labels.get(str(v), v) for v in value]
    return labels.get(str(value), value)


def shape(field, value, where):
    """One value as the field type wants it; None clears the field."""
    kind = field.get("field_type")
    if value is None:
        return None
    try:
        if kind in _ID_TYPES:
            return int(value)
        if kind == "double":
            return _finite(value)
        if kind == "boolean" and isinstance(value, str):
            if value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError(value)
        if kind == "enum":
            return _option(field, value, where)
        if kind == "set":
            items = value if isinstance(value, list) else [v for v in str(value).split(",") if v.strip()]
            return [_option(field, item, where) for item in items]
        if kind == "monetary" and not isinstance(value, dict):
            amount, _, currency = str(value).strip().partition(" ")
            return {"value": _finite(amount), **({"currency": currency.strip().upper()} if currency else {})}
        if kind == "address" and isinstance(value, str):
            return {"value": value}
    except (TypeError, ValueError):
        raise StepError(
            "input", f"Input '{where}': {value!r} does not fit the {kind} field {field['field_name']}", input_path=where
        ) from None
    return value


def _finite(value):
    """A number JSON can carry: NaN and infinities are refused like any other non-number."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _option(field, value, where):
    options = field.get("options") or []
    text = str(value).strip()
    for option in options:
        if str(option.get("id")) == text or str(option.get("label", "")).strip().lower() == text.lower():
            return option["id"]
    labels = ", ".join(f"{o.get('label')} ({o.get('id')})" for o in options)
    raise StepError(
        "input", f"Input '{where}': {value!r} is not an option of {field['field_name']}: {labels}", input_path=where
    )
