"""Goals (v1): targets for a user, a team or the company, and their progress counted from the store.

Goal ids are strings of hex digits, as in Pipedrive. Progress counts the sandbox's own deals and
activities in the asked period: won deals by won time, started deals and added activities by add
time, completed activities by done time, progressed deals by the time they reached the goal's
stage, and the revenue forecast by the expected close date of open deals.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..records import DATE, Resource, bad_request, check_value, find, parse_query

GOAL_TYPES = (
    "deals_won",
    "deals_progressed",
    "activities_completed",
    "activities_added",
    "deals_started",
    "revenue_forecast",
)
INTERVALS = ("weekly", "monthly", "quarterly", "yearly")

GOALS = Resource("goals", "v1", label="Goal", id_type="str", fields={}, paginated=False)
RESOURCES = [GOALS]


def _number(name: str, value):
    value = check_value(name, value, "number", False)
    return int(value) if float(value).is_integer() else value


def _ints_or_null(name: str, value):
    return None if value is None else check_value(name, value, "ints", False)


def _date(name: str, value, nullable: bool = False):
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not DATE.match(value):
        raise bad_request(f"{name} must be a date (YYYY-MM-DD)")
    return value


def _parts(body: dict, current: dict | None) -> dict:
    """The goal's parts from a request body; an update keeps the parts it does not send."""
    goal = dict(current or {})
    if "title" in body:
        goal["title"] = check_value("title", body["title"], "str", False)
    if "assignee" in body:
        assignee = check_value("assignee", body["assignee"], "dict", False)
        goal["assignee"] = {
            "id": check_value("assignee.id", assignee.get("id"), "int", False),
            "type": check_value("assignee.type", assignee.get("type"), "enum:person|company|team", False),
        }
    if "type" in body:
        kind = check_value("type", body["type"], "dict", False)
        params = check_value("type.params", kind.get("params") or {}, "dict", False)
        clean = {k: _ints_or_null(f"type.params.{k}", params.get(k)) for k in ("pipeline_id", "activity_type_id")}
        if params.get("stage_id") is not None:
            clean["stage_id"] = check_value("type.params.stage_id", params["stage_id"], "int", False)
        goal["type"] = {
            "name": check_value("type.name", kind.get("name"), "enum:" + "|".join(GOAL_TYPES), False),
            "params": clean,
        }
    if "expected_outcome" in body:
        outcome = check_value("expected_outcome", body["expected_outcome"], "dict", False)
        goal["expected_outcome"] = {
            "target": _number("expected_outcome.target", outcome.get("target")),
            "tracking_metric": check_value(
                "expected_outcome.tracking_metric", outcome.get("tracking_metric"), "enum:quantity|sum", False
            ),
        }
        if outcome.get("currency_id") is not None:
            goal["expected_outcome"]["currency_id"] = check_value(
                "expected_outcome.currency_id", outcome["currency_id"], "int", False
            )
    if "duration" in body:
        duration = check_value("duration", body["duration"], "dict", False)
        goal["duration"] = {
            "start": _date("duration.start", duration.get("start")),
            "end": _date("duration.end", duration.get("end"), nullable=True),
        }
    if "interval" in body:
        goal["interval"] = check_value("interval", body["interval"], "enum:" + "|".join(INTERVALS), False)
    return goal


def _lookup(goal: dict, dotted: str):
    value: Any = goal
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def add_goal(ctx, res: Resource):
    goal = _parts(ctx.body(), None)
    missing = [k for k in ("assignee", "type", "expected_outcome", "duration", "interval") if k not in goal]
    if missing:
        raise bad_request(f"Missing required field(s): {', '.join(missing)}")
    with ctx.store.lock:
        goal_id = hashlib.sha1(f"goal:{ctx.store.new_id('goalIds')}".encode()).hexdigest()[:32]
        goal = {"id": goal_id, "owner_id": ctx.user_id, "title": "", **goal, "is_active": True, "report_ids": []}
        ctx.store.insert(res.name, goal)
    return {"goal": goal}


