"""A broken bundle fails at load, naming the file, the key and what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pipedrive_connect.bundle import Bundle, default_root
from pipedrive_connect.errors import BundleError


@pytest.fixture
def copy(tmp_path) -> Path:
    root = default_root()
    shutil.copy(root / "connector.yaml", tmp_path / "connector.yaml")
    for folder in ("actions", "datasources", "connections", "schemas"):
        shutil.copytree(root / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def load_error(root: Path) -> str:
    with pytest.raises(BundleError) as info:
        Bundle.load(root, check=True)
    return str(info.value)


def test_shipped_bundle_is_valid():
    bundle = Bundle.load(check=True)
    assert "addDeal" in bundle.actions and "selectDeal" in bundle.datasources


def test_manifest_missing_key(copy):
    edit_yaml(copy / "connector.yaml", lambda d: d.pop("version"))
    assert load_error(copy) == "connector.yaml: 'version' is a required property"


def test_action_with_unknown_declaration_key(copy):
    edit_yaml(copy / "actions" / "deals.yaml", lambda d: d["addDeal"].update(verb="POST"))
    message = load_error(copy)
    assert message.startswith("actions/deals.yaml [addDeal]") and "verb" in message


def test_action_with_wrong_method(copy):
    edit_yaml(copy / "actions" / "deals.yaml", lambda d: d["getDeal"].update(method="FETCH"))
    assert load_error(copy).startswith("actions/deals.yaml [getDeal.method]")


def test_missing_schema_file(copy):
    (copy / "schemas" / "getDeal.json").unlink()
    assert load_error(copy) == "schemas/getDeal.json [getDeal]: input schema file is missing"


def test_schema_that_is_not_json_schema(copy):
    edit_json(copy / "schemas" / "getDeal.json", lambda d: d["properties"]["id"].update(type="integr"))
    message = load_error(copy)
    assert message.startswith("schemas/getDeal.json [properties.id.type]") and "not a valid JSON Schema" in message


def test_unknown_datasource(copy):
    edit_json(
        copy / "schemas" / "addDeal.json", lambda d: d["properties"]["title"].update({"x-datasource": "selectNothing"})
    )
    assert load_error(copy) == "schemas/addDeal.json [title]: x-datasource names unknown data source 'selectNothing'"


def test_handler_function_missing(copy):
    edit_yaml(copy / "actions" / "files.yaml", lambda d: d["addFile"].update(handler="files:no_such_function"))
    assert "has no function 'no_such_function'" in load_error(copy)


def test_handler_module_that_fails_to_import(copy):
    (copy / "actions" / "files.py").write_text("import no_such_module_here\n")
    message = load_error(copy)
    assert message.startswith("actions/files.py") and "ModuleNotFoundError" in message


def test_path_placeholder_without_input(copy):
    edit_yaml(copy / "actions" / "deals.yaml", lambda d: d["getDeal"].update(path="/deals/{deal_id}"))
    assert load_error(copy) == "actions/deals.yaml [getDeal]: path placeholder {deal_id} has no input"


def test_example_that_does_not_validate(copy):
    edit_json(copy / "schemas" / "getDeal.json", lambda d: d.update(examples=[{"id": "abc"}]))
    assert "example does not validate" in load_error(copy)


def test_duplicate_action_key(copy):
    edit_yaml(copy / "actions" / "persons.yaml", lambda d: d.update(addDeal=d["addPerson"]))
    assert "action key is declared twice" in load_error(copy)


def test_unknown_shared_definition(copy):
    edit_json(
        copy / "schemas" / "getDeal.json", lambda d: d["properties"].update(extra={"$ref": "_defs.json#/$defs/nothing"})
    )
    assert "refers to a definition that schemas/_defs.json lacks" in load_error(copy)


def test_invalid_yaml(copy):
    (copy / "actions" / "notes.yaml").write_text("addNote: [unclosed\n")
    assert load_error(copy).startswith(f"{copy / 'actions' / 'notes.yaml'}: not valid YAML")


# ---- the annotation language: every x-* key is known, in its place, with a usable value ----------
def broken(copy, schema_file, name, changes) -> str:
    edit_json(copy / "schemas" / schema_file, lambda d: d["properties"][name].update(changes))
    return load_error(copy)


def test_misspelled_annotation(copy):
    assert broken(copy, "addDeal.json", "title", {"x-wier": "name"}) == (
        "schemas/addDeal.json [title]: unknown annotation 'x-wier' (did you mean 'x-wire'?)"
    )


def test_unknown_transform(copy):
    message = broken(copy, "addPerson.json", "emails", {"x-transform": "primaryLists"})
    assert message.startswith("schemas/addPerson.json [emails]: x-transform: 'primaryLists' is not one of")
    assert "'csv'" in message and "'primaryList'" in message


def test_transform_values_come_from_the_engine(copy):
    from pipedrive_connect.runtime import TRANSFORMS

    bundle = Bundle.load(copy)
    assert bundle._annotation_validators["input"].schema["$defs"]["input"]["properties"]["x-transform"] == {
        "enum": sorted(TRANSFORMS)
    }


def test_unknown_location(copy):
    message = broken(copy, "addDeal.json", "title", {"x-in": "header"})
    assert message.startswith(
        "schemas/addDeal.json [title]: x-in: 'header' is not one of ['path', 'query', 'body', 'runtime']"
    )


def test_path_location_without_placeholder(copy):
    assert broken(copy, "addDeal.json", "title", {"x-in": "path"}) == (
        "schemas/addDeal.json [title]: x-in is path but the path /deals has no {title} placeholder"
    )


def test_unknown_datasource_inside_an_input(copy):
    edit_json(
        copy / "schemas" / "getActivities.json",
        lambda d: d["properties"]["type"]["items"].update({"x-datasource": "selectLabelz"}),
    )
    assert load_error(copy) == (
        "schemas/getActivities.json [type.items]: x-datasource names unknown data source 'selectLabelz'"
    )


def test_resolver_that_does_not_import(copy):
    edit_json(
        copy / "schemas" / "_defs.json",
        lambda d: d["$defs"]["customFields"].update({"x-resolve": "custom_fields:no_such_resolver"}),
    )
    message = load_error(copy)
    assert "has no function 'no_such_resolver'" in message and "customFields" in message


def test_resolver_that_is_not_a_function_reference(copy):
    message = broken(copy, "addDeal.json", "title", {"x-resolve": "custom_fields.resolve"})
    assert message.startswith("schemas/addDeal.json [title]: x-resolve: 'custom_fields.resolve' does not match")


def test_input_annotation_inside_an_input(copy):
    edit_json(
        copy / "schemas" / "getActivities.json",
        lambda d: d["properties"]["type"]["items"].update({"x-wire": "activity_type"}),
    )
    message = load_error(copy)
    assert message.startswith(
        "schemas/getActivities.json [type.items]: annotation 'x-wire' has no effect on a schema inside an input"
    )


def test_enum_label_for_a_value_the_enum_lacks(copy):
    edit_json(
        copy / "schemas" / "getDeals.json", lambda d: d["properties"]["status"]["x-enum-labels"].update(opened="Opened")
    )
    assert load_error(copy) == (
        "schemas/getDeals.json [status]: x-enum-labels labels 'opened', which the enum "
        "does not list (deleted, lost, open, won)"
    )


def test_enum_labels_without_enum(copy):
    message = broken(copy, "addDeal.json", "title", {"x-enum-labels": {"a": "A"}})
    assert message == "schemas/addDeal.json [title]: 'enum' is a required property"


def test_dropped_without_not(copy):
    message = broken(copy, "addDeal.json", "title", {"x-dropped": "Use name instead."})
    assert message == "schemas/addDeal.json [title]: 'not' is a required property"


def test_deprecated_alias_that_is_an_input(copy):
    assert broken(copy, "addPerson.json", "phones", {"x-deprecated-alias": "emails"}) == (
        "schemas/addPerson.json [phones]: x-deprecated-alias 'emails' is also the name of an input"
    )


def test_broken_shared_definition(copy):
    edit_json(
        copy / "schemas" / "_defs.json", lambda d: d["$defs"]["orgId"].update({"x-datasourse": "selectOrganization"})
    )
    assert load_error(copy).startswith("schemas/_defs.json [orgId]: unknown annotation 'x-datasourse'")


def test_misspelled_secret_on_a_connection_setting(copy):
    def change(d):
        d["apiToken"]["fields"]["properties"]["api_token"]["x-secrets"] = True

    edit_yaml(copy / "connections" / "pipedrive.yaml", change)
    assert load_error(copy) == (
        "connections [apiToken.api_token]: unknown annotation 'x-secrets' (did you mean 'x-secret'?)"
    )


def test_input_annotation_on_a_connection_setting(copy):
    def change(d):
        d["apiToken"]["fields"]["properties"]["api_token"]["x-wire"] = "token"

    edit_yaml(copy / "connections" / "pipedrive.yaml", change)
    assert "annotation 'x-wire' has no effect on a connection setting" in load_error(copy)


def test_secret_settings_are_the_ones_the_connection_scrubs():
    """x-secret marks exactly the settings whose values Connection.secrets() redacts everywhere."""
    from pipedrive_connect.connection import Connection

    bundle = Bundle.load()
    for kind, declared in bundle.connections.items():
        props = declared["fields"]["properties"]
        settings = {name: f"value-of-{name}-123" for name, prop in props.items() if prop.get("type") == "string"}
        settings.update(
            type=kind,
            base_url="https://acme.pipedrive.com",
            api_domain="https://acme.pipedrive.com",
            token_url="https://oauth.pipedrive.com/oauth/token",
        )
        scrubbed = set(Connection.from_settings(settings).secrets())
        marked = {settings[name] for name, prop in props.items() if prop.get("x-secret")}
        assert marked == scrubbed, kind


def test_multipart_body_is_not_a_declaration(copy):
    """Nothing sends a declared multipart body (uploads are handlers): the value is refused, not ignored."""
    edit_yaml(copy / "actions" / "notes.yaml", lambda d: d["addNote"].update(body="multipart"))
    assert load_error(copy).startswith("actions/notes.yaml [addNote.body]: 'multipart' is not one of ['json', 'form']")


def test_datasource_params_the_picklist_does_not_take(copy):
    message = broken(copy, "getDeals.json", "filterId", {"x-datasource-params": {"filterKind": "deals"}})
    assert message.endswith("[filterId]: x-datasource-params: selectFilter takes no filterKind (it takes filterType)")


def test_datasource_params_without_a_datasource(copy):
    message = broken(copy, "addDeal.json", "title", {"x-datasource-params": {"filterType": "deals"}})
    assert message == "schemas/addDeal.json [title]: x-datasource-params needs x-datasource beside it"


def test_label_lookup_in_an_unknown_picklist(copy):
    edit_yaml(
        copy / "datasources" / "setup.yaml",
        lambda d: d["selectStage"]["lookups"]["pipeline"].update(picklist="selectPipe"),
    )
    assert load_error(copy) == "datasources/setup.yaml [selectStage.lookups.pipeline]: names no other data source"
