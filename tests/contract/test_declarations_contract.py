"""The declarations in actions/*.yaml and datasources/*.yaml agree with Pipedrive's official spec:
each operation exists under the declared API version with the declared method, path and token cost.

With the schemas' examples checked by test_actions_contract.py, the declarations plus the official
spec are the whole truth about an action; no outside catalog is needed.
"""

from __future__ import annotations

import functools

import pytest
import yaml

from pipedrive_connect.bundle import Bundle

from ..support.openapi import requires_spec, spec_dir

BUNDLE = Bundle.load()
DECLARED = sorted(k for k, a in BUNDLE.actions.items() if not a.removed and a.operation)
METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def operations(version: str) -> dict[str, tuple[str, str, int | None]]:
    """operationId -> (METHOD, path, x-token-cost) in one version of the spec."""
    with open(spec_dir() / f"{version}.yaml", encoding="utf-8") as fh:
        spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {
        op["operationId"]: (method.upper(), path, op.get("x-token-cost"))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS and isinstance(op, dict) and "operationId" in op
    }


def test_declared_actions_name_their_operation():
    assert DECLARED and all(BUNDLE.action(k).api in ("v1", "v2") for k in DECLARED)


@requires_spec
@pytest.mark.parametrize("key", DECLARED)
def test_declaration_matches_the_official_operation(key):
    action = BUNDLE.action(key)
    official = operations(action.api).get(action.operation)
    assert official, f"{key}: operation {action.operation} is not in the {action.api} spec"
    method, path, cost = official
    assert (action.method, action.path) == (method, path), f"{key}: declared {action.method} {action.path}"
    assert action.cost == cost, f"{key}: declared cost {action.cost}, the spec's x-token-cost is {cost}"


@requires_spec
@pytest.mark.parametrize("key", sorted(BUNDLE.datasources))
def test_picklist_lists_an_official_path(key):
    source = BUNDLE.datasource(key)
    gets = {path for method, path, _ in operations(source.api).values() if method == "GET"}
    assert source.path in gets, f"{key}: GET {source.path} is not in the {source.api} spec"
    if source.decl.get("search_path"):
        assert source.decl["search_path"] in gets
