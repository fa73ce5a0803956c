"""Flows: a short list of steps run in order over each job, routed as one unit.

A flow file (YAML or JSON) is what a user writes; the demo and the hot-folder runner
use the same format:

    name: Order to deal
    steps:
      - id: org
        action: addOrganization
        inputs: {name: "{{ job.data.customer.company }}"}
      - id: deal
        action: addDeal
        inputs: {title: "Order {{ job.data.orderId }}", orgId: "{{ steps.org.result.id }}"}

The job leaves the flow on `success` when every step succeeded, otherwise on `error`
at the first failing step (named in the error); log items of all steps go to `log`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from jinja2 import TemplateSyntaxError, meta, nodes

from .bundle import Action, Bundle, yaml_problem
from .errors import StepError
from .files import safe_filename
from .inputs import coerce, render, template_env
from .jobs import Job, Outcome, write_atomic
from .runtime import Runtime

FLOW_SCHEMA = {
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "customFieldNames": {
            "type": "boolean",
            "description": "custom fields by name in the results of every step that offers it, unless the step says",
        },
        "trigger": {
            "type": "object",
            "required": ["event"],
            "additionalProperties": False,
            "properties": {
                "event": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    ]
                },
                "filter": {"type": "object"},
            },
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["action"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "action": {"type": "string"},
                    "inputs": {"type": "object"},
                    "when": {
                        "type": "string",
                        "description": "template; the step is skipped when it renders empty/false",
                    },
                    "naturalKey": {
                        "type": "object",
                        "required": ["action", "inputs"],
                        "additionalProperties": False,
                        "properties": {"action": {"type": "string"}, "inputs": {"type": "object"}},
                        "description": "a find action (result {found, record}) run before a create whose outcome "
                        "was unknown: when it finds the record, the step is done with it",
                    },
                },
            },
        },
    },
}
_FALSY = {"", "false", "0", "no", "none", "null"}
_JOB_FIELDS = ("id", "data", "metadata", "files")


class FlowError(Exception):
    """A flow that cannot run, with every problem found: one line each, naming the flow file and the step."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Step:
    id: str
    action: str
    inputs: dict[str, Any] = field(default_factory=dict)
    when: str | None = None
    natural_key: dict[str, Any] | None = None


EVENT_ACTIONS = ("create", "change", "delete")
EVENT_OBJECTS = ("activity", "deal", "lead", "note", "organization", "person", "pipeline", "product", "stage", "user")
DEAL_STATUSES = ("open", "won", "lost", "deleted")
# filter key -> what its value must be; all keys of a filter must hold for the event to fire
FILTER_KEYS = {
    "stage_changed_to": "a stage ID (number)",
    "status_changed_to": f"one of {', '.join(DEAL_STATUSES)}",
    "changed": "a field name or a list of them",
    "changed_to": "a mapping of field names to values",
    "where": "a mapping of field names to values",
}
CHANGE_FILTERS = {"stage_changed_to", "status_changed_to", "changed", "changed_to"}


@dataclass
class Trigger:
    """What starts a flow: Pipedrive events (`change.deal`, `*.person`) and a filter over
    the event's `data` (the record now) and `previous` (the values a change replaced)."""

    events: list[str]
    filter: dict[str, Any] = field(default_factory=dict)

    @property
    def objects(self) -> set[str]:
        """The entities the events name (`*` stands for all of them)."""
        names = {e.split(".", 1)[1] for e in self.events}
        return set(EVENT_OBJECTS) if "*" in names else names

    def conditions(self) -> dict[str, Any]:
        """The filter with its shorthands spelled out: field -> value it changed to."""
        changed_to = dict(self.filter.get("changed_to") or {})
        if "stage_changed_to" in self.filter:
            changed_to["stage_id"] = self.filter["stage_changed_to"]
        if "status_changed_to" in self.filter:
            changed_to["status"] = self.filter["status_changed_to"]
        return changed_to

    def matches(self, payload: dict[str, Any]) -> bool:
        """True when a `{meta, data, previous}` event is one of the trigger's events and passes its filter.

        A change filter needs `previous` to show the field changed, so an edit of another field, or a
        polled record (whose previous values are unknown), never fires it."""
        meta = payload.get("meta") or {}
        action, entity = meta.get("action"), meta.get("entity")
        if not any(_event_covers(e, action, entity) for e in self.events):
            return False
        data, previous = payload.get("data") or {}, payload.get("previous")
        for name, value in (self.filter.get("where") or {}).items():
            if not _same(_field(data, name), value):
                return False
        watched = self.conditions()
        changed = self.filter.get("changed") or []
        changed = [changed] if isinstance(changed, str) else changed
        if not (watched or changed):
            return True
        if action != "change" or not isinstance(previous, dict):
            return False
        if changed and not any(_has_field(previous, name) for name in changed):
            return False
        return all(
            _has_field(previous, name) and not _same(_field(previous, name), value) and _same(_field(data, name), value)
            for name, value in watched.items()
        )


