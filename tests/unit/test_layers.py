"""The layers of docs/architecture.md, enforced on the real imports (parsed with ast, nothing imported).

Each module of src/pipedrive_connect belongs to one layer; a layer may import only the layers listed
for it. A few imports against the grain are allowed only inside a function (so importing the module
never pulls the other layer in), and are listed with their reason. A new module must be placed in a
layer here, which is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "pipedrive_connect"

LAYERS = {
    "base": {"errors", "files", "limits", "jobs", "pipedrive"},
    "bundle": {"bundle", "reference", "scaffold", "coverage"},
    "runtime": {"inputs", "connection", "oauth", "client", "runtime"},
    "flows": {"flows"},
    "hot folder": {"jobstore", "runner"},
    "queue": {"queue"},
    "designer": {"designer"},  # the whole designer/ package: the HTTP API and its page
    "triggers": {"triggers"},
    "replication": {"replication"},  # the replication/ package: entities, schema, sync, singer
    "entry points": {"cli", "demo", "routedocs", "replicate", "__init__"},
    "sandbox": {"sandbox"},  # the whole sandbox/ package
}
MAY_IMPORT = {
    "base": {"base"},
    "bundle": {"base", "bundle"},
    "runtime": {"base", "bundle", "runtime"},
    "flows": {"base", "bundle", "runtime", "flows"},
    "hot folder": {"base", "runtime", "flows", "hot folder"},
    "queue": {"base", "runtime", "flows", "hot folder", "queue"},
    "designer": {"base", "bundle", "runtime", "flows", "designer"},
    "triggers": {"base", "runtime", "flows", "hot folder", "triggers"},
    "replication": {"base", "bundle", "runtime", "replication"},
    "entry points": set(LAYERS),
    "sandbox": {"sandbox"},  # a stand-in for Pipedrive: it knows nothing of the connector
}
# (importer, imported): why it may go against the layers, inside a function only
LAZY = {
    ("bundle", "runtime"): "an action without a handler runs runtime.endpoint; the checks read runtime.TRANSFORMS",
    ("bundle", "inputs"): "check() validates each schema example the way a step's inputs are validated",
}
# the bundle's own Python (actions/*.py, datasources/*.py) sees a step through `call`
BUNDLE_CODE_MAY_IMPORT = {"errors", "files", "client", "pipedrive"}


def layer_of(module: str) -> str:
    top = module.split(".")[0]
    for layer, members in LAYERS.items():
        if top in members:
            return layer
    raise AssertionError(f"module {module} is in no layer: add it to LAYERS in {__file__} and docs/architecture.md")


def imports(path: Path, package: list[str]):
    """(imported module relative to pipedrive_connect, line, inside a function?) for every import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(fn)
        if node is not fn
    }
    for node in ast.walk(tree):
        lazy = id(node) in functions
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pipedrive_connect."):
                    yield alias.name.split(".", 1)[1], node.lineno, lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("pipedrive_connect."):
                    yield node.module.split(".", 1)[1], node.lineno, lazy
                elif node.module == "pipedrive_connect":
                    for alias in node.names:
                        yield alias.name, node.lineno, lazy
                continue
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield ".".join(base + [node.module]), node.lineno, lazy
            else:
                for alias in node.names:
                    yield ".".join(base + [alias.name]), node.lineno, lazy


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        package = parts[:-1]
        yield ".".join(parts), path, package


MODULES = list(modules())


@pytest.mark.parametrize("module,path,package", MODULES, ids=[m for m, _, _ in MODULES])
def test_imports_follow_the_layers(module, path, package):
    mine = layer_of(module)
    wrong = []
    for target, line, lazy in imports(path, package):
        if target in ("__version__",) or target.startswith("bundle_code"):
            continue
        theirs = layer_of(target)
        if theirs in MAY_IMPORT[mine]:
            continue
        if (module.split(".")[0], target.split(".")[0]) in LAZY and lazy:
            continue
        wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} ({mine} -> {theirs})")
    assert not wrong, "\n".join(wrong)


def test_only_entry_points_start_the_sandbox():
    users = sorted(
        {
            module
            for module, path, package in MODULES
            if not module.startswith("sandbox")
            for target, _, _ in imports(path, package)
            if target.startswith("sandbox")
        }
    )
    assert set(users) <= LAYERS["entry points"], users


def test_bundle_code_sees_only_the_call_and_helpers():
    wrong = []
    for path in sorted([*(ROOT / "actions").glob("*.py"), *(ROOT / "datasources").glob("*.py")]):
        for target, line, _ in imports(path, []):
            if target.split(".")[0] not in BUNDLE_CODE_MAY_IMPORT:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports pipedrive_connect.{target}")
    assert not wrong, "\n".join(wrong)


def test_the_rules_name_real_layers():
    assert set(MAY_IMPORT) == set(LAYERS) and all(v <= set(LAYERS) for v in MAY_IMPORT.values())
    assert {a for a, _ in LAZY} <= set().union(*LAYERS.values())
