"""The designer's HTTP API and page: the catalog, each step's wizard, live dropdowns, preview, test runs and
flows, as JSON over the same `Runtime` the command line and the hot folder use.

The service holds the Pipedrive connection; the browser only ever sees redacted requests and results.
On loopback it checks the Host header (no DNS rebinding) and takes only JSON POSTs, which a page of
another origin cannot send without a preflight it never gets; bound elsewhere it also wants a Bearer
token, compared in constant time. "Connect to Pipedrive" (`connect.py`) adds two browser navigations, the
sign-in's start and Pipedrive's callback, whose checks are described at `_navigation`.
"""

from __future__ import annotations

import hmac
import html
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from ..bundle import Action, yaml_problem
from ..errors import StepError
from ..files import FileRoots
from ..flows import (
    CHANGE_FILTERS,
    DEAL_STATUSES,
    EVENT_ACTIONS,
    EVENT_OBJECTS,
    FILTER_KEYS,
    Flow,
    FlowError,
    check,
    run_flow,
)
from ..jobs import Job, JobFileError
from ..runtime import Runtime
from .connect import CallbackRefused, Connector, OAuthApp

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"index.html": "text/html", "designer.js": "text/javascript", "designer.css": "text/css"}
MAX_BODY = 1024 * 1024  # bytes a request body may have
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
# what a StepError's kind becomes as an HTTP status: the connector's own judgement of the request, or
# 502 when Pipedrive (the upstream) failed or refused the connection the service holds
STATUS = {
    "input": 422,
    "rejected": 422,
    "not_found": 404,
    "rate_limited": 429,
    "budget_exhausted": 429,
    "connection": 502,
    "server": 502,
    "network": 502,
    "outcome_unknown": 502,
    "unexpected": 500,
}

# ---- what the trigger slot offers (the filter language is flows.py's) ----------------------------
ACTION_LABELS = {
    "create": "is added",
    "change": "is changed",
    "delete": "is deleted",
    "*": "is added, changed or deleted",
}
FILTER_LABELS = {
    "stage_changed_to": "Stage changed to",
    "status_changed_to": "Status changed to",
    "changed_to": "Field changed to",
    "changed": "Field changed",
    "where": "Field is",
}
FILTER_TAKES = {  # how the page asks for the value: a stage, a status, a field, or a field and a value
    "stage_changed_to": "stage",
    "status_changed_to": "choice",
    "changed": "field",
    "changed_to": "field_value",
    "where": "field_value",
}
# the fields of a v2 event's record the page offers for each object, besides those of its field list
# (the sandbox's field lists hold only custom fields; Pipedrive's hold the standard ones too)
RECORD_FIELDS = {
    "deal": (
        "title",
        "value",
        "currency",
        "status",
        "stage_id",
        "pipeline_id",
        "owner_id",
        "person_id",
        "org_id",
        "expected_close_date",
        "add_time",
        "update_time",
    ),
    "person": ("name", "emails", "phones", "org_id", "owner_id", "add_time", "update_time"),
    "organization": ("name", "address", "owner_id", "add_time", "update_time"),
    "activity": ("subject", "type", "due_date", "done", "deal_id", "person_id", "org_id", "owner_id"),
    "product": ("name", "code", "prices", "owner_id", "add_time", "update_time"),
    "lead": ("title", "person_id", "organization_id", "owner_id", "value", "add_time", "update_time"),
    "note": ("content", "deal_id", "person_id", "org_id", "lead_id", "user_id", "add_time"),
}
# what `meta` of a v2 event holds (docs/triggers.md); a polled record's event has a few of them
EVENT_META = (
    "id",
    "action",
    "entity",
    "entity_id",
    "user_id",
    "company_id",
    "timestamp",
    "attempt",
    "change_source",
    "is_bulk_edit",
)
CUSTOM_CODE = re.compile(r"^[0-9a-f]{40}$")  # a custom field's code: in a v2 record it is under custom_fields