def _event_covers(event: str, action: Any, entity: Any) -> bool:
    want_action, _, want_object = event.partition(".")
    return want_action in ("*", action) and want_object in ("*", entity)


def _field(record: dict[str, Any], name: str) -> Any:
    """A field by name; `custom_fields.abc` reaches into an object."""
    value: Any = record
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _has_field(record: dict[str, Any], name: str) -> bool:
    head, _, rest = name.partition(".")
    if head not in record:
        return False
    return not rest or (isinstance(record[head], dict) and _has_field(record[head], rest))


def _same(a: Any, b: Any) -> bool:
    """Equal, with a number and its text counting as the same (`3` and `"3"`)."""
    return a == b or (a is not None and b is not None and not isinstance(a, (dict, list)) and str(a) == str(b))


def trigger_problems(raw: dict[str, Any]) -> list[str]:
    """What is wrong with a flow's `trigger:` (its shape is checked by FLOW_SCHEMA first)."""
    events = raw["event"] if isinstance(raw["event"], list) else [raw["event"]]
    problems = []
    for event in events:
        action, dot, obj = event.partition(".")
        if not dot or action not in (*EVENT_ACTIONS, "*") or obj not in (*EVENT_OBJECTS, "*"):
            problems.append(
                f"trigger: event {event!r} is not ACTION.OBJECT: ACTION is {', '.join(EVENT_ACTIONS)} or *, "
                f"OBJECT is {', '.join(EVENT_OBJECTS)} or * (for example change.deal)"
            )
    filt = raw.get("filter") or {}
    for key in sorted(set(filt) - set(FILTER_KEYS)):
        hint = _did_you_mean(key, FILTER_KEYS)
        problems.append(f"trigger: filter {key!r} is not known; a filter has {', '.join(FILTER_KEYS)}{hint}")
    shapes = {
        "stage_changed_to": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "status_changed_to": lambda v: v in DEAL_STATUSES,
        "changed": lambda v: isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v)),
        "changed_to": lambda v: isinstance(v, dict) and v and all(not isinstance(x, (dict, list)) for x in v.values()),
        "where": lambda v: isinstance(v, dict) and v and all(not isinstance(x, (dict, list)) for x in v.values()),
    }
    for key, fits in shapes.items():
        if key in filt and not fits(filt[key]):
            problems.append(f"trigger: filter {key}: {filt[key]!r} is not {FILTER_KEYS[key]}")
    if CHANGE_FILTERS & set(filt) and not any(e.partition(".")[0] in ("change", "*") for e in events):
        problems.append("trigger: a filter on changes needs a change event (change.OBJECT or *.OBJECT)")
    if {"stage_changed_to", "status_changed_to"} & set(filt):
        if not any(e.partition(".")[2] in ("deal", "*") for e in events):
            problems.append("trigger: stage_changed_to and status_changed_to are about deals: use a deal event")
    return problems


