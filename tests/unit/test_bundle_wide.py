"""Checks generated from the manifest: every action is complete, documented, and tested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipedrive_connect.bundle import Bundle
from pipedrive_connect.inputs import validation_error
from pipedrive_connect.reference import render

BUNDLE = Bundle.load()
WORKING = sorted(k for k, a in BUNDLE.actions.items() if not a.removed)
# the actions and input names of the components this connector replaces (where from: the file's header)
SEED = yaml.safe_load((Path(__file__).resolve().parents[1] / "data" / "seed_inputs.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", WORKING)
def test_every_input_has_a_title_and_description(key):
    for name, prop in BUNDLE.action(key).schema["properties"].items():
        assert prop.get("title"), f"{key}.{name} has no title"
        assert prop.get("description"), f"{key}.{name} has no description"


@pytest.mark.parametrize("key", WORKING)
def test_examples_are_complete_inputs_that_validate(key):
    action = BUNDLE.action(key)
    examples = action.schema.get("examples")
    assert examples, f"{key} has no example"
    for example in examples:
        assert validation_error(action.validator, example) is None


@pytest.mark.parametrize("key", WORKING)
def test_declares_its_operation(key):
    action = BUNDLE.action(key)
    if action.decl.get("handler") in ("raw:raw_request", "events:handle_event"):
        return  # any endpoint; several actions of the bundle, each declaring its own
    assert action.api in ("v1", "v2") and action.method and action.path and action.operation
    assert action.cost > 0


@pytest.mark.parametrize("key", WORKING)
def test_list_actions_page_with_the_largest_page(key):
    action = BUNDLE.action(key)
    if action.paging:
        assert action.schema["properties"]["limit"]["maximum"] == action.page_size
        assert {"fetchAll", "maxItems"} <= set(action.schema["properties"])


def test_every_seed_action_is_still_declared():
    """A flow built on an older component's action finds it here (working, or removed with a reason)."""
    assert not sorted(set(SEED) - set(BUNDLE.actions))


def test_every_seed_input_is_offered():
    """Each input name an older component offered is an input or an old name (x-deprecated-alias)."""
    missing = []
    for key, seed in SEED.items():
        action = BUNDLE.action(key)
        if action.removed:
            continue
        props = action.schema["properties"]
        offered = set(props) | {prop.get("x-deprecated-alias") for prop in props.values()}
        missing += [f"{key}.{name}" for name in seed["required"] + seed["optional"] if name not in offered]
    assert not missing, f"seed inputs neither offered nor explained as dropped: {missing}"


def unwritten(bundle: Bundle, key: str) -> list[str]:
    """Where an action still says TODO (left by `pipedrive-connect new-action` for a person to write)."""
    action = bundle.action(key)
    found = [f"{key}.{part}" for part in ("label", "description") if "TODO" in action.decl.get(part, "")]
    found += [
        f"{key}.{name}"
        for name, prop in action.schema["properties"].items()
        if "TODO" in str(prop.get("title", "")) + str(prop.get("description", ""))
    ]
    return found


@pytest.mark.parametrize("key", WORKING)
def test_no_title_or_description_is_left_to_write(key):
    assert not unwritten(BUNDLE, key), "write the titles and descriptions new-action left as TODO"


def test_datasources_named_by_inputs_exist():
    used = {prop.get("x-datasource") for key in WORKING for prop in BUNDLE.action(key).schema["properties"].values()}
    used.discard(None)
    assert used and used <= set(BUNDLE.datasources)


def test_generated_reference_is_current():
    doc = Path(BUNDLE.root) / "docs" / "actions.md"
    if not doc.exists():
        pytest.skip("docs/ is not shipped with an installed package")
    assert doc.read_text(encoding="utf-8") == render(BUNDLE), "run `pipedrive-connect docs` and commit docs/actions.md"


def test_readme_counts_are_current():
    readme = Path(BUNDLE.root) / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not shipped with an installed package")
    text = readme.read_text(encoding="utf-8")
    assert f"**{len(WORKING)} actions**" in text and f"**{len(BUNDLE.datasources)} picklists**" in text


