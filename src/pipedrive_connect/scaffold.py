"""`pipedrive-connect new-action`: the skeleton of a new action, from Pipedrive's official spec.

It writes what can be derived from the operation (API version, method, path, token cost, paging,
each parameter's wire name, place, type, choices and whether it is required) and leaves what a
person must write in their own words as TODO: the label is made from the key, every title and
description says "TODO: describe in your own words". The spec's own text is never copied.

Three files change: the declaration is appended to actions/<resource>.yaml, the input schema is
written to schemas/<key>.json, and a request case is appended to tests/requests/<resource>.yaml.
The result is loaded with `Bundle.load(check=True)`; if it does not load, every file is put back.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .bundle import Bundle, snake
from .errors import BundleError

TODO = "TODO: describe in your own words"
PAGING_PARAMS = {"cursor", "start", "limit"}  # the runtime adds these to list actions
_KEY = re.compile(r"^[a-z][A-Za-z0-9]*$")
METHODS = ("get", "post", "put", "patch", "delete")
_FORMATS = {"date": "2026-01-31", "date-time": "2026-01-31T09:00:00Z", "uuid": "00000000-0000-4000-8000-000000000001"}


class ScaffoldError(Exception):
    """The operation cannot be scaffolded (unknown, already declared, spec missing...)."""


@dataclass
class Operation:
    api: str
    operation_id: str
    method: str
    path: str
    cost: int
    parameters: list[dict[str, Any]]
    body: dict[str, Any] | None  # the resolved JSON (or form) body schema
    body_kind: str | None  # json | form | multipart
    spec: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class Written:
    key: str
    resource: str
    files: list[Path]
    notes: list[str]


def spec_dir(explicit: str | os.PathLike | None = None, root: Path | None = None) -> Path:
    """--spec-dir, else $PIPEDRIVE_OPENAPI_DIR, else ../shared/pipedrive-openapi beside the bundle."""
    if explicit:
        return Path(explicit)
    if os.environ.get("PIPEDRIVE_OPENAPI_DIR"):
        return Path(os.environ["PIPEDRIVE_OPENAPI_DIR"])
    base = root if root is not None else Path.cwd()
    return base.resolve().parent / "shared" / "pipedrive-openapi"


@functools.lru_cache(maxsize=4)
def load_spec(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _merged(spec: dict[str, Any], node: Any) -> dict[str, Any]:
    """An object schema with allOf parts merged (properties and required)."""
    node = _resolve(spec, node) or {}
    out: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    props = dict(node.get("properties") or {})
    required = list(node.get("required") or [])
    for part in node.get("allOf") or []:
        sub = _merged(spec, part)
        props.update(sub.get("properties") or {})
        required += sub.get("required") or []
        out.setdefault("type", sub.get("type"))
    out["properties"], out["required"] = props, list(dict.fromkeys(required))  # parts may repeat a name
    return out


def find_operation(operation_id: str, directory: Path) -> Operation:
    """The operation in v2 if it is there (the preferred API), else in v1."""
    missing = [v for v in ("v2", "v1") if not (directory / f"{v}.yaml").is_file()]
    if len(missing) == 2:
        raise ScaffoldError(
            f"official spec not found in {directory} (v1.yaml, v2.yaml); pass --spec-dir or set PIPEDRIVE_OPENAPI_DIR"
        )
    for api in ("v2", "v1"):
        if api in missing:
            continue
        spec = load_spec(str(directory / f"{api}.yaml"))
        for path, item in spec.get("paths", {}).items():
            for method in METHODS:
                op = item.get(method)
                if isinstance(op, dict) and op.get("operationId") == operation_id:
                    params = [_resolve(spec, p) for p in (item.get("parameters") or []) + (op.get("parameters") or [])]
                    body, kind = None, None
                    content = (_resolve(spec, op.get("requestBody") or {}) or {}).get("content") or {}
                    for media, name in (
                        ("application/json", "json"),
                        ("application/x-www-form-urlencoded", "form"),
                        ("multipart/form-data", "multipart"),
                    ):
                        if media in content:
                            body, kind = _merged(spec, content[media].get("schema")), name
                            break
                    return Operation(
                        api,
                        operation_id,
                        method.upper(),
                        path,
                        int(op.get("x-token-cost") or 0),
                        params,
                        body,
                        kind,
                        spec,
                    )
    raise ScaffoldError(f"operation {operation_id!r} is in neither the v2 nor the v1 spec in {directory}")


def camel(wire: str) -> str:
    parts = [p for p in re.split(r"[_\-.]", wire) if p]
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:]) if parts else wire


def _label(key: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", key).split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


def _type_schema(spec: dict[str, Any], node: Any, depth: int = 0) -> dict[str, Any]:
    """What the official schema says about type, choices and form; no text."""
    node = _resolve(spec, node) or {}
    if "allOf" in node or ("properties" in node and node.get("type", "object") == "object"):
        node = {**_merged(spec, node), "type": "object"}
    out: dict[str, Any] = {}
    kind = node.get("type")
    if kind is None and (node.get("oneOf") or node.get("anyOf")):
        kinds = {(_resolve(spec, s) or {}).get("type") for s in node.get("oneOf") or node.get("anyOf")}
        kinds.discard(None)
        kind = sorted(kinds) if len(kinds) > 1 else (kinds.pop() if kinds else None)
    if kind:
        out["type"] = kind
    if node.get("enum"):
        out["enum"] = [v for v in node["enum"] if v is not None]
    if node.get("format") in _FORMATS:
        out["format"] = node["format"]
    if kind == "array":
        out["items"] = _type_schema(spec, node.get("items") or {}, depth + 1)
    if kind == "object":
        props = node.get("properties") or {}
        if props and depth < 3:
            out["properties"] = {
                name: {**_type_schema(spec, sub, depth + 1), "title": TODO, "description": TODO}
                for name, sub in props.items()
            }
            out["additionalProperties"] = False
            if node.get("required"):
                out["required"] = [r for r in node["required"] if r in props]
        else:
            out["additionalProperties"] = True
    return out


def _example(schema: dict[str, Any]) -> Any:
    """A value the schema accepts, for the skeleton's example and request case."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [_example(schema.get("items") or {})]
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _example(props[name]) for name in schema.get("required", [])}
    return _FORMATS.get(schema.get("format", ""), "TODO")


