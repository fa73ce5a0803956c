"""A picklist that cannot list without other inputs (`required_params`) is offered only where those inputs exist.

The wizard fills a dependent picklist's parameters from the action's inputs of the same name (e.g. the phases
of the board chosen in `boardId`); on an action without such an input the dropdown could never open.
"""

from __future__ import annotations

from pipedrive_connect.bundle import Bundle

BUNDLE = Bundle.load()


def _datasources(schema) -> set[str]:
    """Every x-datasource named in an input's schema, nested ones included."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("x-datasource"), str):
            found.add(schema["x-datasource"])
        for value in schema.values():
            found |= _datasources(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _datasources(value)
    return found


def test_dependent_picklists_are_offered_only_beside_their_inputs():
    stranded = []
    for action in (a for a in BUNDLE.actions.values() if not a.removed):
        properties = action.schema.get("properties", {})
        for name, prop in properties.items():
            for key in _datasources(prop):
                needed = BUNDLE.datasource(key).decl.get("required_params", [])
                stranded += [f"{action.key}.{name} ({key} needs {p})" for p in needed if p not in properties]
    assert not stranded, f"dependent picklists on actions without the inputs they need: {stranded}"


def test_the_phase_picklist_depends_on_the_board():
    phases = BUNDLE.datasource("selectProjectPhase")
    assert phases.params == {"boardId": "board_id"} and phases.decl["required_params"] == ["boardId"]
    assert "selectProjectPhase" in _datasources(BUNDLE.action("addProject").schema["properties"]["phaseId"])