def _objects(schema, where):
    """Every object-typed schema inside an input's schema, with where it is."""
    if not isinstance(schema, dict):
        return
    types = schema.get("type", [])
    if "object" in ([types] if isinstance(types, str) else types):
        yield where, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _objects(sub, f"{where}.{name}")
    for keyword in ("items", "additionalProperties"):
        yield from _objects(schema.get(keyword), f"{where}[]")


@pytest.mark.parametrize("key", WORKING)
def test_nested_objects_say_which_keys_they_take(key):
    """An object input lists its parts and refuses others, or says explicitly that it is open."""
    for name, prop in BUNDLE.action(key).schema["properties"].items():
        for where, schema in _objects(prop, name):
            assert "additionalProperties" in schema, f"{key}: {where} takes any key; declare its parts"


# One name per concept across actions (old names live on as x-deprecated-alias for a release).
CONCEPTS = {
    "ownerId": lambda param, prop: prop.get("title") == "Owner",
    "orgId": lambda param, prop: param.wire in ("org_id", "organization_id") and param.name != "id",
    "emails": lambda param, prop: param.wire == "emails",
    "phones": lambda param, prop: param.wire == "phones",
    "isDealProbabilityEnabled": lambda param, prop: param.wire == "is_deal_probability_enabled",
}


@pytest.mark.parametrize("key", WORKING)
def test_inputs_that_mean_the_same_have_the_same_name(key):
    action = BUNDLE.action(key)
    for param in action.params:
        prop = action.schema["properties"][param.name]
        for name, means in CONCEPTS.items():
            if means(param, prop):
                assert param.name == name, f"{key}.{param.name} should be called {name}"


# Add and update of one resource share what they say about an input once, in schemas/_defs.json under
# `<resource>.<input>` (e.g. `deal.title`); beside that $ref each action writes only what is its own.
PAIRS = sorted(key[3:] for key in WORKING if key.startswith("add") and f"update{key[3:]}" in WORKING)


def raw_inputs(key: str) -> dict:
    return json.loads(BUNDLE.action(key).schema_file.read_text(encoding="utf-8"))["properties"]


@pytest.mark.parametrize("resource", PAIRS)
def test_add_and_update_write_what_they_share_once(resource):
    """A keyword both actions give the same value must come from a definition, not be written in either file:
    a property copied from add<R> into update<R> (or written again beside the $ref) fails here."""
    add, update = raw_inputs(f"add{resource}"), raw_inputs(f"update{resource}")
    copied = []
    for name in [n for n in add if n in update]:
        ours = [BUNDLE.inline_refs(node, name) for node in (add[name], update[name])]
        same = {k for k in ours[0] if k in ours[1] and ours[0][k] == ours[1][k]}
        copied += [f"{name}.{k}" for k in sorted(same) if k in add[name] or k in update[name]]
    assert not copied, (
        f"add{resource} and update{resource} both write {copied}: move what they share to "
        f"schemas/_defs.json as `{resource[0].lower() + resource[1:]}.<input>` and $ref it"
    )


def test_resource_definitions_are_used_by_their_add_and_update():
    """A `<resource>.<input>` definition is the shared part of add<R>.<input> and update<R>.<input>: both use it,
    and it is not the same as another resource's (that is a general definition: `name`, `title`...)."""
    unused = []
    for name in (n for n in BUNDLE.defs if "." in n):
        resource, _, field = name.partition(".")
        ref = f"_defs.json#/$defs/{name}"
        for key in (f"add{resource[0].upper() + resource[1:]}", f"update{resource[0].upper() + resource[1:]}"):
            if key not in BUNDLE.actions or raw_inputs(key).get(field, {}).get("$ref") != ref:
                unused.append(f"{key}.{field}")
    assert not unused, f"these inputs do not use their shared definition: {unused}"
    bodies: dict[str, list[str]] = {}
    for name in (n for n in BUNDLE.defs if "." in n):
        bodies.setdefault(json.dumps(BUNDLE.defs[name], sort_keys=True), []).append(name)
    alike = [names for names in bodies.values() if len(names) > 1]
    assert not alike, f"these definitions say the same: make each group one general definition: {alike}"
