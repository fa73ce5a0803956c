"""Customer events (the Segment / RudderStack spec) applied to Pipedrive through a mapping.

identify upserts the person known by the user id; group upserts the organization known by the
group id and links the person to it; alias merges the person known by the previous id into the one
known by the user id; track makes a lead for the events the mapping names, or, for an order event,
a deal with product lines whose products are upserted by SKU. Every write goes through the upsert
actions, so an event delivered twice changes nothing the second time. docs/events.md has the table.
"""

from __future__ import annotations

import re

from pipedrive_connect.errors import StepError

HANDLED = ("identify", "group", "alias", "track")
_PLACEHOLDER = re.compile(r"{([A-Za-z0-9_.$ -]+)}")


def handle_event(call):
    """One event in, what it did to Pipedrive out: {type, ...the records touched and how}."""
    event, mapping = call.inputs["event"], call.inputs["mapping"]
    kind = event.get("type")
    if kind not in HANDLED:
        raise StepError(
            "input",
            f"Input 'event.type': event type {kind!r} is not handled; handled types: {', '.join(HANDLED)}",
            input_path="event.type",
        )
    return {"type": kind, **HANDLERS[kind](call, event, mapping)}


# ---- helpers ----------------------------------------------------------------------------------
def run(call, key, inputs, where):
    """Run another action of the bundle within this step (its checks, wiring and handler)."""
    sub = call.sub(key, inputs, where)
    return sub.action.handler(sub)


def fill(template, event):
    """`{properties.order_id}`-style placeholders filled from the event (missing parts become empty)."""

    def value(match):
        found = event
        for part in match.group(1).strip().split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return "" if found is None else str(found)

    return _PLACEHOLDER.sub(value, template).strip()


def number(value, where):
    """An amount from the event; anything else is an input error naming where it was."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        result = float("nan")
    if result != result or result in (float("inf"), float("-inf")):
        raise StepError("input", f"Input '{where}': {value!r} is not an amount", input_path=where)
    return result


def user_id(event, required=True):
    found = event.get("userId") or event.get("anonymousId")
    if not found and required:
        raise StepError(
            "input",
            f"Input 'event.userId': a {event.get('type')} event needs userId or anonymousId",
            input_path="event.userId",
        )
    return str(found) if found else None


def mapped(traits, fields):
    """Add-action inputs from traits: {trait: input name, or customFields.<field>}."""
    record, custom = {}, {}
    for trait, target in (fields or {}).items():
        if traits.get(trait) in (None, ""):
            continue
        if target.startswith("customFields."):
            custom[target.split(".", 1)[1]] = traits[trait]
        else:
            record[target] = traits[trait]
    if custom:
        record["customFields"] = custom
    return record


def person_key(mapping, external_id, traits):
    """How persons are matched: the user id custom field, else the e-mail trait."""
    if mapping.get("userIdField"):
        return {"matchBy": "customField", "matchField": mapping["userIdField"], "matchValue": external_id}
    email = traits.get("email")
    if not email:
        raise StepError(
            "input",
            "Input 'mapping.userIdField': set it (the person field holding the user id), or send an email trait",
            input_path="mapping.userIdField",
        )
    return {"matchBy": "email", "matchValue": str(email)}


def with_external_id(record, field, external_id):
    if field:
        record["customFields"] = {**record.get("customFields", {}), field: external_id}
    return record


def find_person(call, mapping, external_id):
    if not mapping.get("userIdField"):
        return None
    key = {"matchBy": "customField", "matchField": mapping["userIdField"], "matchValue": external_id}
    return run(call, "findPerson", {**key, "onMultiple": "oldest"}, "mapping")["record"]


def ensure_person(call, event, mapping):
    """The event's person: found by the user id, else created with what is known of them."""
    external_id = user_id(event)
    traits = event.get("traits") or (event.get("context") or {}).get("traits") or {}
    record = with_external_id(mapped(traits, mapping.get("personTraits")), mapping.get("userIdField"), external_id)
    placeholder = {
        "name": str(traits.get("name") or traits.get("email") or external_id)
    }  # a name only for a new person
    key = person_key(mapping, external_id, traits)
    inputs = {**key, "onMultiple": "oldest", "record": record, "createOnly": placeholder}
    return run(call, "upsertPerson", inputs, "event")


# ---- the event types ---------------------------------------------------------------------------
def identify(call, event, mapping):
    return {"person": ensure_person(call, event, mapping)}


