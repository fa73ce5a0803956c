"""Load and check a connector bundle (connector.yaml, actions/, datasources/, connections/, schemas/).

Declarations are read eagerly (they are small), from a cache checked by content when one
fits; input schemas, validators and handler code load on first use, so listing the catalog
and running one step stay fast. `check()` walks everything
once and fails on the first broken piece, naming the file, the key and the problem.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import BundleError

_KINDS = ("connection", "action", "datasource")
_MANIFEST_SCHEMA = Path(__file__).with_name("manifest.schema.json")
_ANNOTATIONS_SCHEMA = Path(__file__).with_name("annotations.schema.json")
_PLACEHOLDER = re.compile(r"{([A-Za-z0-9_-]+)}")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def default_root() -> Path:
    """$PIPEDRIVE_CONNECT_BUNDLE, else the bundle shipped in the package, else the checkout's root."""
    override = os.environ.get("PIPEDRIVE_CONNECT_BUNDLE")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    packaged = here / "bundle"
    if (packaged / "connector.yaml").is_file():
        return packaged
    return here.parent.parent


def snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleError(str(path), None, "file not found") from None


def _parse_yaml(raw: bytes, name: str) -> Any:
    import yaml

    try:
        return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise BundleError(name, None, f"not valid YAML: {yaml_problem(exc)}") from None


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class DeclarationCache:
    """Checked declarations kept as JSON, so `run` neither parses YAML nor validates each start.

    One file per bundle folder under $PIPEDRIVE_CONNECT_CACHE (default ~/.cache/pipedrive-connect; "off"
    turns it off). An entry is used only when manifest.schema.json and connector.yaml are byte for byte
    those it was made from and the manifest's globs list the same files with the same SHA-256 of their
    bytes: any edit, new or removed file is a miss, and a miss parses and checks everything again. Only
    content that JSON carries unchanged is stored (no dates, no non-text keys); the cache is data, never
    code, and a cache that cannot be read or written is simply not used.
    """

    FORMAT = 1

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def for_root(cls, root: Path) -> DeclarationCache | None:
        where = os.environ.get("PIPEDRIVE_CONNECT_CACHE", "")
        if where == "off":
            return None
        try:
            base = Path(where) if where else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home directory to find: no cache
            return None
        folder = base if where else base / "pipedrive-connect"
        return cls(folder / f"declarations-{_digest(str(root.resolve()).encode())[:20]}.json")

    def get(self, head: bytes) -> tuple[dict, dict[str, str], dict[str, list]] | None:
        try:
            entry = json.loads(self.path.read_bytes())
            if entry["format"] != self.FORMAT or entry["head"] != _digest(head):
                return None
            return entry["manifest"], entry["hashes"], entry["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, head: bytes, manifest: dict, hashes: dict[str, str], files: dict[str, list]) -> None:
        entry = {"format": self.FORMAT, "head": _digest(head), "manifest": manifest, "hashes": hashes, "files": files}
        try:
            text = json.dumps(entry, ensure_ascii=False)
            if json.loads(text) != entry:
                return  # something JSON would change (an integer key, say): not cached
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".declarations-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)  # readers see the old entry or the new one, never half of one
        except (OSError, TypeError, ValueError):
            return


def yaml_problem(exc: Any) -> str:
    """PyYAML's complaint on one line, without the snippet of the file it quotes (a secret may be there)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


@dataclass(frozen=True)
class Param:
    """Where one input goes on the wire."""

    name: str
    wire: str
    location: str  # path | query | body | runtime
    transform: str | None = None
    resolver: str | None = None  # "module:function" in actions/, for values that need Pipedrive's help


# keywords whose value is a schema, a list of schemas, or a mapping of names to schemas
_SCHEMA_KEYWORDS = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs")


def _subschemas(node: dict[str, Any], where: str):
    """The schemas directly inside one schema, with a dotted path to each (never examples or defaults)."""
    for keyword in _SCHEMA_KEYWORDS:
        if isinstance(node.get(keyword), dict):
            yield node[keyword], f"{where}.{keyword}"
    for keyword in _SCHEMA_LISTS:
        for i, sub in enumerate(node.get(keyword) or []):
            if isinstance(sub, dict):
                yield sub, f"{where}.{keyword}[{i}]"
    for keyword in _SCHEMA_MAPS:
        for name, sub in (node.get(keyword) or {}).items():
            if isinstance(sub, dict):
                yield sub, f"{where}.{keyword}.{name}"


class _Declared:
    kind = "action"
    code_dir = "actions"

    def __init__(self, bundle: Bundle, key: str, resource: str, decl: dict[str, Any], file: str):
        self.bundle, self.key, self.resource, self.decl, self.file = bundle, key, resource, decl, file
        self.label: str = decl["label"]
        self.description: str = decl["description"]
        self.api: str | None = decl.get("api")
        self.path: str | None = decl.get("path")
        self.cost: int = decl.get("cost", 0)

    @cached_property
    def handler(self) -> Callable:
        ref = self.decl.get("handler")
        if not ref:
            from . import runtime

            return runtime.endpoint if self.kind == "action" else runtime.picklist
        return self.bundle.function(self.code_dir, ref, self.file, self.key)


class Action(_Declared):
    @property
    def method(self) -> str | None:
        return self.decl.get("method")

    @property
    def operation(self) -> str | None:
        return self.decl.get("operation")

    @property
    def paging(self) -> str | None:
        return self.decl.get("paging")

    @property
    def page_size(self) -> int:
        return self.decl.get("page_size", 500)

    @property
    def removed(self) -> dict[str, str] | None:
        return self.decl.get("removed")

    @property
    def removed_message(self) -> str:
        removed = self.removed or {}
        return (
            f"Action {self.key} is no longer available: {removed.get('reason')} (removed {removed.get('date')}). "
            f"Use instead: {removed.get('instead')}."
        )

    @property
    def schema_file(self) -> Path:
        return self.bundle.root / "schemas" / f"{self.key}.json"

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The input schema with shared definitions inlined and runtime options added."""
        try:
            raw = json.loads(self.schema_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BundleError(f"schemas/{self.key}.json", self.key, "input schema file is missing") from None
        except json.JSONDecodeError as exc:
            raise BundleError(f"schemas/{self.key}.json", self.key, f"not valid JSON: {exc}") from None
        schema = self.bundle.inline_refs(raw, f"schemas/{self.key}.json")
        props = schema.setdefault("properties", {})
        for name, option in self.bundle.runtime_options(self).items():
            props.setdefault(name, option)
        return schema

    @cached_property
    def validator(self):
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    @cached_property
    def params(self) -> list[Param]:
        placeholders = set(_PLACEHOLDER.findall(self.path or ""))
        default_location = "query" if self.method in ("GET", "DELETE") else "body"
        params = []
        for name, prop in self.schema.get("properties", {}).items():
            wire = prop.get("x-wire", snake(name))
            location = prop.get("x-in") or ("path" if wire in placeholders else default_location)
            params.append(Param(name, wire, location, prop.get("x-transform"), prop.get("x-resolve")))
        return params

    def summary(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "label": self.label,
            "description": self.description,
            "resource": self.resource,
            "api_version": self.api,
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "token_cost": self.cost,
        }
        if self.paging:
            out["paging"] = self.paging
        return out


class DataSource(_Declared):
    kind = "datasource"
    code_dir = "datasources"

    @property
    def params(self) -> dict[str, str]:
        return self.decl.get("params", {})

    def summary(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "description": self.description,
            "api_version": self.api,
            "path": self.path,
            "searchable": "search_path" in self.decl,
            "params": sorted(self.params),
            "token_cost": self.cost,
        }


class Bundle:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.manifest: dict[str, Any] = {}
        self.actions: dict[str, Action] = {}
        self.datasources: dict[str, DataSource] = {}
        self.connections: dict[str, dict[str, Any]] = {}
        self._modules: dict[str, Any] = {}
        self._defs: dict[str, Any] | None = None

    # ---- loading -------------------------------------------------------------------
    @classmethod
    def load(cls, root: str | Path | None = None, check: bool = False) -> Bundle:
        bundle = cls(Path(root) if root else default_root())
        bundle._read()
        if check:
            bundle.check()
        return bundle

    def _read(self) -> None:
        """Read and check the declarations, or take them from the cache when every file is byte for byte
        what was checked last time (see `DeclarationCache`)."""
        meta_raw = _MANIFEST_SCHEMA.read_bytes()
        manifest_raw = _read_bytes(self.root / "connector.yaml")
        cache = DeclarationCache.for_root(self.root)
        hit = cache.get(meta_raw + manifest_raw) if cache else None
        if hit is not None:
            manifest, hashes, files = hit
            raws = {rel: _read_bytes(self.root / rel) for kind in _KINDS for rel in self._expand(manifest[f"{kind}s"])}
            if {rel: _digest(raw) for rel, raw in raws.items()} != hashes:
                hit = None
        if hit is None:
            manifest, raws, files = self._parse(meta_raw, manifest_raw)
            if cache:
                cache.put(meta_raw + manifest_raw, manifest, {rel: _digest(raw) for rel, raw in raws.items()}, files)
        self.manifest = manifest
        kinds: tuple[tuple[str, dict[str, Any], type[_Declared] | None], ...] = (
            ("connection", self.connections, None),
            ("action", self.actions, Action),
            ("datasource", self.datasources, DataSource),
        )
        for kind, store, cls_ in kinds:
            for rel, content in files[kind]:
                resource = Path(rel).stem
                for key, decl in content.items():
                    if key in store:
                        raise BundleError(rel, key, f"{kind} key is declared twice")
                    store[key] = decl if cls_ is None else cls_(self, key, resource, decl, rel)

    def _parse(self, meta_raw: bytes, manifest_raw: bytes) -> tuple[dict, dict[str, bytes], dict[str, list]]:
        """Every declaration file parsed and checked against manifest.schema.json: the manifest, the raw
        bytes by file and [file, content] pairs by kind, in the manifest's order."""
        from jsonschema import Draft202012Validator

        manifest = _parse_yaml(manifest_raw, "connector.yaml")
        meta = json.loads(meta_raw)
        self._raise_first(Draft202012Validator(meta), manifest, "connector.yaml")
        raws: dict[str, bytes] = {}
        files: dict[str, list] = {}
        for kind in _KINDS:
            file_validator = Draft202012Validator({"$defs": meta["$defs"], "$ref": f"#/$defs/{kind}File"})
            files[kind] = []
            for rel in self._expand(manifest[f"{kind}s"]):
                raws[rel] = _read_bytes(self.root / rel)
                content = _parse_yaml(raws[rel], str(self.root / rel))
                self._raise_first(file_validator, content, rel)
                files[kind].append([rel, content])
        return manifest, raws, files

    def _expand(self, entries: list[str]) -> list[str]:
        """Bundle file names, with globs (actions/*.yaml) expanded in sorted order."""
        out: list[str] = []
        for entry in entries:
            if "*" in entry:
                matches = sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(entry))
                if not matches:
                    raise BundleError("connector.yaml", entry, "the pattern matches no file")
                out.extend(m for m in matches if m not in out)
            elif entry not in out:
                out.append(entry)
        return out

    @staticmethod
    def _raise_first(validator, instance, file: str) -> None:
        from jsonschema.exceptions import best_match

        if validator.is_valid(instance):  # ranking errors costs more than finding there are none
            return
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path) or None
            raise BundleError(file, path, error.message)

    def check(self) -> Bundle:
        """Load every schema and handler now; raise BundleError on the first problem."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        self._check_defs()
        for action in self.actions.values():
            file = f"schemas/{action.key}.json"
            if action.removed:
                continue
            try:
                Draft202012Validator.check_schema(action.schema)
            except SchemaError as exc:
                where = ".".join(str(p) for p in exc.absolute_path) or action.key
                raise BundleError(file, where, f"not a valid JSON Schema 2020-12: {exc.message}") from None
            names = {p.wire for p in action.params if p.location == "path"}
            for placeholder in _PLACEHOLDER.findall(action.path or ""):
                if placeholder not in names:
                    raise BundleError(action.file, action.key, f"path placeholder {{{placeholder}}} has no input")
            self.check_annotations(action.schema, file, action)
            for example in action.schema.get("examples", []):
                from .inputs import validation_error

                problem = validation_error(action.validator, example)
                if problem:
                    raise BundleError(file, "examples", f"example does not validate: {problem.message}")
            action.handler  # noqa: B018 - imports the handler or raises
        for source in self.datasources.values():
            source.handler  # noqa: B018
            for name, lookup in source.decl.get("lookups", {}).items():
                if lookup["picklist"] not in self.datasources or lookup["picklist"] == source.key:
                    raise BundleError(source.file, f"{source.key}.lookups.{name}", "names no other data source")
        for key, conn in self.connections.items():
            try:
                Draft202012Validator.check_schema(conn["fields"])
            except SchemaError as exc:
                raise BundleError("connections", key, f"fields are not a valid JSON Schema: {exc.message}") from None
            for name, field in (conn["fields"].get("properties") or {}).items():
                self._check_node(field, "connectionField", "connections", f"{key}.{name}")
        return self

    # ---- the annotation language (annotations.schema.json, docs/bundle.md) -----------
    @cached_property
    def _annotation_validators(self) -> dict[str, Any]:
        """One validator per place an annotation may stand: a top-level input, a schema nested in one,
        a connection field. x-transform's values are engine.TRANSFORMS' keys, whatever they are today."""
        from jsonschema import Draft202012Validator

        from .runtime import TRANSFORMS

        meta = json.loads(_ANNOTATIONS_SCHEMA.read_text(encoding="utf-8"))
        meta["$defs"]["input"]["properties"]["x-transform"] = {"enum": sorted(TRANSFORMS)}
        return {
            level: Draft202012Validator({"$defs": meta["$defs"], "$ref": f"#/$defs/{level}"})
            for level in ("input", "nested", "connectionField")
        }

    @cached_property
    def annotation_language(self) -> dict[str, list[str]]:
        """The x-* keys allowed at each level, as annotations.schema.json lists them."""
        meta = json.loads(_ANNOTATIONS_SCHEMA.read_text(encoding="utf-8"))["$defs"]
        return {level: meta[level]["propertyNames"]["then"]["enum"] for level in ("input", "nested", "connectionField")}

    def _check_node(self, node: Any, level: str, file: str, where: str) -> None:
        import difflib

        from jsonschema.exceptions import best_match

        if not isinstance(node, dict):
            return
        known = self.annotation_language
        everything = sorted({k for keys in known.values() for k in keys})
        for name in node:
            if not isinstance(name, str) or not name.startswith("x-") or name in known[level]:
                continue
            if name in everything:
                place = {
                    "input": "an input",
                    "nested": "a schema inside an input",
                    "connectionField": "a connection setting",
                }[level]
                raise BundleError(
                    file,
                    where,
                    f"annotation {name!r} has no effect on {place}; allowed there: {', '.join(known[level])}",
                )
            close = difflib.get_close_matches(name, everything, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; the annotations are {', '.join(everything)}"
            raise BundleError(file, where, f"unknown annotation {name!r}{hint}")
        error = best_match(self._annotation_validators[level].iter_errors(node))
        if error is not None:
            at = ".".join(str(p) for p in error.absolute_path)
            raise BundleError(file, where, f"{at + ': ' if at else ''}{error.message}")
        source = node.get("x-datasource")
        if source is not None and source not in self.datasources:
            raise BundleError(file, where, f"x-datasource names unknown data source {source!r}")
        fixed = node.get("x-datasource-params") or {}
        if fixed and source is None:
            raise BundleError(file, where, "x-datasource-params needs x-datasource beside it")
        takes = sorted(self.datasources[source].params) if fixed and source is not None else []
        stray = sorted(set(fixed) - set(takes))
        if stray:
            raise BundleError(
                file,
                where,
                f"x-datasource-params: {source} takes no {', '.join(stray)} (it takes {', '.join(takes) or 'nothing'})",
            )
        labels = node.get("x-enum-labels")
        if labels:
            values = {str(v) for v in node["enum"]}
            stray = sorted(set(labels) - values)
            if stray:
                raise BundleError(
                    file,
                    where,
                    f"x-enum-labels labels {', '.join(map(repr, stray))}, "
                    f"which the enum does not list ({', '.join(sorted(values))})",
                )
        for child, sub_where in _subschemas(node, where):
            self._check_node(child, "nested", file, sub_where)

    def check_annotations(self, schema: dict[str, Any], file: str, action: Action | None = None) -> None:
        """Every x-* annotation of one input schema is in the language, in its place, with a value the
        runtime can use; raises BundleError(file, input, problem)."""
        props = schema.get("properties") or {}
        for name, prop in props.items():
            self._check_node(prop, "input", file, name)
        for keyword, child in schema.items():
            if keyword != "properties":
                for sub, sub_where in _subschemas({keyword: child}, ""):
                    self._check_node(sub, "nested", file, sub_where.lstrip("."))
        if action is None:
            return
        aliases = {prop["x-deprecated-alias"]: name for name, prop in props.items() if "x-deprecated-alias" in prop}
        for alias, name in aliases.items():
            if alias in props:
                raise BundleError(file, name, f"x-deprecated-alias {alias!r} is also the name of an input")
        placeholders = set(_PLACEHOLDER.findall(action.path or ""))
        for param in action.params:
            if param.location == "path" and param.wire not in placeholders:
                raise BundleError(
                    file,
                    param.name,
                    f"x-in is path but the path {action.path or '(none)'} has no {{{param.wire}}} placeholder",
                )
            if param.resolver:
                self.function("actions", param.resolver, file, param.name)

    def _check_defs(self) -> None:
        """Shared definitions are checked as inputs, so a broken one fails even before an action uses it."""
        file = "schemas/_defs.json"
        for name, definition in self.defs.items():
            self._check_node(self.inline_refs(definition, file), "input", file, name)

    # ---- helpers used by actions -----------------------------------------------------
    def action(self, key: str) -> Action:
        try:
            return self.actions[key]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(key, list(self.actions), n=1)
            hint = f" (did you mean {close[0]}?)" if close else "; `pipedrive-connect actions` lists them"
            raise KeyError(f"unknown action {key!r}{hint}") from None

    @cached_property
    def _routes(self) -> list[tuple[str, str | None, re.Pattern, Action]]:
        # declared paths hold only [A-Za-z0-9_/{}.-] (manifest schema): "." is the one regex character
        return [
            (a.method, a.api, re.compile("^" + _PLACEHOLDER.sub("[^/]+", a.path.replace(".", r"\.")) + "$"), a)
            for a in self.actions.values()
            if a.method and a.path and not a.removed
        ]

    def match_operation(self, method: str, api: str, path: str) -> Action | None:
        """The declared action a raw method/path belongs to, to know its token cost."""
        for m, a_api, pattern, action in self._routes:
            if m == method and a_api == api and pattern.match(path):
                return action
        return None

    def datasource(self, key: str) -> DataSource:
        try:
            return self.datasources[key]
        except KeyError:
            raise KeyError(f"unknown data source {key!r}") from None

    @property
    def defs(self) -> dict[str, Any]:
        if self._defs is None:
            path = self.root / "schemas" / "_defs.json"
            self._defs = json.loads(path.read_text(encoding="utf-8")).get("$defs", {}) if path.exists() else {}
        return self._defs

    def inline_refs(self, node: Any, file: str) -> Any:
        """Replace `{"$ref": "_defs.json#/$defs/X", ...}` by the definition (siblings win)."""
        if isinstance(node, list):
            return [self.inline_refs(v, file) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("_defs.json#/$defs/"):
            name = ref.rsplit("/", 1)[1]
            if name not in self.defs:
                raise BundleError(file, ref, "refers to a definition that schemas/_defs.json lacks")
            merged = {**copy.deepcopy(self.defs[name]), **{k: v for k, v in node.items() if k != "$ref"}}
            return self.inline_refs(merged, file)
        return {k: self.inline_refs(v, file) for k, v in node.items()}

    def runtime_options(self, action: Action) -> dict[str, Any]:
        """Inputs the runtime adds to actions: debugging everywhere, paging on list actions, custom fields
        by name where an action reads a resource's own records and the resource has custom fields."""
        options = {"debugRequest": self.defs.get("debugRequest", {"type": "boolean"})}
        own_records = (f"/{action.resource}", f"/{action.resource}/{{id}}", f"/{action.resource}/search")
        if action.method == "GET" and action.path in own_records and action.resource in self.custom_field_lists:
            options["customFieldNames"] = self.defs["customFieldNames"]
        if action.paging:
            options.update(
                {
                    "fetchAll": self.defs["fetchAll"],
                    "maxItems": self.defs["maxItems"],
                    "saveToFile": self.defs["saveToFile"],
                    "limit": {**self.defs["limit"], "maximum": action.page_size},
                }
            )
            options["cursor" if action.paging == "cursor" else "start"] = self.defs[
                "cursor" if action.paging == "cursor" else "start"
            ]
        return options

    @cached_property
    def custom_field_lists(self) -> dict[str, str]:
        """{resource: path of its field list} for resources with custom fields (actions/custom_fields.py)."""
        if not (self.root / "actions" / "custom_fields.py").is_file():
            return {}
        return self.code_module("actions", "custom_fields").FIELD_LISTS

    def function(self, folder: str, ref: str, file: str, key: str) -> Callable:
        """The function a `module:function` reference names in actions/ or datasources/."""
        module_name, _, func_name = ref.partition(":")
        func = getattr(self.code_module(folder, module_name), func_name, None)
        if not callable(func):
            raise BundleError(file, key, f"{ref!r}: {folder}/{module_name}.py has no function {func_name!r}")
        return func

    def code_module(self, folder: str, name: str):
        """Import actions/<name>.py or datasources/<name>.py once, by file path."""
        qualified = f"pipedrive_connect.bundle_code.{folder}.{name}"
        if qualified in self._modules:
            return self._modules[qualified]
        path = self.root / folder / f"{name}.py"
        if not path.is_file():
            raise BundleError(f"{folder}/{name}.py", None, "handler module not found")
        spec = importlib.util.spec_from_file_location(qualified, path)
        if spec is None or spec.loader is None:  # a .py path always has a source loader
            raise BundleError(f"{folder}/{name}.py", None, "handler module has no import loader")
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(qualified, None)
            raise BundleError(
                f"{folder}/{name}.py", None, f"handler module failed to import: {type(exc).__name__}: {exc}"
            ) from None
        self._modules[qualified] = module
        return module