def find_goals(ctx, res: Resource):
    goals = ctx.store.rows(res.name)
    active = parse_query("is_active", ctx.args.get("is_active", "true"), "bool", False)
    goals = [g for g in goals if g["is_active"] == active]
    for name, kind in (
        ("type.name", "str"),
        ("title", "str"),
        ("assignee.id", "int"),
        ("assignee.type", "str"),
        ("expected_outcome.target", "number"),
        ("expected_outcome.tracking_metric", "str"),
        ("expected_outcome.currency_id", "int"),
        ("type.params.stage_id", "int"),
    ):
        if ctx.args.get(name):
            wanted = parse_query(name, ctx.args[name], kind, False)
            goals = [g for g in goals if _lookup(g, name) == wanted]
    for name in ("type.params.pipeline_id", "type.params.activity_type_id"):
        if ctx.args.get(name):
            wanted = set(parse_query(name, ctx.args[name], "ints", False))
            goals = [g for g in goals if wanted <= set(_lookup(g, name) or [])]
    start, end = ctx.args.get("period.start"), ctx.args.get("period.end")
    if bool(start) != bool(end):
        raise bad_request("period.start and period.end go together")
    if start and end:
        start, end = _date("period.start", start), _date("period.end", end)
        goals = [g for g in goals if g["duration"]["start"] <= end and (g["duration"]["end"] or "9999") >= start]
    return {"goals": goals}


def update_goal(ctx, res: Resource, id: str):
    goal = find(ctx, res, id)
    with ctx.store.lock:
        goal = ctx.store.update(res.name, goal["id"], _parts(ctx.body(), goal))
    return {"goal": goal}


def delete_goal(ctx, res: Resource, id: str):
    goal = find(ctx, res, id)
    ctx.store.delete(res.name, goal["id"])
    return True


def _day(stamp) -> str:
    return str(stamp or "")[:10]


def _progress(ctx, goal: dict, start: str, end: str):
    kind, params = goal["type"]["name"], goal["type"].get("params") or {}
    owner = goal["assignee"]["id"] if goal["assignee"]["type"] == "person" else None
    pipelines = set(params.get("pipeline_id") or [])
    if kind.startswith("activities"):
        type_keys = {
            t["key_string"]
            for t in ctx.store.rows("activityTypes")
            if t["id"] in (params.get("activity_type_id") or [])
        }
        stamp = "marked_as_done_time" if kind == "activities_completed" else "add_time"
        items = [
            a
            for a in ctx.store.rows("activities")
            if (owner is None or a.get("owner_id") == owner)
            and (not type_keys or a.get("type") in type_keys)
            and (kind == "activities_added" or a.get("done"))
            and start <= _day(a.get(stamp)) <= end
        ]
        return len(items)
    rules = {
        "deals_won": lambda d: d.get("status") == "won" and start <= _day(d.get("won_time")) <= end,
        "deals_started": lambda d: start <= _day(d.get("add_time")) <= end,
        "deals_progressed": lambda d: (
            d.get("stage_id") == params.get("stage_id") and start <= _day(d.get("stage_change_time")) <= end
        ),
        "revenue_forecast": lambda d: d.get("status") == "open" and start <= _day(d.get("expected_close_date")) <= end,
    }
    deals = [
        d
        for d in ctx.store.rows("deals")
        if (owner is None or d.get("owner_id") == owner)
        and (not pipelines or d.get("pipeline_id") in pipelines)
        and rules[kind](d)
    ]
    if goal["expected_outcome"]["tracking_metric"] == "sum" or kind == "revenue_forecast":
        return round(sum(d.get("value") or 0 for d in deals))
    return len(deals)


def goal_result(ctx, res: Resource, id: str):
    goal = find(ctx, res, id)
    start, end = ctx.args.get("period.start"), ctx.args.get("period.end")
    if not start or not end:
        raise bad_request("period.start and period.end are required")
    start, end = _date("period.start", start), _date("period.end", end)
    return {"progress": _progress(ctx, goal, start, end), "goal": goal}
