"""The action reference (docs/actions.md), generated from the bundle so it can never drift."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from .bundle import Action, Bundle

HEADER = """# Action reference

Generated from the connector bundle by `pipedrive-connect docs`; do not edit by hand
(CI runs `pipedrive-connect docs --check`). Token cost is Pipedrive's `x-token-cost` of one
call (for list actions: of one page). Every action also takes `debugRequest`; list actions
take `fetchAll`, `maxItems`, `saveToFile`, `limit` and `cursor` (API v2) or `start` (API v1).
"""


def _type(prop: dict[str, Any]) -> str:
    if "x-dropped" in prop:
        return "not supported"
    kind = prop.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and isinstance(prop.get("items"), dict) and prop["items"].get("type"):
        kind = f"array of {prop['items']['type']}"
    if prop.get("format"):
        kind += f" ({prop['format']})"
    return kind


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _input_rows(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        notes = [prop.get("description", "")]
        for lead, holder in (("One of", prop), ("Each item one of", prop.get("items") or {})):
            if "enum" in holder:
                labels = holder.get("x-enum-labels", {})
                notes.append(
                    f"{lead}: "
                    + ", ".join(f"`{v}`" + (f" ({labels[str(v)]})" if str(v) in labels else "") for v in holder["enum"])
                    + "."
                )
        if "default" in prop:
            notes.append(f"Default `{json.dumps(prop['default'])}`.")
        if prop.get("x-deprecated-alias"):
            notes.append(
                f"Formerly `{prop['x-deprecated-alias']}`: still accepted until the next release, with a warning."
            )
        if prop.get("x-datasource"):
            fixed = ", ".join(f"{k}={v}" for k, v in (prop.get("x-datasource-params") or {}).items())
            notes.append(f"Picklist: `{prop['x-datasource']}`" + (f" ({fixed})." if fixed else "."))
        rows.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else ''} | "
            f"{_cell(prop.get('title', ''))} | {_cell(' '.join(n for n in notes if n))} |"
        )
    return rows


def render(bundle: Bundle) -> str:
    groups: dict[str, list] = defaultdict(list)
    removed: list[Action] = []
    for action in bundle.actions.values():
        (removed if action.removed else groups[action.resource]).append(action)
    working = sum(len(v) for v in groups.values())
    out = [
        HEADER,
        f"{working} actions in {len(groups)} resource groups, {len(bundle.datasources)} picklists, "
        f"{len(removed)} removed actions.\n",
        "## Contents\n",
    ]
    for resource in sorted(groups):
        out.append(f"- [{resource}](#{resource.lower()}): " + ", ".join(f"`{a.key}`" for a in groups[resource]))
    out.append("- [Picklists](#picklists)\n- [Removed actions](#removed-actions)\n")
    for resource in sorted(groups):
        out.append(f"## {resource}\n")
        for action in groups[resource]:
            out.append(f"### `{action.key}`: {action.label}\n")
            out.append(f"{action.description}\n")
            if action.method:
                out.append(f"- API: `{action.method} /api/{action.api}{action.path}` (operation `{action.operation}`)")
                out.append(f"- Token cost: {action.cost}" + (" per page" if action.paging else ""))
            else:
                out.append("- API: any endpoint of the connection's API host")
            if action.decl.get("handler"):
                out.append(f"- Handler: `actions/{action.decl['handler'].split(':')[0]}.py`")
            out.append("")
            out.append("| Input | Type | Required | Title | Notes |\n|---|---|---|---|---|")
            out.extend(_input_rows(action.schema))
            out.append("")
    out.append("## Picklists\n")
    out.append("Data sources that fill dropdowns with `[{key, label}]` (`pipedrive-connect picklist KEY`).\n")
    out.append("| Key | Label | Lists | Search | Depends on | Token cost |\n|---|---|---|---|---|---|")
    for source in bundle.datasources.values():
        search = f"`{source.decl['search_path']}`" if source.decl.get("search_path") else "filters the list"
        params = ", ".join(f"`{p}`" for p in source.params) or ""
        out.append(
            f"| `{source.key}` | {source.label} | `GET /api/{source.api}{source.path}` | {search} | {params}"
            f" | {source.cost} |"
        )
    out.append("\n## Removed actions\n")
    out.append(
        "These keys exist in older Pipedrive components but their Pipedrive API is gone. They are kept so a "
        "flow that uses one fails with this explanation instead of an unknown key.\n"
    )
    out.append("| Key | Label | Removed | Why | Instead |\n|---|---|---|---|---|")
    for action in sorted(removed, key=lambda a: a.key):
        r = action.removed
        if r is None:  # the list holds removed actions only
            raise TypeError(f"{action.key} is not a removed action")
        out.append(f"| `{action.key}` | {action.label} | {r['date']} | {_cell(r['reason'])} | {_cell(r['instead'])} |")
    return "\n".join(out) + "\n"