def group(call, event, mapping):
    group_id = event.get("groupId")
    if not group_id:
        raise StepError("input", "Input 'event.groupId': a group event needs groupId", input_path="event.groupId")
    traits = event.get("traits") or {}
    record = with_external_id(
        mapped(traits, mapping.get("organizationTraits")), mapping.get("groupIdField"), str(group_id)
    )
    if mapping.get("groupIdField"):
        key = {"matchBy": "customField", "matchField": mapping["groupIdField"], "matchValue": str(group_id)}
    else:
        key = {"matchBy": "name", "matchValue": str(traits.get("name") or group_id)}
    inputs = {
        **key,
        "onMultiple": "oldest",
        "record": record,
        "createOnly": {"name": str(traits.get("name") or group_id)},
    }
    organization = run(call, "upsertOrganization", inputs, "event")
    org_id = organization["record"]["id"]
    person = find_person(call, mapping, user_id(event)) if user_id(event, required=False) else None
    link = "no person"
    if person is not None:
        link = "already linked"
        if person.get("org_id") != org_id:
            run(call, "updatePerson", {"id": person["id"], "orgId": org_id}, "event")
            link = "linked"
    return {"organization": organization, "person_id": person and person["id"], "link": link}


def alias(call, event, mapping):
    previous, current = event.get("previousId"), event.get("userId")
    if not previous or not current:
        raise StepError(
            "input",
            "Input 'event.previousId': an alias event needs previousId and userId",
            input_path="event.previousId",
        )
    if not mapping.get("userIdField"):
        raise StepError(
            "input",
            "Input 'mapping.userIdField': alias needs the person field holding the user id",
            input_path="mapping.userIdField",
        )
    old, new = find_person(call, mapping, str(previous)), find_person(call, mapping, str(current))
    if old is None:
        return {"action": "unchanged", "person_id": new and new["id"]}
    if new is None or new["id"] == old["id"]:  # only the old id is known: the person takes the new one
        record = with_external_id({}, mapping["userIdField"], str(current))
        run(call, "updatePerson", {"id": old["id"], **record}, "event")
        return {"action": "renamed", "person_id": old["id"]}
    run(call, "mergePersons", {"id": old["id"], "mergeWithId": new["id"]}, "event")
    return {"action": "merged", "person_id": new["id"], "merged_id": old["id"]}


def track(call, event, mapping):
    name = event.get("event")
    orders = mapping.get("orders") or {}
    if orders.get("enabled") and name == orders.get("event", "Order Completed"):
        return order(call, event, mapping, orders)
    lead = (mapping.get("leads") or {}).get(name)
    if lead is None:
        return {"action": "ignored", "event": name}
    person = ensure_person(call, event, mapping)["record"]
    record = {"title": fill(lead["title"], event), "personId": person["id"]}
    if lead.get("value"):
        amount = fill(lead["value"], event)
        if amount:
            record["value"] = {"amount": number(amount, "event.properties"), "currency": lead.get("currency", "EUR")}
    return {"lead": run(call, "upsertLead", {"matchBy": "title", "record": record}, "mapping.leads")}


def order(call, event, mapping, orders):
    """A deal for the order (upserted by its order id), its products upserted by SKU, one line each."""
    props = event.get("properties") or {}
    person = ensure_person(call, event, mapping)["record"]
    currency = str(props.get("currency") or orders.get("currency", "EUR")).upper()
    record = {"title": fill(orders.get("title", "Order {properties.order_id}"), event), "personId": person["id"]}
    total = props.get("total", props.get("revenue"))
    if total is not None:
        record.update(value=number(total, "event.properties.total"), currency=currency)
    if person.get("org_id"):
        record["orgId"] = person["org_id"]
    if orders.get("orderIdField"):
        record["customFields"] = {orders["orderIdField"]: str(props.get("order_id", ""))}
        key = {"matchBy": "customField", "matchField": orders["orderIdField"]}
    else:
        key = {"matchBy": "title"}
    deal = run(call, "upsertDeal", {**key, "record": record}, "mapping.orders")
    deal_id = deal["record"]["id"]
    have = {line["product_id"] for line in run(call, "getDealProducts", {"id": deal_id, "fetchAll": True}, "event")}
    products, lines = [], 0
    for i, item in enumerate(props.get("products") or []):
        sku = item.get("sku") or item.get("product_id")
        if not sku:
            raise StepError(
                "input",
                f"Input 'event.properties.products[{i}]': a product needs sku",
                input_path=f"event.properties.products[{i}]",
            )
        price = number(item.get("price") or 0, f"event.properties.products[{i}].price")
        product = run(
            call,
            "upsertProduct",
            {
                "matchBy": "code",
                "record": {
                    "name": str(item.get("name") or sku),
                    "code": str(sku),
                    "prices": [{"price": price, "currency": currency}],
                },
            },
            f"event.properties.products[{i}]",
        )
        products.append({"sku": str(sku), "action": product["action"], "id": product["record"]["id"]})
        if product["record"]["id"] not in have:
            line = {"id": deal_id, "productId": product["record"]["id"], "itemPrice": price}
            run(call, "addDealProduct", {**line, "quantity": item.get("quantity") or 1}, "event")
            have.add(product["record"]["id"])
            lines += 1
    return {"deal": deal, "products": products, "lines_added": lines}


HANDLERS = {"identify": identify, "group": group, "alias": alias, "track": track}