def _designer(value: Any) -> Any:
    """The value as a designer types it in a wizard field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def build(op: Operation, key: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    """The declaration, the input schema, the request case, and notes for the person."""
    notes: list[str] = []
    decl: dict[str, Any] = {
        "label": _label(key),
        "description": TODO,
        "api": op.api,
        "method": op.method,
        "path": op.path,
        "operation": op.operation_id,
        "cost": op.cost,
    }
    query_names = {p.get("name") for p in op.parameters if p.get("in") == "query"}
    if "cursor" in query_names:
        decl["paging"] = "cursor"
    elif "start" in query_names:
        decl["paging"] = "offset"
    if decl.get("paging"):
        limit = next((p for p in op.parameters if p.get("name") == "limit" and p.get("in") == "query"), None)
        maximum = (_resolve(op.spec, (limit or {}).get("schema")) or {}).get("maximum")
        if isinstance(maximum, int) and maximum < 500:
            decl["page_size"] = maximum
    if op.body_kind == "form":
        decl["body"] = "form"
    elif op.body_kind == "multipart":
        notes.append(
            "the body is multipart/form-data: the generic handler sends JSON, so this action needs a "
            "handler in actions/<resource>.py (see actions/files.py)"
        )
    if not op.cost:
        notes.append("the spec gives no x-token-cost: set cost by hand")

    placeholders = set(re.findall(r"{([A-Za-z0-9_-]+)}", op.path))
    default_place = "query" if op.method in ("GET", "DELETE") else "body"
    properties: dict[str, Any] = {}
    required: list[str] = []
    where: dict[str, tuple[str, str]] = {}  # input -> (wire, place)

    def add(wire: str, place: str, node: Any, is_required: bool) -> None:
        name = "id" if place == "path" and wire == "id" else camel(wire)
        if name in properties:
            notes.append(
                f"{wire!r} is both a {where[name][1]} and a {place} parameter: only the first is in the schema"
            )
            return
        prop = _type_schema(op.spec, node)
        if place == "path":
            if prop.get("type") == "integer":
                prop["minimum"] = 1
            elif prop.get("type") == "string" and "format" not in prop and "enum" not in prop:
                prop["minLength"] = 1
        prop.update(title=TODO, description=TODO)
        if snake(name) != wire:
            prop["x-wire"] = wire
        natural = "path" if wire in placeholders else default_place
        if place != natural:
            prop["x-in"] = place
        properties[name] = prop
        where[name] = (wire, place)
        if is_required:
            required.append(name)

    for param in op.parameters:
        place, wire = param.get("in"), param.get("name")
        if place not in ("path", "query") or not wire:
            if place == "header":
                notes.append(f"header parameter {wire!r} is left out: a handler must send it")
            continue
        if place == "query" and decl.get("paging") and wire in PAGING_PARAMS:
            continue
        add(wire, place, param.get("schema") or {}, bool(param.get("required")) or place == "path")
    if op.body:
        body_required = set(op.body.get("required") or [])
        for wire, node in (op.body.get("properties") or {}).items():
            add(wire, "body", node, wire in body_required)

    example = {name: _example(properties[name]) for name in required}
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": decl["label"],
        "description": TODO,
        "type": "object",
    }
    if required:
        schema["required"] = required
    schema.update(additionalProperties=False, properties=properties, examples=[example])

    path, query, body = op.path, {}, {}
    for name, value in example.items():
        wire, place = where[name]
        if place == "path":
            path = path.replace("{" + wire + "}", str(value))
        elif place == "query":
            query[wire] = (
                ",".join(map(str, value))
                if isinstance(value, list)
                else (("true" if value else "false") if isinstance(value, bool) else str(value))
            )
        else:
            body[wire] = value
    request: dict[str, Any] = {"method": op.method, "path": f"/api/{op.api}{path}"}
    if query:
        request["query"] = query
    if body or op.method in ("POST", "PUT", "PATCH"):
        request["form" if op.body_kind == "form" else "json"] = (
            {k: _designer(v) for k, v in body.items()} if op.body_kind == "form" else body
        )
    data: Any = [] if decl.get("paging") else {"id": 1}
    case = {
        "inputs": {name: _designer(value) for name, value in example.items()},
        "request": request,
        "response": {"json": {"success": True, "data": data, "additional_data": {}}},
    }
    return decl, schema, case, notes


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10_000).strip()


def _append(path: Path, text: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if current and not current.endswith("\n"):
        current += "\n"
    path.write_text(current + text, encoding="utf-8")


def new_action(
    root: Path,
    operation_id: str,
    key: str | None = None,
    resource: str | None = None,
    spec: str | os.PathLike | None = None,
) -> Written:
    """Write the three files of a new action into the bundle at `root` (and its tests/requests/)."""
    root = Path(root)
    bundle = Bundle.load(root)
    key = key or operation_id
    if not _KEY.match(key):
        raise ScaffoldError(f"action key {key!r} must start with a lower-case letter and hold only letters and digits")
    if key in bundle.actions:
        raise ScaffoldError(f"action {key!r} already exists ({bundle.actions[key].file}); choose another --key")
    schema_file = root / "schemas" / f"{key}.json"
    if schema_file.exists():
        raise ScaffoldError(f"{schema_file.relative_to(root)} already exists; choose another --key")
    op = find_operation(operation_id, spec_dir(spec, root))
    taken = [a.key for a in bundle.actions.values() if a.operation == operation_id and a.api == op.api]
    resource = resource or op.path.strip("/").split("/")[0]
    if not re.match(r"^[A-Za-z0-9_-]+$", resource):
        raise ScaffoldError(f"resource {resource!r} cannot be a file name; pass --resource")
    decl, schema, case, notes = build(op, key)
    if taken:
        notes.append(f"{', '.join(taken)} already call{'s' if len(taken) == 1 else ''} {operation_id}")

    decl_file = root / "actions" / f"{resource}.yaml"
    case_file = root / "tests" / "requests" / f"{resource}.yaml"
    originals = {
        p: (p.read_text(encoding="utf-8") if p.exists() else None) for p in (decl_file, case_file, schema_file)
    }
    header = f"# {resource}: written by `pipedrive-connect new-action`; replace every TODO.\n"
    try:
        if not decl_file.exists():
            decl_file.write_text(header, encoding="utf-8")
        _append(decl_file, yaml.safe_dump({key: decl}, sort_keys=False, allow_unicode=True, width=120))
        schema_file.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        case_file.parent.mkdir(parents=True, exist_ok=True)
        if not case_file.exists():
            case_file.write_text(
                f"# {resource}: request cases; check each against Pipedrive's API reference.\n", encoding="utf-8"
            )
        lines = [
            f"{key}:",
            "  # TODO: check against Pipedrive's API reference (written by new-action from the spec)",
            f"  - inputs: {_flow(case['inputs'])}",
            f"    request: {_flow(case['request'])}",
            f"    response: {_flow(case['response'])}",
        ]
        _append(case_file, "\n".join(lines) + "\n")
        Bundle.load(root, check=True)
    except BaseException:
        for path, text in originals.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        raise
    return Written(key, resource, [decl_file, schema_file, case_file], notes)


__all__ = ["ScaffoldError", "BundleError", "find_operation", "build", "new_action", "spec_dir", "TODO"]