@dataclass
class Flow:
    name: str
    steps: list[Step]
    custom_field_names: bool = False  # the default of customFieldNames for steps that offer it
    trigger: Trigger | None = None

    @classmethod
    def load(cls, path: str | Path, runtime: Runtime | None = None) -> Flow:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise FlowError([f"{path}: cannot read the flow file: {getattr(exc, 'strerror', None) or exc}"]) from None
        try:
            raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FlowError([f"{path}: not valid YAML: {yaml_problem(exc)}"]) from None
        except ValueError as exc:
            raise FlowError([f"{path}: not valid JSON: {exc}"]) from None
        return cls.from_dict(raw, runtime, str(path))

    @classmethod
    def from_dict(cls, raw: Any, runtime: Runtime | None = None, source: str = "flow") -> Flow:
        """The flow, or a FlowError listing every problem `check` finds: a broken flow fails once,
        when it loads, rather than on every job. A bare list of steps is a flow too."""
        if isinstance(raw, list):
            raw = {"steps": raw}
        problems = check(raw, runtime.bundle if runtime is not None else None)
        if problems:
            raise FlowError([f"{source}: {problem}" for problem in problems])
        steps = [
            Step(cast(str, _step_id(s)), s["action"], s.get("inputs") or {}, s.get("when"), s.get("naturalKey"))
            for s in raw["steps"]
        ]
        trigger = None
        if raw.get("trigger"):
            event = raw["trigger"]["event"]
            trigger = Trigger(event if isinstance(event, list) else [event], raw["trigger"].get("filter") or {})
        name = raw.get("name") or Path(source).stem
        return cls(name, steps, custom_field_names=bool(raw.get("customFieldNames")), trigger=trigger)


# ---- checking a flow before it runs ------------------------------------------------------
def check(raw: Any, bundle: Bundle | None = None) -> list[str]:
    """Every problem that would fail each job, found without running one: the flow's structure, template
    syntax, names templates use, references to steps, and (with a bundle) actions, input names and constants."""
    from jsonschema import Draft202012Validator

    if not isinstance(raw, dict):
        return ["a flow is a mapping with a `steps:` list (or a bare list of steps)"]
    problems, broken, malformed = [], set(), False
    for error in Draft202012Validator(FLOW_SCHEMA).iter_errors(raw):
        path = list(error.absolute_path)
        if len(path) > 1 and path[0] == "steps":
            step_id = _step_id(raw["steps"][path[1]])
            label = f"step {path[1] + 1}" + (f" ({step_id!r})" if step_id else "")
            where = ".".join(str(p) for p in path[2:])
            problems.append(f"{label}: {where + ': ' if where else ''}{error.message}")
            broken.add(path[1])
        else:
            where = ".".join(str(p) for p in path)
            problems.append(f"{where + ': ' if where else ''}{error.message}")
            malformed = True
    if malformed:
        return problems  # no usable list of steps: nothing more to look at
    if raw.get("trigger"):
        problems += trigger_problems(raw["trigger"])
    ids = [_step_id(step) for step in raw["steps"]]
    for i, step in enumerate(raw["steps"]):
        if i in broken:
            continue
        if ids[i] in ids[:i]:
            problems.append(f"step {ids[i]!r}: the id is used twice; give each step its own id")
        problems += [f"step {ids[i]!r}{problem}" for problem in _check_step(step, ids[:i], ids[i:], bundle)]
        if step.get("naturalKey"):
            key = {"action": step["naturalKey"]["action"], "inputs": step["naturalKey"]["inputs"]}
            problems += [f"step {ids[i]!r} naturalKey{p}" for p in _check_step(key, ids[:i], ids[i:], bundle)]
    return problems


def _step_id(step: Any) -> str | None:
    """A step's id: its `id`, else its action key (None for a step too malformed to have one)."""
    step_id = (step.get("id") or step.get("action")) if isinstance(step, dict) else None
    return step_id if isinstance(step_id, str) else None


