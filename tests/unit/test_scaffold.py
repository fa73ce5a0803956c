"""`pipedrive-connect new-action`: a skeleton from the official spec that loads, and a request case that passes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import responses
import yaml

from pipedrive_connect.bundle import Bundle, default_root
from pipedrive_connect.cli import main
from pipedrive_connect.client import RetrySettings
from pipedrive_connect.limits import RateLimiter
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.scaffold import TODO, ScaffoldError, new_action

from ..conftest import BASE
from ..support.openapi import requires_spec, spec_dir
from .test_action_requests import assert_request
from .test_bundle_wide import unwritten


@pytest.fixture
def copy(tmp_path) -> Path:
    root = default_root()
    shutil.copy(root / "connector.yaml", tmp_path / "connector.yaml")
    for folder in ("actions", "datasources", "connections", "schemas", "tests/requests"):
        shutil.copytree(root / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _cases(root: Path, resource: str) -> dict:
    return yaml.safe_load((root / "tests" / "requests" / f"{resource}.yaml").read_text(encoding="utf-8"))


@requires_spec
def test_an_operation_the_bundle_lacks_becomes_an_action_that_loads(copy):
    # postAdditionalDiscount (v2 POST /deals/{id}/discounts) is declared as addDealDiscount; a second key
    # for it still scaffolds, with a note saying which action already calls it
    written = new_action(copy, "postAdditionalDiscount", key="addDiscountToDeal", resource="deals", spec=spec_dir())
    assert written.notes == ["addDealDiscount already calls postAdditionalDiscount"]
    assert [p.relative_to(copy).as_posix() for p in written.files] == [
        "actions/deals.yaml",
        "schemas/addDiscountToDeal.json",
        "tests/requests/deals.yaml",
    ]
    bundle = Bundle.load(copy, check=True)
    action = bundle.action("addDiscountToDeal")
    assert (action.api, action.method, action.path, action.operation, action.cost) == (
        "v2",
        "POST",
        "/deals/{id}/discounts",
        "postAdditionalDiscount",
        5,
    )
    assert action.decl["description"] == TODO and action.label == "Add Discount To Deal"
    schema = json.loads((copy / "schemas" / "addDiscountToDeal.json").read_text())
    assert schema["required"] == ["id", "description", "amount", "type"]
    assert schema["properties"]["type"]["enum"] == ["percentage", "amount"]
    assert {p.name: p.location for p in action.params if p.name != "debugRequest"} == {
        "id": "path",
        "description": "body",
        "amount": "body",
        "type": "body",
    }
    # titles and descriptions are left to a person; the spec's wording is not copied
    assert all(prop["title"] == TODO and prop["description"] == TODO for prop in schema["properties"].values())
    assert "discount amount" not in json.dumps(schema).lower()
    assert unwritten(bundle, "addDiscountToDeal")  # so test_bundle_wide fails until they are written
    # the earlier actions of the file are untouched
    assert set(Bundle.load().actions) < set(bundle.actions)


@requires_spec
def test_the_request_case_it_writes_passes(copy, connection, tmp_path):
    # both operations are declared already (getArchivedDeals, addDealDiscount): new keys scaffold them again
    new_action(copy, "getArchivedDeals", key="listArchivedDeals", resource="deals", spec=spec_dir())
    new_action(copy, "postAdditionalDiscount", key="addDiscountToDeal", resource="deals", spec=spec_dir())
    bundle = Bundle.load(copy, check=True)
    assert bundle.action("listArchivedDeals").paging == "cursor"
    runtime = Runtime(
        bundle, connection, out_dir=tmp_path / "out", retry=RetrySettings.none(), limiter=RateLimiter(limit=100_000)
    )
    cases = _cases(copy, "deals")
    for key in ("listArchivedDeals", "addDiscountToDeal"):
        (case,) = cases[key]
        with responses.RequestsMock() as rsps:
            rsps.add(case["request"]["method"], BASE + case["request"]["path"], json=case["response"]["json"])
            outcome = runtime.run(key, inputs=case["inputs"])
            assert outcome.route == "success", outcome.error and outcome.error.to_dict()
            assert_request(rsps.calls[0].request, case["request"])


@requires_spec
def test_a_v1_only_operation_gets_a_new_resource_file(copy):
    # addTeam (v1 only, deprecated) is one no action calls, whatever the catalog covers
    new_action(copy, "addTeam", spec=spec_dir())
    bundle = Bundle.load(copy, check=True)
    action = bundle.action("addTeam")
    assert (action.api, action.resource, action.method) == ("v1", "legacyTeams", "POST")
    assert "addTeam" in _cases(copy, "legacyTeams")


@requires_spec
def test_a_body_whose_parts_repeat_a_required_name_scaffolds(copy):
    # addManyDealProducts' item schema is an allOf whose parts both require product_id, item_price, quantity
    new_action(copy, "addManyDealProducts", key="addDealProductsInBulk", resource="deals", spec=spec_dir())
    schema = json.loads((copy / "schemas" / "addDealProductsInBulk.json").read_text())
    assert sorted(schema["properties"]["data"]["items"]["required"]) == ["item_price", "product_id", "quantity"]
    assert Bundle.load(copy, check=True).action("addDealProductsInBulk").operation == "addManyDealProducts"


@requires_spec
def test_an_existing_key_is_refused_and_nothing_changes(copy):
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with pytest.raises(ScaffoldError, match="action 'addDeal' already exists"):
        new_action(copy, "postAdditionalDiscount", key="addDeal", spec=spec_dir())
    with pytest.raises(ScaffoldError, match="action 'getDeals' already exists"):
        new_action(copy, "getDeals", spec=spec_dir())
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


@requires_spec
def test_an_unknown_operation_is_refused(copy):
    with pytest.raises(ScaffoldError, match="'noSuchOperation' is in neither the v2 nor the v1 spec"):
        new_action(copy, "noSuchOperation", spec=spec_dir())


def test_a_missing_spec_is_refused(copy, tmp_path):
    with pytest.raises(ScaffoldError, match="official spec not found"):
        new_action(copy, "postAdditionalDiscount", spec=tmp_path / "nowhere")


@requires_spec
def test_command_line(copy, capsys):
    code = main(
        [
            "new-action",
            "postAdditionalDiscount",
            "--key",
            "addDiscountToDeal",
            "--resource",
            "deals",
            "--bundle",
            str(copy),
            "--spec-dir",
            str(spec_dir()),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "wrote schemas/addDiscountToDeal.json" in out and "TODO" in out
    assert (
        main(
            [
                "new-action",
                "postAdditionalDiscount",
                "--key",
                "addDiscountToDeal",
                "--bundle",
                str(copy),
                "--spec-dir",
                str(spec_dir()),
            ]
        )
        == 2
    )
    assert "already exists" in capsys.readouterr().err
