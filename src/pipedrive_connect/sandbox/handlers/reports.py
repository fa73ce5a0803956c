"""Reports over deals (v1): summary, timeline and pipeline statistics.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from ..records import Resource, bad_request, find, parse_query
from ..resources import v1_view


def _totals(deals: list[dict]) -> dict:
    totals: dict = {}
    for d in deals:
        t = totals.setdefault(
            d["currency"],
            {"value": 0, "count": 0, "value_converted": 0, "value_formatted": "", "value_converted_formatted": ""},
        )
        t["value"] += d["value"]
        t["count"] += 1
        t["value_converted"] += d["value"]
    return totals


def deals_summary(ctx, res: Resource):
    status = ctx.args.get("status")
    deals = [d for d in ctx.store.rows("deals") if not status or d["status"] == status]
    for name in ("user_id", "stage_id", "pipeline_id"):
        if ctx.args.get(name):
            key = "owner_id" if name == "user_id" else name
            value = parse_query(name, ctx.args[name], "int", False)
            deals = [d for d in deals if d.get(key) == value]
    weighted = _totals([{**d, "value": d["value"] * (d.get("probability") or 100) / 100} for d in deals])
    return {
        "values_total": _totals(deals),
        "weighted_values_total": weighted,
        "total_count": len(deals),
        "total_currency_converted_value": sum(d["value"] for d in deals),
        "total_weighted_currency_converted_value": sum(t["value"] for t in weighted.values()),
        "total_currency_converted_value_formatted": "",
        "total_weighted_currency_converted_value_formatted": "",
    }


def deals_timeline(ctx, res: Resource):
    """Deals grouped into consecutive day/week/month/quarter periods by a date field."""
    for name in ("start_date", "interval", "amount", "field_key"):
        if not ctx.args.get(name):
            raise bad_request(f"{name} is required")
    start = date.fromisoformat(parse_query("start_date", ctx.args["start_date"], "date", False))
    amount = parse_query("amount", ctx.args["amount"], "int", False)
    interval = ctx.args["interval"]
    if interval not in ("day", "week", "month", "quarter"):
        raise bad_request("interval must be one of: day, week, month, quarter")
    key = ctx.args["field_key"]
    periods = []
    for _ in range(amount):
        end = _period_end(start, interval)
        deals = [
            v1_view("deals", d)
            for d in ctx.store.rows("deals")
            if start.isoformat() <= str(d.get(key) or "")[:10] <= end.isoformat()
        ]
        periods.append(
            {
                "period_start": f"{start} 00:00:00",
                "period_end": f"{end} 23:59:59",
                "deals": deals,
                "totals": {"count": len(deals), "values": _totals(deals)},
            }
        )
        start = end + timedelta(days=1)
    return periods


def _period_end(start: date, interval: str) -> date:
    if interval == "day":
        return start
    if interval == "week":
        return start + timedelta(days=6)
    months = 1 if interval == "month" else 3
    year, month = start.year + (start.month - 1 + months) // 12, (start.month - 1 + months) % 12 + 1
    return date(year, month, min(start.day, 28)) - timedelta(days=1)  # the day before the same day next period


def pipeline_statistics(kind: str):
    def handler(ctx, res: Resource, id: str):
        pipeline = find(ctx, res, id)
        for name in ("start_date", "end_date"):
            if not ctx.args.get(name):
                raise bad_request(f"{name} is required")
        deals = [d for d in ctx.store.rows("deals") if d["pipeline_id"] == pipeline["id"]]
        statuses = Counter(d["status"] for d in deals)
        total = len(deals) or 1
        if kind == "conversion":
            stages = sorted(
                (s for s in ctx.store.rows("stages") if s["pipeline_id"] == pipeline["id"]), key=lambda s: s["order_nr"]
            )
            return {
                "stage_conversions": [
                    {"from_stage_id": a["id"], "to_stage_id": b["id"], "conversion_rate": 0}
                    for a, b in zip(stages, stages[1:], strict=False)
                ],
                "won_conversion": round(100 * statuses["won"] / total),
                "lost_conversion": round(100 * statuses["lost"] / total),
            }
        return {
            "movements_between_stages": {"count": 0},
            "new_deals": {"count": len(deals), "deals_ids": [d["id"] for d in deals], "values": _totals(deals)},
            "deals_left_open": {"count": statuses["open"]},
            "won_deals": {"count": statuses["won"]},
            "lost_deals": {"count": statuses["lost"]},
            "average_age_in_days": {"across_all_stages": 0, "by_stages": []},
        }

    return handler
