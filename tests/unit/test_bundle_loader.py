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
    edit_json(copy / "schemas" / "addDeal.json",
              lambda d: d["properties"]["title"].update({"x-datasource": "selectNothing"}))
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
    edit_json(copy / "schemas" / "getDeal.json",
              lambda d: d["properties"].update(extra={"$ref": "_defs.json#/$defs/nothing"}))
    assert "refers to a definition that schemas/_defs.json lacks" in load_error(copy)


def test_invalid_yaml(copy):
    (copy / "actions" / "notes.yaml").write_text("addNote: [unclosed\n")
    assert load_error(copy).startswith(f"{copy / 'actions' / 'notes.yaml'}: not valid YAML")
