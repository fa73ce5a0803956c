"""Users, permission sets and account settings (v1), derived from the user records.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the resource named in the route table.
"""

from __future__ import annotations

from ..records import Resource, bad_request, find, paginate, parse_query


def current_user(ctx, res: Resource):
    return ctx.store.get("users", ctx.user_id)


def find_users(ctx, res: Resource):
    term = ctx.args.get("term", "")
    if not term:
        raise bad_request("term is required")
    by_email = parse_query("search_by_email", ctx.args.get("search_by_email", "0"), "bool", False)
    key = "email" if by_email else "name"
    return [u for u in ctx.store.rows("users") if term.lower() in (u.get(key) or "").lower()]


def user_detail(kind: str):
    """Per-user settings reports, all derived from the user record."""

    def handler(ctx, res: Resource, id: str):
        user = find(ctx, res, id)
        admin = any(a.get("admin") for a in user.get("access", []))
        if kind == "permissions":
            return {
                "can_add_products": True,
                "can_delete_deals": admin,
                "can_see_company_wide_statistics": admin,
                "can_use_api": True,
                "can_see_other_users": True,
                "can_merge_deals": True,
                "can_merge_people": True,
                "can_merge_organizations": True,
            }
        if kind == "roleSettings":
            return {
                "deal_default_visibility": 3,
                "org_default_visibility": 3,
                "person_default_visibility": 3,
                "product_default_visibility": 3,
                "deal_access_level": 3,
                "org_access_level": 3,
                "person_access_level": 3,
                "product_access_level": 3,
            }
        page, extra = paginate(
            ctx,
            [
                {
                    "id": user["id"],
                    "user_id": user["id"],
                    "role_id": user.get("role_id") or 1,
                    "parent_role_id": 0,
                    "name": "Sales",
                    "active_flag": True,
                    "type": "2",
                }
            ],
        )
        return page, extra

    return handler


def user_settings(ctx, res: Resource):
    return {
        "marketplace_team": False,
        "list_limit": 500,
        "beta_app": False,
        "prevent_salesphone_callto_override": False,
        "file_upload_destination": "s3",
        "callto_link_syntax": "callto:[number]",
        "autofill_deal_expected_close_date": False,
        "person_duplicate_condition": "name_and_email",
    }


def user_connections(ctx, res: Resource):
    return {"google": None}


def permission_set_assignments(ctx, res: Resource, id: str):
    permission_set = find(ctx, res, id)
    users = [
        u
        for u in ctx.store.rows("users")
        if any(a.get("permission_set_id") == permission_set["id"] for a in u.get("access", []))
    ]
    page, extra = paginate(
        ctx,
        [
            {
                "id": u["id"],
                "user_id": u["id"],
                "permission_set_id": permission_set["id"],
                "name": permission_set["name"],
            }
            for u in users
        ],
    )
    return page, extra


def permitted_users(ctx, res: Resource, id: str):
    find(ctx, res, id)
    return [u["id"] for u in ctx.store.rows("users")]
