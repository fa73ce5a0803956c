"""The route table: every operation the sandbox serves, with its token cost.

Costs are Pipedrive's ``x-token-cost`` values (copied from the action
catalog), entered here as data so the server never reads the spec.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

from werkzeug.routing import Map, Rule

from .handlers import (
    entities,
    files,
    followers,
    history,
    merges,
    reports,
    search,
    unmodelled,
    users,
)
from .records import (
    create_record,
    delete_record,
    get_record,
    list_records,
    update_record,
)


class Route(NamedTuple):
    method: str
    version: str
    path: str
    operation_id: str
    cost: int
    handler: Callable
    table: str | None = None
    search: bool = False  # counted against the lower search burst limit


def _entity_crud(table: str, names: tuple[str, str, str, str, str], costs=(10, 1, 5, 5, 3)) -> list[Route]:
    """The five v2 CRUD routes of an entity: list, get, add, update (PATCH), delete."""
    path = f"/{table}"
    handlers: tuple[Callable, ...] = (list_records, get_record, create_record, update_record, delete_record)
    shapes = (
        ("GET", path),
        ("GET", f"{path}/<id>"),
        ("POST", path),
        ("PATCH", f"{path}/<id>"),
        ("DELETE", f"{path}/<id>"),
    )
    return [
        Route(m, "v2", p, op, cost, h, table)
        for (m, p), op, cost, h in zip(shapes, names, costs, handlers, strict=True)
    ]


def _followers(table: str, entity: str) -> list[Route]:
    base = f"/{table}/<id>/followers"
    return [
        Route("GET", "v2", base, f"get{entity}Followers", 10, followers.list_followers, table),
        Route("POST", "v2", base, f"add{entity}Follower", 5, followers.add_follower, table),
        Route("DELETE", "v2", f"{base}/<follower_id>", f"delete{entity}Follower", 3, followers.delete_follower, table),
    ]


def _fields(table: str, entity: str) -> list[Route]:
    return [
        Route("GET", "v2", f"/{table}", f"get{entity}Fields", 10, list_records, table),
        Route("GET", "v2", f"/{table}/<id>", f"get{entity}Field", 1, get_record, table),
        Route("POST", "v2", f"/{table}", f"add{entity}Field", 5, create_record, table),
        Route("DELETE", "v2", f"/{table}/<id>", f"delete{entity}Field", 3, entities.delete_field, table),
    ]


ROUTES: list[Route] = [
    *_entity_crud("deals", ("getDeals", "getDeal", "addDeal", "updateDeal", "deleteDeal")),
    *_entity_crud("persons", ("getPersons", "getPerson", "addPerson", "updatePerson", "deletePerson")),
    *_entity_crud(
        "organizations",
        ("getOrganizations", "getOrganization", "addOrganization", "updateOrganization", "deleteOrganization"),
    ),
    *_entity_crud("products", ("getProducts", "getProduct", "addProduct", "updateProduct", "deleteProduct")),
    *_entity_crud("activities", ("getActivities", "getActivity", "addActivity", "updateActivity", "deleteActivity")),
    *_entity_crud(
        "pipelines",
        ("getPipelines", "getPipeline", "addPipeline", "updatePipeline", "deletePipeline"),
        costs=(5, 1, 5, 5, 3),
    ),
    *_entity_crud("stages", ("getStages", "getStage", "addStage", "updateStage", "deleteStage"), costs=(5, 1, 5, 5, 3)),
    *_followers("deals", "Deal"),
    *_followers("persons", "Person"),
    *_followers("organizations", "Organization"),
    *_followers("products", "Product"),
    Route("GET", "v2", "/users/<id>/followers", "getUserFollowers", 10, followers.list_followers, "users"),
    *_fields("dealFields", "Deal"),
    *_fields("personFields", "Person"),
    *_fields("organizationFields", "Organization"),
    *_fields("productFields", "Product"),
    Route("GET", "v2", "/activityFields", "getActivityFields", 10, list_records, "activityFields"),
    # deal products (v2) and participants (v1)
    Route("GET", "v2", "/deals/products", "getDealsProducts", 10, history.deals_products, "dealProducts"),
    Route("GET", "v1", "/deals/<id>/flow", "getDealUpdates", 40, history.deal_flow, "deals"),
    Route("GET", "v2", "/deals/<id>/products", "getDealProducts", 10, list_records, "dealProducts"),
    Route("POST", "v2", "/deals/<id>/products", "addDealProduct", 5, create_record, "dealProducts"),
    Route("PATCH", "v2", "/deals/<id>/products/<item_id>", "updateDealProduct", 5, update_record, "dealProducts"),
    Route("DELETE", "v2", "/deals/<id>/products/<item_id>", "deleteDealProduct", 3, delete_record, "dealProducts"),
    Route("GET", "v1", "/deals/<id>/participants", "getDealParticipants", 10, list_records, "dealParticipants"),
    Route("POST", "v1", "/deals/<id>/participants", "addDealParticipant", 10, create_record, "dealParticipants"),
    Route(
        "DELETE",
        "v1",
        "/deals/<id>/participants/<item_id>",
        "deleteDealParticipant",
        6,
        delete_record,
        "dealParticipants",
    ),
    # search (v2)
    Route("GET", "v2", "/deals/search", "searchDeals", 20, search.search_entity, "deals", search=True),
    Route("GET", "v2", "/persons/search", "searchPersons", 20, search.search_entity, "persons", search=True),
    Route(
        "GET",
        "v2",
        "/organizations/search",
        "searchOrganization",
        20,
        search.search_entity,
        "organizations",
        search=True,
    ),
    Route("GET", "v2", "/products/search", "searchProducts", 20, search.search_entity, "products", search=True),
    Route("GET", "v2", "/leads/search", "searchLeads", 20, search.search_entity, "leads", search=True),
    Route("GET", "v2", "/itemSearch", "searchItem", 20, search.search_items, search=True),
    Route("GET", "v2", "/itemSearch/field", "searchItemByField", 20, search.search_by_field, search=True),
    Route("GET", "v1", "/users/find", "findUsersByName", 40, users.find_users, "users", search=True),
    # merges (v1)
    Route("PUT", "v1", "/deals/<id>/merge", "mergeDeals", 40, merges.merge, "deals"),
    Route("PUT", "v1", "/persons/<id>/merge", "mergePersons", 40, merges.merge, "persons"),
    Route("PUT", "v1", "/organizations/<id>/merge", "mergeOrganizations", 40, merges.merge, "organizations"),
    # files (v1)
    Route("GET", "v1", "/files", "getFiles", 20, list_records, "files"),
    Route("POST", "v1", "/files", "addFile", 10, files.upload_file, "files"),
    Route("GET", "v1", "/files/<id>", "getFile", 2, get_record, "files"),
    Route("PUT", "v1", "/files/<id>", "updateFile", 10, update_record, "files"),
    Route("DELETE", "v1", "/files/<id>", "deleteFile", 6, delete_record, "files"),
    Route("GET", "v1", "/files/<id>/download", "downloadFile", 20, files.download_file, "files"),
    Route("GET", "v1", "/deals/<id>/files", "getDealFiles", 20, files.entity_files, "deals"),
    Route("GET", "v1", "/persons/<id>/files", "getPersonFiles", 20, files.entity_files, "persons"),
    Route("GET", "v1", "/organizations/<id>/files", "getOrganizationFiles", 20, files.entity_files, "organizations"),
    Route("GET", "v1", "/products/<id>/files", "getProductFiles", 20, files.entity_files, "products"),
    # notes (v1)
    Route("GET", "v1", "/notes", "getNotes", 20, list_records, "notes"),
    Route("POST", "v1", "/notes", "addNote", 10, create_record, "notes"),
    Route("GET", "v1", "/notes/<id>", "getNote", 2, get_record, "notes"),
    Route("PUT", "v1", "/notes/<id>", "updateNote", 10, update_record, "notes"),
    Route("DELETE", "v1", "/notes/<id>", "deleteNote", 6, delete_record, "notes"),
    Route("GET", "v1", "/noteFields", "getNoteFields", 20, list_records, "noteFields"),
    # leads (v1)
    Route("GET", "v1", "/leads", "getLeads", 20, list_records, "leads"),
    Route("POST", "v1", "/leads", "addLead", 10, create_record, "leads"),
    Route("GET", "v1", "/leads/<id>", "getLead", 2, get_record, "leads"),
    Route("PATCH", "v1", "/leads/<id>", "updateLead", 10, update_record, "leads"),
    Route("DELETE", "v1", "/leads/<id>", "deleteLead", 6, delete_record, "leads"),
    Route("GET", "v1", "/leadLabels", "getLeadLabels", 10, list_records, "leadLabels"),
    Route("POST", "v1", "/leadLabels", "addLeadLabel", 10, create_record, "leadLabels"),
    Route("PATCH", "v1", "/leadLabels/<id>", "updateLeadLabel", 10, update_record, "leadLabels"),
    Route("DELETE", "v1", "/leadLabels/<id>", "deleteLeadLabel", 6, delete_record, "leadLabels"),
    Route("GET", "v1", "/leadSources", "getLeadSources", 2, list_records, "leadSources"),
    # call logs (v1)
    Route("GET", "v1", "/callLogs", "getUserCallLogs", 20, list_records, "callLogs"),
    Route("POST", "v1", "/callLogs", "addCallLog", 10, create_record, "callLogs"),
    Route("GET", "v1", "/callLogs/<id>", "getCallLog", 2, get_record, "callLogs"),
    Route("DELETE", "v1", "/callLogs/<id>", "deleteCallLog", 6, delete_record, "callLogs"),
    # users, account and settings (v1)
    Route("GET", "v1", "/users", "getUsers", 20, list_records, "users"),
    Route("GET", "v1", "/users/me", "getCurrentUser", 2, users.current_user, "users"),
    Route("GET", "v1", "/users/<id>", "getUser", 2, get_record, "users"),
    Route("GET", "v1", "/users/<id>/permissions", "getUserPermissions", 10, users.user_detail("permissions"), "users"),
    Route(
        "GET",
        "v1",
        "/users/<id>/roleAssignments",
        "getUserRoleAssignments",
        10,
        users.user_detail("roleAssignments"),
        "users",
    ),
    Route(
        "GET", "v1", "/users/<id>/roleSettings", "getUserRoleSettings", 10, users.user_detail("roleSettings"), "users"
    ),
    Route("GET", "v1", "/userSettings", "getUserSettings", 2, users.user_settings),
    Route("GET", "v1", "/userConnections", "getUserConnections", 20, users.user_connections),
    Route("GET", "v1", "/permissionSets", "getPermissionSets", 20, list_records, "permissionSets"),
    Route("GET", "v1", "/permissionSets/<id>", "getPermissionSet", 2, get_record, "permissionSets"),
    Route(
        "GET",
        "v1",
        "/permissionSets/<id>/assignments",
        "getPermissionSetAssignments",
        20,
        users.permission_set_assignments,
        "permissionSets",
    ),
    Route("GET", "v1", "/currencies", "getCurrencies", 20, list_records, "currencies"),
    Route("GET", "v1", "/activityTypes", "getActivityTypes", 20, list_records, "activityTypes"),
    Route("GET", "v1", "/filters", "getFilters", 20, list_records, "filters"),
    Route("GET", "v1", "/filters/<id>", "getFilter", 2, get_record, "filters"),
    Route("PUT", "v1", "/filters/<id>", "updateFilter", 10, update_record, "filters"),
    Route("GET", "v1", "/billing/subscriptions/addons", "getCompanyAddons", 20, unmodelled.empty_list),
    # entity extras (v1)
    Route("GET", "v1", "/deals/<id>/permittedUsers", "getDealUsers", 10, users.permitted_users, "deals"),
    Route("GET", "v1", "/persons/<id>/permittedUsers", "getPersonUsers", 10, users.permitted_users, "persons"),
    Route(
        "GET",
        "v1",
        "/organizations/<id>/permittedUsers",
        "getOrganizationUsers",
        10,
        users.permitted_users,
        "organizations",
    ),
    Route("GET", "v1", "/products/<id>/permittedUsers", "getProductUsers", 10, users.permitted_users, "products"),
    Route("GET", "v1", "/persons/<id>/flow", "getPersonUpdates", 40, entities.flow, "persons"),
    Route("GET", "v1", "/organizations/<id>/flow", "getOrganizationUpdates", 40, entities.flow, "organizations"),
    Route("GET", "v1", "/products/<id>/deals", "getProductDeals", 20, entities.product_deals, "products"),
    Route("GET", "v1", "/persons/<id>/products", "getPersonProducts", 20, entities.person_products, "persons"),
    Route("DELETE", "v1", "/persons/<id>/picture", "deletePersonPicture", 6, entities.delete_picture, "persons"),
    Route("GET", "v1", "/deals/summary", "getDealsSummary", 40, reports.deals_summary, "deals"),
    Route("GET", "v1", "/deals/timeline", "getDealsTimeline", 20, reports.deals_timeline, "deals"),
    Route(
        "GET",
        "v1",
        "/pipelines/<id>/conversion_statistics",
        "getPipelineConversionStatistics",
        40,
        reports.pipeline_statistics("conversion"),
        "pipelines",
    ),
    Route(
        "GET",
        "v1",
        "/pipelines/<id>/movement_statistics",
        "getPipelineMovementStatistics",
        40,
        reports.pipeline_statistics("movement"),
        "pipelines",
    ),
    # mailbox (not modelled: empty lists, unknown items)
    Route("GET", "v1", "/deals/<id>/mailMessages", "getDealMailMessages", 20, unmodelled.empty_list, "deals"),
    Route("GET", "v1", "/persons/<id>/mailMessages", "getPersonMailMessages", 20, unmodelled.empty_list, "persons"),
    Route(
        "GET",
        "v1",
        "/organizations/<id>/mailMessages",
        "getOrganizationMailMessages",
        20,
        unmodelled.empty_list,
        "organizations",
    ),
    Route("GET", "v1", "/mailbox/mailThreads", "getMailThreads", 20, unmodelled.empty_list),
    Route("GET", "v1", "/mailbox/mailThreads/<id>", "getMailThread", 20, unmodelled.unknown_item),
    Route("DELETE", "v1", "/mailbox/mailThreads/<id>", "deleteMailThread", 6, unmodelled.unknown_item),
    Route("GET", "v1", "/mailbox/mailThreads/<id>/mailMessages", "getMailThreadMessages", 20, unmodelled.unknown_item),
    Route("GET", "v1", "/mailbox/mailMessages/<id>", "getMailMessage", 2, unmodelled.unknown_item),
]


@functools.cache
def build_map() -> Map:
    """v1 answers under /api/v1 and /v1; v2 only under /api/v2.

    Built once per process: compiling the rules is the slowest part of
    starting a sandbox, and a Map is read-only once built.
    """
    rules = []
    for index, route in enumerate(ROUTES):
        prefixes = ("/api/v1", "/v1") if route.version == "v1" else ("/api/v2",)
        rules += [Rule(prefix + route.path, methods=[route.method], endpoint=index) for prefix in prefixes]
    return Map(rules, strict_slashes=False, merge_slashes=False)