class ApiError(Exception):
    """A request the API refuses: its status and a message saying what to change."""

    def __init__(self, code: int, message: str, kind: str = "request", **extra: Any):
        super().__init__(message)
        self.status, self.body = code, {"error": {"type": kind, "message": message, **extra}}


@dataclass
class Settings:
    """How the service was started: who may call it and where job files may come from."""

    host: str = "127.0.0.1"
    port: int = 0
    auth_token: str | None = None
    file_roots: FileRoots | None = None  # folders a job's files may name (none: no job files)
    oauth: OAuthApp | None = None  # the app "Connect to Pipedrive" signs in with (none: no button)


class Designer:
    """The WSGI application."""

    def __init__(self, runtime: Runtime, settings: Settings | None = None):
        self.runtime, self.settings = runtime, settings or Settings()
        if self.settings.host not in LOOPBACK and not self.settings.auth_token:
            raise ValueError(f"serving on {self.settings.host} needs --auth-token (only loopback may go without)")
        runtime.file_roots = self.settings.file_roots or FileRoots([])
        self.bundle = runtime.bundle
        self.connector = Connector(runtime, self.settings.oauth)
        self.urls = Map(
            [
                Rule("/", endpoint="page", methods=["GET"]),
                Rule("/static/<name>", endpoint="static", methods=["GET"]),
                Rule("/api/actions", endpoint="actions", methods=["GET"]),
                Rule("/api/actions/<key>", endpoint="action", methods=["GET"]),
                Rule("/api/picklists", endpoint="picklists", methods=["GET"]),
                Rule("/api/picklists/<key>", endpoint="picklist", methods=["POST"]),
                Rule("/api/preview", endpoint="preview", methods=["POST"]),
                Rule("/api/run", endpoint="run", methods=["POST"]),
                Rule("/api/triggers", endpoint="triggers", methods=["GET"]),
                Rule("/api/triggers/<entity>", endpoint="trigger_event", methods=["GET"]),
                Rule("/api/flows/validate", endpoint="validate", methods=["POST"]),
                Rule("/api/flows/run", endpoint="flow_run", methods=["POST"]),
                Rule("/api/connection", endpoint="connection", methods=["GET"]),
                Rule("/api/oauth/start", endpoint="oauth_start", methods=["POST"]),
                Rule("/oauth/start", endpoint="navigate_start", methods=["GET"]),
                Rule("/oauth/callback", endpoint="navigate_callback", methods=["GET"]),
            ]
        )

    # ---- WSGI --------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        try:
            response = self.dispatch(request)
        except ApiError as exc:
            response = _json(exc.body, exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="pipedrive-connect designer"'
        except NotFound:
            response = _json({"error": {"type": "request", "message": f"no such endpoint: {request.path}"}}, 404)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            response = _json(
                {"error": {"type": "request", "message": f"{request.method} is not allowed here; use {allowed}"}}, 405
            )
            response.headers["Allow"] = allowed
        except HTTPException as exc:
            response = _json({"error": {"type": "request", "message": exc.description}}, exc.code or 400)
        except Exception as exc:  # a connector fault: the type and nothing of its text (it may quote a secret)
            response = _json({"error": {"type": "unexpected", "message": f"internal error: {type(exc).__name__}"}}, 500)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        self._check_origin(request)
        endpoint, args = self.urls.bind_to_environ(request.environ).match()
        if endpoint == "page":
            return self._static("index.html")
        if endpoint == "static":
            return self._static(args["name"])
        if endpoint.startswith("navigate_"):
            return self._navigation(request, endpoint)
        self._check_auth(request)
        body = self._body(request) if request.method == "POST" else None
        return _json(getattr(self, f"api_{endpoint}")(request, body, **args))

    def _check_origin(self, request: Request) -> None:
        """On loopback, only a page served from here may call: the Host a browser sends must be a loopback
        name (a rebinding attacker's page sends its own), and an Origin must match the Host."""
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if self.settings.host in LOOPBACK and host not in LOOPBACK:
            raise ApiError(403, "this designer answers only on its loopback address", "forbidden")
        origin = request.headers.get("Origin")
        if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
            raise ApiError(403, "requests from other sites are refused", "forbidden")

    def _navigation(self, request: Request, endpoint: str) -> Response:
        """The two addresses a browser navigates to, which carry no Authorization header.

        `/oauth/start` is for a person on a loopback designer without a token (the page itself uses
        `POST /api/oauth/start`, which passes every API check): it is refused when the designer has a
        token, and when the browser says another site sent it there (Sec-Fetch-Site), so a page elsewhere
        cannot start a sign-in in your browser. `/oauth/callback` comes from Pipedrive's site, so neither
        applies: its `state` is its credential (unguessable, from a start that passed the checks, used
        once, expiring). The Host check applies to both, as to every request.
        """
        if endpoint == "navigate_start":
            if self.settings.auth_token:
                raise ApiError(401, "this designer has a token: connect from its page", "unauthorized")
            if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
                raise ApiError(403, "a sign-in may only be started from this designer's page", "forbidden")
            return Response(status=302, headers={"Location": self._start(request)})
        if self.settings.oauth is None:
            raise ApiError(404, "this designer has no OAuth app (start it with --oauth-client-id)", "not_configured")
        try:
            self.connector.finish({k: str(v) for k, v in request.args.items()})
        except CallbackRefused as exc:
            return _page("Not connected", str(exc), 400)
        except StepError as exc:
            return _page("Not connected", exc.message, 502)
        except OSError as exc:
            message = f"The connection file cannot be written ({exc.strerror}); nothing was saved."
            return _page("Not connected", message, 500)
        return Response(status=303, headers={"Location": "/"})

    def _start(self, request: Request) -> str:
        try:
            return self.connector.start(request.host_url + "oauth/callback")
        except LookupError as exc:
            raise ApiError(404, exc.args[0], "not_configured") from None

    def _check_auth(self, request: Request) -> None:
        expected = self.settings.auth_token
        if not expected:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise ApiError(401, "this designer needs its token: Authorization: Bearer TOKEN", "unauthorized")

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if request.mimetype != "application/json":
            raise ApiError(415, "send the body as JSON (Content-Type: application/json)")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise ApiError(413, f"the body is over {MAX_BODY} bytes")
        raw = request.stream.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise ApiError(413, f"the body is over {MAX_BODY} bytes")
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ApiError(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    def _static(self, name: str) -> Response:
        if name not in PAGES:
            raise NotFound()
        return Response((STATIC / name).read_bytes(), mimetype=PAGES[name])

    # ---- the connection ---------------------------------------------------------------------------
    def api_connection(self, request: Request, body: None) -> dict[str, Any]:
        return self.connector.account()

    def api_oauth_start(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        _only(body, set())
        return {"authorization_url": self._start(request)}

    # ---- the catalog and wizards ----------------------------------------------------------------
    def api_actions(self, request: Request, body: None) -> dict[str, Any]:
        live = [a for a in self.bundle.actions.values() if not a.removed]
        resources = sorted({a.resource for a in live})
        wanted = request.args.get("resource")
        if wanted is not None and wanted not in resources:
            raise ApiError(400, f"unknown resource {wanted!r}; choose from {', '.join(resources)}")
        rows = [a.summary() for a in live if wanted is None or a.resource == wanted]
        return {"resources": resources if wanted is None else [wanted], "actions": rows}

    def api_action(self, request: Request, body: None, key: str) -> dict[str, Any]:
        return wizard(self._action(key, allow_removed=True), self.runtime)

    def api_picklists(self, request: Request, body: None) -> dict[str, Any]:
        return {"picklists": [s.summary() for s in self.bundle.datasources.values()]}

    def api_picklist(self, request: Request, body: dict[str, Any], key: str) -> dict[str, Any]:
        _only(body, {"values", "search", "cursor", "limit"})
        if key not in self.bundle.datasources:
            raise ApiError(404, f"unknown picklist {key!r}; GET /api/picklists lists them")
        values = _mapping(body, "values")
        search, cursor = _text(body, "search"), _text(body, "cursor")
        limit = body.get("limit", 50)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
            raise ApiError(400, "'limit' must be a whole number from 1 to 500")
        # a value still holding a template is chosen only when a job runs: the dropdown does not depend on it
        params = {k: v for k, v in values.items() if isinstance(v, (str, int)) and "{{" not in str(v)}
        try:
            page = self.runtime.picklist(key, search or None, params, cursor or None, limit)
        except StepError as exc:
            raise _step_error(exc) from None
        return {"options": page.options, "next_cursor": page.next_cursor}

    # ---- one step -------------------------------------------------------------------------------
    def api_preview(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        action, inputs, job = self._step(body)
        try:
            return self.runtime.preview(action, job, inputs)
        except StepError as exc:
            raise _step_error(exc) from None

    def api_run(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        action, inputs, job = self._step(body)
        outcome = self.runtime.run(action, job, inputs)
        return outcome.to_dict()

    def _step(self, body: dict[str, Any]) -> tuple[Action, dict[str, Any], Job]:
        _only(body, {"action", "inputs", "job"})
        key = body.get("action")
        if not isinstance(key, str) or not key:
            raise ApiError(400, "'action' must name an action, e.g. addDeal")
        return self._action(key), _mapping(body, "inputs"), self._job(body)

    def _action(self, key: str, allow_removed: bool = False) -> Action:
        try:
            action = self.bundle.action(key)
        except KeyError as exc:
            raise ApiError(404, exc.args[0], "not_found") from None
        if action.removed and not allow_removed:
            raise ApiError(410, action.removed_message, "removed", removed=action.removed)
        return action

    def _job(self, body: dict[str, Any]) -> Job:
        raw = body.get("job") or {}
        try:
            return Job.from_dict(raw, roots=self.runtime.file_roots)
        except JobFileError as exc:
            raise ApiError(400, f"job: {exc}") from None

    # ---- triggers -------------------------------------------------------------------------------
    def api_triggers(self, request: Request, body: None) -> dict[str, Any]:
        """What a flow can start on, for the trigger slot: events are ACTION.OBJECT, and each filter
        kind says what it takes and which events it fits (the rules `check` applies on save)."""
        return {
            "objects": [{"key": o, "label": o.capitalize()} for o in EVENT_OBJECTS]
            + [{"key": "*", "label": "Any object"}],
            "actions": [{"key": a, "label": ACTION_LABELS[a]} for a in (*EVENT_ACTIONS, "*")],
            "filters": [self._filter_kind(key) for key in FILTER_KEYS],
        }

    def _filter_kind(self, key: str) -> dict[str, Any]:
        kind: dict[str, Any] = {
            "key": key,
            "label": FILTER_LABELS[key],
            "description": FILTER_KEYS[key],
            "takes": FILTER_TAKES[key],
            "actions": ["change", "*"] if key in CHANGE_FILTERS else [*EVENT_ACTIONS, "*"],
            "objects": ["deal", "*"] if key in ("stage_changed_to", "status_changed_to") else [*EVENT_OBJECTS, "*"],
        }
        if key == "stage_changed_to":
            kind["picklist"] = {"key": "selectStage", "searchable": False, "fixed": {}, "depends_on": []}
        if key == "status_changed_to":
            kind["choices"] = [{"value": s, "label": s.capitalize()} for s in DEAL_STATUSES]
        return kind

    def api_trigger_event(self, request: Request, body: None, entity: str) -> dict[str, Any]:
        """What a job started by an event about `entity` holds, for "insert a value": the record's fields
        (its usual ones and, where it has a field list, those read live), the event's meta, a sample event."""
        if entity not in (*EVENT_OBJECTS, "*"):
            raise ApiError(404, f"unknown object {entity!r}; choose from {', '.join(EVENT_OBJECTS)} or *", "not_found")
        fields = ["id", *RECORD_FIELDS.get(entity, ())]
        if entity != "*":
            resource = "activities" if entity == "activity" else entity + "s"
            fields += [f for f in _record_fields(resource, self.runtime) if f not in fields]
        data: dict[str, Any] = {}
        for name in fields:
            head, _, rest = name.partition(".")
            if rest:
                data.setdefault(head, {})[rest] = None
            else:
                data[name] = 1 if name == "id" else None
        meta = {name: None for name in EVENT_META} | {"action": "change", "entity": entity, "entity_id": "1"}
        paths = [_template_path("job.data.data", name) for name in fields]
        paths += [_template_path("job.data.previous", name) for name in fields if name != "id"]
        paths += [_template_path("job.data.meta", name) for name in EVENT_META]
        sample = {"meta": meta, "data": data, "previous": {}}
        return {"object": entity, "fields": fields, "paths": paths, "sample": sample}

    # ---- flows ----------------------------------------------------------------------------------
    def api_validate(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        """The flow's problems, and the flow as YAML to save (the file `watch --flow` runs) and as JSON
        (what the page loads from a YAML file it was given)."""
        _only(body, {"flow"})
        raw = _flow(body)
        problems = check(raw, self.bundle)
        text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return {"ok": not problems, "problems": problems, "flow": raw, "yaml": text}

    def api_flow_run(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        _only(body, {"flow", "job"})
        raw, job = _flow(body), self._job(body)
        try:
            flow = Flow.from_dict(raw, self.runtime)
        except FlowError as exc:
            raise ApiError(422, "the flow cannot run; fix these first", "invalid_flow", problems=exc.problems) from None
        outcome = run_flow(self.runtime, flow, job)
        steps = []
        for step in flow.steps:
            done = outcome.job.steps.get(step.id)
            if done is not None:
                steps.append({"id": step.id, "action": step.action, "status": "success", "result": done.get("result")})
            elif step.id == outcome.failed_step:
                error = outcome.error.to_dict() if outcome.error else None
                steps.append({"id": step.id, "action": step.action, "status": "error", "error": error})
            else:
                status = "not run" if outcome.failed_step else "skipped"
                steps.append({"id": step.id, "action": step.action, "status": status})
        report = outcome.to_dict()
        report.pop("result", None)
        return {**report, "steps": steps}


# ---- what a step's wizard shows ----------------------------------------------------------------
def wizard(action: Action, runtime: Runtime) -> dict[str, Any]:
    """One action for its config wizard: the summary, the schema, a field per input saying how to show it
    (dropdown and from which picklist, filled by which other inputs), and what the step gives back."""
    out = action.summary()
    if action.removed:
        return {**out, "removed": action.removed, "message": action.removed_message}
    schema = action.schema
    required = set(schema.get("required", []))
    props = schema.get("properties", {})
    out["schema"] = schema
    out["fields"] = [_field(name, prop, name in required, props, runtime) for name, prop in props.items()]
    out["output"] = _output(action, runtime)
    return out


def _field(name: str, prop: dict[str, Any], required: bool, props: dict[str, Any], runtime: Runtime) -> dict:
    items: dict[str, Any] = prop["items"] if isinstance(prop.get("items"), dict) else {}
    kind = prop.get("type", "string")
    field: dict[str, Any] = {
        "name": name,
        "title": prop.get("title", name),
        "description": prop.get("description", ""),
        "type": kind,
        "required": required,
        "option": prop.get("x-in") == "runtime",  # read by the connector, not sent: paging, debugging...
    }
    for key in ("default", "examples", "format", "pattern", "minimum", "maximum"):
        if key in prop:
            field[key] = prop[key]
    if "not" in prop and "x-dropped" in prop:
        field["dropped"] = prop.get("description") or prop["x-dropped"]
    if "x-deprecated-alias" in prop:
        field["formerly"] = prop["x-deprecated-alias"]
    enum_source = prop if "enum" in prop else items
    if "enum" in enum_source:
        labels = enum_source.get("x-enum-labels", {})
        field["choices"] = [{"value": v, "label": labels.get(str(v), str(v))} for v in enum_source["enum"]]
        field["multiple"] = kind == "array"
    source_key = prop.get("x-datasource") or items.get("x-datasource")
    if source_key:
        source = runtime.bundle.datasource(source_key)
        fixed = prop.get("x-datasource-params") or {}
        field["multiple"] = kind == "array"
        field["picklist"] = {
            "key": source_key,
            "searchable": "search_path" in source.decl or source.decl.get("paging") == "none",
            "fixed": fixed,
            # the picklist's other parameters come from the inputs of the same name on this form
            "depends_on": [p for p in source.params if p not in fixed and p in props],
        }
    return field


def _output(action: Action, runtime: Runtime) -> dict[str, Any]:
    """What the step returns, for "insert a value from an earlier step": the record's fields where the
    resource has a field list (read live through its picklist, cached), else its id; a list action gives
    a list of them. A test run shows the real result."""
    record: dict[str, Any] = {"type": "object", "properties": {"id": {"type": "integer", "title": "ID"}}}
    for option in _field_options(action.resource, runtime):
        record["properties"].setdefault(option["key"], {"title": option["label"]})
    if action.paging:
        return {"schema": {"type": "array", "items": record}}
    return {"schema": record}


def _field_options(resource: str, runtime: Runtime) -> list[dict[str, Any]]:
    """The resource's fields as its field picklist gives them (none without a field list or connection)."""
    path = runtime.bundle.custom_field_lists.get(resource)
    key = next((k for k, source in runtime.bundle.datasources.items() if path and source.path == path), None)
    if key is None or runtime.connection is None:
        return []
    try:
        return runtime.picklist(key, limit=500).options
    except StepError:
        return []  # the fields cannot be read now: the usual ones are still offered


def _record_fields(resource: str, runtime: Runtime) -> list[str]:
    """The names of a v2 record's fields from the resource's field list, custom ones as custom_fields.CODE."""
    names = [str(o["key"]) for o in _field_options(resource, runtime)]
    return [f"custom_fields.{n}" if CUSTOM_CODE.match(n) else n for n in names]


def _template_path(prefix: str, name: str) -> str:
    """`prefix.a.b` as a template writes it: a part that is not a name (a custom field's code) in brackets."""
    return prefix + "".join(f".{p}" if p.isidentifier() else f"[{p!r}]" for p in name.split("."))


# ---- request helpers ---------------------------------------------------------------------------
def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value, ensure_ascii=False, default=str), status, mimetype="application/json")


def _page(title: str, message: str, status: int) -> Response:
    """What a browser sent back from Pipedrive sees when connecting failed."""
    text = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p><p><a href='/'>Back to the designer</a></p>"
    )
    return Response(text, status, mimetype="text/html")


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown key {unknown[0]!r}; this endpoint takes {', '.join(sorted(allowed))}")


def _mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise ApiError(400, f"'{key}' must be a JSON object")
    return value


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"'{key}' must be a string")
    return value


def _flow(body: dict[str, Any]) -> Any:
    """The flow of a request: an object (or a bare list of steps), or the text of a YAML or JSON file."""
    raw = body.get("flow")
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ApiError(400, f"flow: not valid YAML: {yaml_problem(exc)}") from None
    if isinstance(raw, list):
        raw = {"steps": raw}
    if not isinstance(raw, dict):
        raise ApiError(400, "'flow' must be a flow: {name, steps: [...]} or its YAML text")
    return raw


def _step_error(exc: StepError) -> ApiError:
    error = exc.to_dict()
    return ApiError(STATUS.get(exc.kind, 500), error.pop("message"), error.pop("type"), **error)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        pass


class DesignerServer:
    """The designer served from a background thread (the command line waits on it; tests stop it)."""

    def __init__(self, designer: Designer):
        self.designer = designer
        settings = designer.settings
        server = make_server(settings.host, settings.port, designer, threaded=True, request_handler=_QuietHandler)
        self._server = cast(BaseWSGIServer, server)
        self._server.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="designer", daemon=True
        )

    @property
    def url(self) -> str:
        host = self.designer.settings.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self._server.server_port}"

    def __enter__(self) -> DesignerServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
