"""Activities on API v2: the person as primary participant, and the list filters v2 dropped.

API v2 ignores `person_id` on writes: a person takes part through
`participants: [{person_id, primary}]`. Its activity list also lost the v1 filters on
type and due date, so the connector applies them to the items it fetched.
"""

import json

from pipedrive_connect.errors import StepError


def _location(call, value):
    """A text address becomes {value}; a JSON object typed into the field is checked and kept."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return {"value": value}
        allowed = call.action.schema["properties"]["location"]["properties"]
        wrong = sorted(k for k, v in value.items() if k not in allowed or not isinstance(v, str))
        if wrong:
            raise StepError(
                "input",
                f"Input 'location': unknown part or not text: {', '.join(wrong)} (parts: {', '.join(allowed)})",
                input_path="location",
            )
        return value
    return {"value": value} if isinstance(value, str) else value


def write_activity(call):
    """addActivity / updateActivity: Person becomes the primary participant; a text location becomes {value}."""
    request = call.wire()
    body = request.body
    person_id = body.pop("person_id", None)
    if person_id is not None:
        others = [dict(p, primary=False) for p in body.get("participants", []) if p.get("person_id") != person_id]
        body["participants"] = [{"person_id": person_id, "primary": True}, *others]
    if "location" in body:
        body["location"] = _location(call, body["location"])
    return call.submit(request)


def _keeps(inputs):
    """A predicate for the type and due-date filters (all optional, dates inclusive)."""
    types = set(inputs.get("type") or [])
    start, end = inputs.get("startDate"), inputs.get("endDate")

    def keep(activity):
        if types and activity.get("type") not in types:
            return False
        if start or end:
            due = (activity.get("due_date") or "")[:10]
            if not due or (start and due < start) or (end and due > end):
                return False
        return True

    return keep


def list_activities(call):
    """getActivities: one page or every page, then the client-side type/date filters."""
    request = call.wire()
    keep = _keeps(call.inputs)
    if call.inputs.get("fetchAll"):
        request.query = {k: v for k, v in request.query.items() if k not in ("cursor", "limit")}
        return call.collect(activity for activity in call.paginate(request) if keep(activity))
    return [activity for activity in call.submit(request) or [] if keep(activity)]