def _check_step(
    step: dict[str, Any], earlier: list[str | None], later: list[str | None], bundle: Bundle | None
) -> Iterator[str]:
    """This step's problems, each starting with what it is about (` input 'x': ...`)."""
    action: Action | None = None
    if bundle is not None:
        try:
            action = bundle.action(step["action"])
        except KeyError as exc:
            yield f": {exc.args[0]}"
        else:
            if action.removed:
                yield (
                    f": action {action.key} is no longer available: {action.removed['reason']} "
                    f"(removed {action.removed['date']}); use instead: {action.removed['instead']}"
                )
                action = None
    if step.get("when") is not None:
        yield from (f" when: {p}" for p in _template_problems(step["when"], earlier, later))
    inputs = step.get("inputs") or {}
    known: dict[str, Any] = action.schema.get("properties", {}) if action else {}
    for name, value in inputs.items():
        if action is not None and name not in known:
            hint = _did_you_mean(name, known) or f" (`pipedrive-connect describe {action.key}` lists the inputs)"
            yield f" input {name!r}: unknown input{hint}"
            continue
        templates = [text for text in _strings(value) if "{{" in text or "{%" in text]
        for text in templates:
            yield from (f" input {name!r}: {p}" for p in _template_problems(text, earlier, later))
        if action is not None and not templates and value != "":
            problem = _constant_problem(action, name, value)
            if problem:
                yield f" input {name!r}: {problem}"
    for name in action.schema.get("required", []) if action else []:
        if inputs.get(name) in (None, ""):
            yield f" input {name!r}: required, but the step does not set it"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _template_problems(text: str, earlier: list[str | None], later: list[str | None]) -> list[str]:
    """Syntax, unknown filters, names other than job and steps, unknown job fields and step references
    that are not (yet) there: all things that fail every job."""
    templates = template_env()  # the runtime's environment: same syntax, filters and tests
    try:
        tree = templates.parse(text)
        templates.compile(tree)  # unknown filters and tests surface here
    except TemplateSyntaxError as exc:
        return [f"template error: {exc.message} (line {exc.lineno})"]
    problems = [
        f"unknown name {name!r} (templates see job and steps){_did_you_mean(name, ['job', 'steps'])}"
        for name in sorted(meta.find_undeclared_variables(tree) - {"job", "steps"} - set(templates.globals))
    ]
    refs: dict[str, set[str]] = {"job": set(), "steps": set()}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not isinstance(node, (nodes.Getattr, nodes.Getitem)):
            continue  # never: find_all yields only these; the test tells the type checker so
        if isinstance(node.node, nodes.Name) and node.node.name in refs:
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(key, str):
                refs[node.node.name].add(key)
    for key in sorted(refs["job"] - set(_JOB_FIELDS)):
        problems.append(
            f"unknown job field {key!r} (a job has {', '.join(_JOB_FIELDS)}){_did_you_mean(key, _JOB_FIELDS)}"
        )
    for key in sorted(refs["steps"] - set(earlier)):
        if key in later:
            problems.append(f"refers to steps.{key}, which has not run yet at this point (steps run in order)")
        else:
            problems.append(f"refers to steps.{key}, which is not a step of this flow{_did_you_mean(key, earlier)}")
    return problems


