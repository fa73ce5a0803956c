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

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .bundle import read_yaml
from .engine import Runtime
from .errors import StepError
from .files import safe_filename
from .inputs import render
from .jobs import Job, LogItem, write_atomic

FLOW_SCHEMA = {
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
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
                    "when": {"type": "string", "description": "template; the step is skipped when it renders empty/false"},
                },
            },
        },
    },
}
_FALSY = {"", "false", "0", "no", "none", "null"}


@dataclass
class Step:
    id: str
    action: str
    inputs: dict[str, Any] = field(default_factory=dict)
    when: str | None = None


@dataclass
class Flow:
    name: str
    steps: list[Step]

    @classmethod
    def load(cls, path: str | Path, runtime: Runtime | None = None) -> "Flow":
        path = Path(path)
        raw = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else read_yaml(path)
        return cls.from_dict(raw, runtime, str(path))

    @classmethod
    def from_dict(cls, raw: Any, runtime: Runtime | None = None, source: str = "flow") -> "Flow":
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match

        error = best_match(Draft202012Validator(FLOW_SCHEMA).iter_errors(raw))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            raise ValueError(f"{source}: {where + ': ' if where else ''}{error.message}")
        steps, seen = [], set()
        for i, s in enumerate(raw["steps"]):
            step_id = s.get("id") or s["action"]
            if step_id in seen:
                raise ValueError(f"{source}: steps.{i}: step id {step_id!r} is used twice; give each step an id")
            seen.add(step_id)
            if runtime is not None:  # unknown actions fail at load, not per job
                try:
                    runtime.bundle.action(s["action"])
                except KeyError as exc:
                    raise ValueError(f"{source}: steps.{i}: {exc.args[0]}") from None
            steps.append(Step(step_id, s["action"], s.get("inputs") or {}, s.get("when")))
        return cls(raw.get("name") or Path(source).stem, steps)


@dataclass
class FlowOutcome:
    route: str
    job: Job
    error: StepError | None = None
    failed_step: str | None = None
    logs: list[LogItem] = field(default_factory=list)
    calls: int = 0
    cost: int = 0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"job": self.job.id, "route": self.route, "api_calls": self.calls, "token_cost": self.cost}
        if self.error is not None:
            out["error"] = {**self.error.to_dict(), "step": self.failed_step}
        return out


def run_flow(runtime: Runtime, flow: Flow, job: Job, journal=None) -> FlowOutcome:
    """Run the steps in order. Steps already in `job.steps` (a resumed job) are not run again.

    `journal`, when given, is told before and after each step so a crash can be recovered.
    """
    outcome = FlowOutcome("success", job)
    for step in flow.steps:
        if step.id in outcome.job.steps:
            continue
        if step.when is not None:
            try:
                decision = str(render(step.when, outcome.job.template_context(), f"{step.id}.when")).strip().lower()
            except StepError as exc:
                outcome.route, outcome.error, outcome.failed_step = "error", exc, step.id
                return outcome
            if decision in _FALSY:
                continue
        if journal is not None:
            journal.started(step)
        result = runtime.run(step.action, outcome.job, step.inputs, step_id=step.id)
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


def write_debug_records(outcome: FlowOutcome, out_dir: Path, write: Callable[[Path, bytes], None] = write_atomic
                        ) -> list[dict[str, Any]]:
    """Debug records go to the job's log folder; returns every log item as the routed job lists it."""
    log_dir = out_dir / "log" / outcome.job.log_name
    for item in outcome.logs:
        if item.kind == "debug":
            target = log_dir / safe_filename(item.name, "debug.json")
            write(target, json.dumps(item.record, indent=2, ensure_ascii=False).encode())
            item.path = str(target)
    return [item.to_dict(with_record=False) for item in outcome.logs]


def deliver(outcome: FlowOutcome, out_dir: Path, name: str | None = None) -> Path:
    """Write the routed job to success/ or error/ (atomically) and debug records to log/."""
    name = name or outcome.job.log_name
    log_items = write_debug_records(outcome, out_dir)
    target = out_dir / outcome.route / f"{name}.json"
    payload = outcome.job.to_dict(target.parent)
    if outcome.error is not None:
        payload["error"] = {**outcome.error.to_dict(), "step": outcome.failed_step}
    payload["log"] = log_items
    write_atomic(target, json.dumps(payload, indent=2, ensure_ascii=False).encode())
    return target