def _constant_problem(action: Action, name: str, value: Any) -> str | None:
    """What is wrong with a fixed (non-template) input value once coerced as a job's would be."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema = action.schema["properties"][name]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    error = best_match(validator.iter_errors(coerce(value, schema)))
    if error is None:
        return None
    if error.validator == "not" and "x-dropped" in error.schema:
        return error.schema.get("description") or error.schema["x-dropped"]
    where = ".".join(str(p) for p in error.absolute_path)
    message = error.message if len(error.message) < 300 else error.message[:300] + "..."
    return message + (f" (at {where})" if where else "")


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(name, [c for c in choices if c], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def run_flow(runtime: Runtime, flow: Flow, job: Job, journal=None) -> Outcome:
    """Run the steps in order. Steps already in `job.steps` (a resumed job) are not run again.

    `journal`, when given, is told before and after each step so a crash can be recovered.
    """
    outcome = Outcome("success", job)
    for step in flow.steps:
        done = outcome.job.steps.get(step.id)
        doubtful = isinstance(done, dict) and bool(done.get(IN_DOUBT))
        if done is not None and not doubtful:
            continue
        if step.when is not None:
            try:
                decision = str(render(step.when, outcome.job.template_context(), f"{step.id}.when")).strip().lower()
            except StepError as exc:
                outcome.route, outcome.error, outcome.failed_step = "error", exc, step.id
                return outcome
            if decision in _FALSY:
                continue
        if doubtful and step.natural_key:
            found = _find_by_key(runtime, step, outcome)
            if outcome.route == "error":
                return outcome
            if found is not None:
                outcome.job = outcome.job.with_step(step.id, found)
                if journal is not None:
                    journal.done(step, found)
                continue
        if journal is not None:
            journal.started(step)
        result = runtime.run(step.action, outcome.job, _inputs(runtime, flow, step), step_id=step.id)
        outcome.logs.extend(result.logs)
        outcome.calls += result.calls
        outcome.cost += result.cost
        if result.route == "error":
            outcome.route, outcome.error, outcome.failed_step = "error", result.error, step.id
            return outcome
        outcome.job = result.job
        if journal is not None:
            journal.done(step, outcome.job.steps[step.id])
    return outcome


def _inputs(runtime: Runtime, flow: Flow, step: Step) -> dict[str, Any]:
    """The step's inputs, with the flow's customFieldNames where the step offers it and does not say."""
    if not flow.custom_field_names or "customFieldNames" in step.inputs:
        return step.inputs
    offered = runtime.bundle.action(step.action).schema.get("properties", {})
    return {**step.inputs, "customFieldNames": True} if "customFieldNames" in offered else step.inputs


IN_DOUBT = "outcome_unknown"  # a step record saying the step's create may or may not have happened


def in_doubt(action: str) -> dict[str, Any]:
    """The record that stands for a step whose outcome is unknown, until the step runs again."""
    return {"action": action, IN_DOUBT: True}


def _find_by_key(runtime: Runtime, step: Step, outcome: Outcome) -> dict[str, Any] | None:
    """Before creating again what may exist: run the step's natural-key find; its record stands for the
    create's result when found. A failing find stops the flow there (outcome set to error)."""
    key = step.natural_key or {}
    found = runtime.run(key["action"], outcome.job, key["inputs"], step_id=f"{step.id}.naturalKey")
    outcome.logs.extend(found.logs)
    outcome.calls += found.calls
    outcome.cost += found.cost
    if found.route == "error":
        outcome.route, outcome.error, outcome.failed_step = "error", found.error, step.id
        return None
    result = found.result if isinstance(found.result, dict) else {}
    if "found" not in result:
        outcome.route, outcome.failed_step = "error", step.id
        outcome.error = StepError("input", f"naturalKey action {key['action']} does not answer found/record")
        return None
    if not result["found"]:
        return None
    return {"action": step.action, "result": result["record"], "found_by_natural_key": True}


def write_debug_records(
    outcome: Outcome, out_dir: Path, write: Callable[[Path, bytes], None] = write_atomic
) -> list[dict[str, Any]]:
    """Debug records go to the job's log folder; returns every log item as the routed job lists it."""
    log_dir = out_dir / "log" / outcome.job.log_name
    for item in outcome.logs:
        if item.kind == "debug":
            target = log_dir / safe_filename(item.name, "debug.json")
            write(target, json.dumps(item.record, indent=2, ensure_ascii=False).encode())
            item.path = str(target)
    return [item.to_dict(with_record=False) for item in outcome.logs]


def deliver(outcome: Outcome, out_dir: Path) -> Path:
    """Write the routed job of `run --out` to success/ or error/ (atomically) and debug records to log/.
    (The hot folder delivers through its job store, which also names runs and keeps attachments.)"""
    log_items = write_debug_records(outcome, out_dir)
    target = out_dir / outcome.route / f"{outcome.job.log_name}.json"
    payload = outcome.job.to_dict(target.parent)
    if outcome.error is not None:
        payload["error"] = {**outcome.error.to_dict(), "step": outcome.failed_step}
    payload["log"] = log_items
    write_atomic(target, json.dumps(payload, indent=2, ensure_ascii=False).encode())
    return target
