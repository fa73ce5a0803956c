"""Run one job through one action and route it: exactly one of success/error, plus log items.

`Runtime` ties a bundle to a connection. `Call` is what a handler sees: its validated
inputs, the job, and request helpers that already know the action's API version, token
cost and debug setting. Most actions use `endpoint`, the generic handler driven by the
declaration and the input schema; code in the bundle is only for the quirks. Picklists
(`picklist`) fill config-wizard dropdowns from live data.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from . import pipedrive
from .bundle import Action, Bundle, DataSource
from .client import ApiResponse, PipedriveClient, Redactor, Request, RetrySettings, Usage, first_page
from .connection import Connection
from .errors import StepError
from .files import FileRoots, readable_file, unique_path
from .inputs import PlainCheck, check_path_value, coerce, render, resolve_aliases, validation_error
from .jobs import Job, LogItem, Outcome

TRANSFORMS = {
    # an e-mail or phone, or a list of them, as v2's [{value, primary}] list
    "primaryList": lambda v: [
        ({"value": item, "primary": i == 0} if not isinstance(item, dict) else item)
        for i, item in enumerate(v if isinstance(v, list) else [v])
    ],
    "csv": lambda v: ",".join(str(x) for x in v) if isinstance(v, list) else v,
    "int01": lambda v: 1 if v else 0,
    "repeat": lambda v: tuple(v) if isinstance(v, list) else (v,),  # ids=1&ids=2, where the spec explodes arrays
}


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):  # a repeated parameter (the `repeat` transform)
        return [str(v) for v in value]
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


class Call:
    """One action run on one job: its validated inputs, the job, and what a handler needs.

    A handler builds a `Request` (`wire` for the declared one, `request` for another endpoint),
    may adjust it, and sends it with `send`, `submit` or `paginate`, which add the call's token
    cost, debug records and usage. Files the job may read, cached lookups and the bundle's other
    code modules are reached through the call too, never through the runtime or the client.
    """

    def __init__(self, runtime: Runtime, action: Action, inputs: dict[str, Any], job: Job):
        self.runtime, self.action, self.inputs, self.job = runtime, action, inputs, job
        self.trace: list | None = [] if inputs.get("debugRequest") else None  # redacted records for log
        self.usage = Usage()
        self.logs: list[LogItem] = []
        self.additional_data: dict[str, Any] | None = None
        self.captured: Request | None = None  # a preview's request, taken instead of being sent
        self.previewing = False
        self.preview_of: Call | None = None  # the previewed call a sub-call's request is taken for

    # ---- requests -------------------------------------------------------------------------
    def request(self, method: str | None = None, path: str | None = None, **fields: Any) -> Request:
        """A request to the action's endpoint (or to `method`/`path`/`api=` instead), with its cost."""
        action = self.action
        fields.setdefault("api", action.api)
        fields.setdefault("cost", action.cost)
        fields.setdefault("search", bool(action.decl.get("search", False)))
        fields.setdefault("form", action.decl.get("body") == "form")
        return Request(method or action.method or "GET", path=path or action.path or "", **fields)

    def wire(self) -> Request:
        """The request the declaration and the inputs describe."""
        action = self.action
        request = self.request(query=dict(action.decl.get("query", {})), body={})
        for param in action.params:
            if param.name not in self.inputs or param.location == "runtime":
                continue
            value = self.inputs[param.name]
            if param.resolver:
                value = self.runtime.bundle.function("actions", param.resolver, action.file, param.name)(self, value)
            if param.transform:
                value = TRANSFORMS[param.transform](value)
            if param.location == "path":
                request.path = request.path.replace("{" + param.wire + "}", quote(str(value), safe=""))
            elif param.location == "query":
                value = _query_value(value)
                if value != "":  # an empty list means "not set", never `name=`
                    request.query[param.wire] = value
            else:
                request.body[param.wire] = value
        return request

    def send(self, request: Request | None = None, **fields: Any) -> ApiResponse:
        """Send `request` (or `self.request(**fields)`) with this call's debug records and usage."""
        return self.runtime.client.execute(
            self._take(request or self.request(**fields)), trace=self.trace, usage=self.usage
        )

    def _take(self, request: Request) -> Request:
        """On a preview, the action's first request is kept and the handler stops: nothing is sent."""
        if self.previewing:
            (self.preview_of or self).captured = request
            raise _Previewed
        return request

    def lookup(self, request: Request, paging: str = "cursor") -> list[Any]:
        """Every item of a read that helps build the action's request (a field list): sent even on a
        preview, since the request shown must be the one that would go out."""
        return list(self.runtime.client.walk(request, paging=paging, trace=self.trace, usage=self.usage))

    def submit(self, request: Request) -> Any:
        """Send a (possibly adjusted) wire request; keep its paging hints; return Pipedrive's data."""
        if not request.body and request.method not in ("POST", "PUT", "PATCH"):
            request.body = None  # nothing to send: no empty JSON object on a read or a delete
        response = self.send(request)
        self.additional_data = response.additional_data or None
        return response.data

    def paginate(self, request: Request, paging: str | None = None, progress: bool = True) -> Iterator[Any]:
        """Every item of a list, page after page (the action's paging style unless `paging` says another)."""
        action = self.action
        if self.previewing:
            self._take(first_page(request, action.page_size))
        items = self.runtime.client.walk(
            request,
            paging=paging or action.paging or "cursor",
            page_size=action.page_size,
            trace=self.trace,
            usage=self.usage,
        )
        show = self.runtime.progress if progress else None
        return show(items, self.usage, action.key) if show else items

    def fetch_all(self, request: Request) -> Any:
        """Every page of a list action's request, without the paging inputs, collected (see `collect`)."""
        query = {k: v for k, v in request.query.items() if k not in ("cursor", "start", "limit")}
        return self.collect(self.paginate(replace(request, query=query)))

    def collect(self, items: Iterable[Any]) -> Any:
        """A fetch-all's items (up to maxItems): a list, or with saveToFile streamed to a JSON Lines
        file on the log output, so memory stays flat however many records the account holds."""
        if self.inputs.get("maxItems") is not None:
            items = itertools.islice(items, self.inputs["maxItems"])  # stops fetching pages early too
        if not self.inputs.get("saveToFile"):
            return list(items)
        target = unique_path(self.log_dir, f"{self.action.key}.jsonl")
        count = 0
        with target.open("w", encoding="utf-8") as fh:
            for item in items:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
                count += 1
        self.log_file(target.name, target, "application/x-ndjson", target.stat().st_size)
        return {"count": count, "file": target.name, "path": str(target)}

    @property
    def api_roots(self) -> pipedrive.Api:
        """Where each API version lives (connector.yaml's `api` block)."""
        return self.runtime.api

    def declared_cost(self, method: str, api: str, path: str) -> int:
        """The token cost of the declared action a method and path belong to (0 when none does)."""
        action = self.runtime.bundle.match_operation(method, api, path)
        return action.cost if action else 0

    # ---- what else handlers need ------------------------------------------------------------
    def readable_file(self, value: Any, input_name: str) -> Path:
        """A file an input names, if the job may read it (see `FileRoots`)."""
        return readable_file(value, input_name, self.runtime.file_roots)

    def cached(self, key: tuple, ttl: float, produce: Callable[[], Any], refresh: bool = False) -> Any:
        """A value shared by every job of this runtime until `ttl` seconds old (a field list, say)."""
        return self.runtime.cached(key, ttl, produce, refresh)

    def code(self, module: str) -> Any:
        """Another of the bundle's action modules (actions/<module>.py)."""
        return self.runtime.bundle.code_module("actions", module)

    def sub(self, key: str, inputs: dict[str, Any], where: str = "") -> Call:
        """A call of another action on the same job, for actions made of others (upserts, events):
        its inputs are checked against that action's schema (never rendered again: they are data by
        now), an input error names them under `where`, and its requests count in this call's usage."""
        action = self.runtime.bundle.action(key)
        try:
            prepared, _ = self.runtime.prepare(action, inputs, self.job, templates=False)
        except StepError as exc:
            if where and exc.kind == "input":
                exc.message = re.sub(r"([Ii]nput ')", lambda m: m.group(1) + where + ".", exc.message, count=1)
                exc.input_path = f"{where}.{exc.input_path}" if exc.input_path else where
            raise
        call = Call(self.runtime, action, prepared, self.job)
        call.trace, call.usage, call.logs = self.trace, self.usage, self.logs
        call.previewing, call.preview_of = self.previewing, self.preview_of or self  # a preview sends nothing
        return call

    @property
    def log_dir(self) -> Path:
        return self.runtime.log_dir(self.job)

    def log_file(self, name: str, path: Path, content_type: str, size: int) -> None:
        self.logs.append(LogItem("file", name, content_type, str(path), size=size))


class _Previewed(BaseException):
    """Raised in a handler on a preview once its request is captured (a BaseException, so that no
    handler's `except Exception` can swallow it and go on to send)."""


def endpoint(call: Call) -> Any:
    """The generic handler: one declared endpoint call, or every page of a list."""
    request = call.wire()
    if call.action.paging and call.inputs.get("fetchAll"):
        return call.fetch_all(request)
    return call.submit(request)


# ---- picklists --------------------------------------------------------------------------
_FIELD = re.compile(r"{([A-Za-z0-9_.]+)}")
_PART = re.compile(r"\[([^\[\]]*)\]|{([A-Za-z0-9_.]+)}")  # an optional part, or a field


def _lookup(record: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(record, list) and part.isdigit():
            record = record[int(part)] if int(part) < len(record) else None
        else:
            record = record.get(part) if isinstance(record, dict) else None
    if isinstance(record, dict) and "value" in record:  # Pipedrive's {value, primary, label} shows as its value
        record = record["value"]
    return record


def format_label(template: str, record: dict[str, Any]) -> str:
    """`{field}` (dotted; a number indexes a list) filled from the record; a `[...]` part is left out
    when a field inside it is empty, so "{name}[ <{emails.0}>]" reads "Jana Weiß" without an e-mail."""

    def text(name: str) -> str:
        value = _lookup(record, name)
        return "" if value is None else str(value)

    def part(match: re.Match) -> str:
        if match.group(2) is not None:
            return text(match.group(2))
        inner = match.group(1)
        names = _FIELD.findall(inner)
        return _FIELD.sub(lambda m: text(m.group(1)), inner) if all(text(n) for n in names) else ""

    return _PART.sub(part, template).strip(" -")


@dataclass
class Page:
    options: list[dict[str, Any]]
    next_cursor: str | None = None
    calls: int = 0


@dataclass
class PicklistRequest:
    source: DataSource
    search: str | None
    params: dict[str, Any]
    cursor: str | None
    limit: int
    runtime: Runtime


def picklist(req: PicklistRequest) -> Page:
    """Generic picklist: list (or search) a collection and map each record to {key, label}."""
    source, decl, client = req.source, req.source.decl, req.runtime.client
    usage = Usage()
    query: dict[str, Any] = {"limit": req.limit}
    path = source.path or ""
    for name, wire in source.params.items():
        if req.params.get(name) in (None, ""):
            continue
        if "{" + wire + "}" in path:  # a list under the chosen record, e.g. /products/{id}/variations
            check_path_value(name, req.params[name])
            path = path.replace("{" + wire + "}", quote(str(req.params[name]), safe=""))
        else:
            query[wire] = req.params[name]
    paging = decl.get("paging", "cursor")
    style = pipedrive.paging(paging)
    if req.cursor:
        query[style.param] = req.cursor
    if req.search and decl.get("search_path"):
        query.update(term=req.search, limit=min(req.limit, 100))
        request = Request(
            "GET", source.api or "v2", decl["search_path"], query, cost=decl.get("search_cost", 20), search=True
        )
        response = client.execute(request, usage=usage)
        records = [hit.get("item", hit) for hit in (response.data or {}).get("items", [])]
    else:
        if paging == "none":
            query.pop("limit")
        response = client.execute(Request("GET", source.api or "v2", path, query, cost=source.cost), usage=usage)
        records = response.data or []
        if decl.get("items_at"):
            records = _lookup(records, decl["items_at"]) or []
        if req.search:  # no search endpoint: filter what was listed
            needle = req.search.lower()
            records = [r for r in records if needle in format_label(decl["label_template"], r).lower()]
    for name, lookup in decl.get("lookups", {}).items():  # another record's label, e.g. the stage's pipeline
        labels = _all_labels(req.runtime, lookup["picklist"])
        records = [{**r, name: labels.get(str(r.get(lookup["from"])))} for r in records]
    key = decl.get("key", "id")
    options = [{"key": _lookup(r, key), "label": format_label(decl["label_template"], r)} for r in records]
    nxt = style.hint(response.additional_data)
    return Page(options, str(nxt) if nxt not in (None, "") else None, usage.calls)


def _all_labels(runtime: Runtime, key: str, pages: int = 20) -> dict[str, str]:
    """{key as text: label} over every page of a picklist (bounded), served from the picklist cache."""
    labels: dict[str, str] = {}
    cursor = None
    for _ in range(pages):
        page = runtime.picklist(key, cursor=cursor)
        labels.update((str(o["key"]), o["label"]) for o in page.options)
        cursor = page.next_cursor
        if not cursor:
            break
    return labels


# ---- the runtime --------------------------------------------------------------------------
class Runtime:
    """A loaded bundle plus one connection: runs steps and serves picklists."""

    def __init__(
        self,
        bundle: Bundle | None = None,
        connection: Connection | None = None,
        *,
        client: PipedriveClient | None = None,
        out_dir: str | Path | None = None,
        retry: RetrySettings | None = None,
        limiter=None,
        picklist_ttl: float = 60.0,
        file_roots: FileRoots | None = None,
        progress: Callable[[Iterator, Usage, str], Iterator] | None = None,
    ):
        self.bundle = bundle or Bundle.load()
        self.api = pipedrive.Api.from_manifest(self.bundle.manifest.get("api"))  # connector.yaml's API roots
        self.file_roots = file_roots  # where job-driven file inputs may read from (None: anywhere)
        self.progress = progress  # wraps the items of a walk over pages to show headway (items, usage, label)
        self.connection = connection or (client.connection if client else None)
        self._client = client
        self._retry, self._limiter = retry, limiter
        self._out_dir = Path(out_dir) if out_dir else None
        self.picklist_ttl = picklist_ttl
        self._cache: dict[tuple, tuple[float, Any]] = {}
        self._plain_checks: dict[Action, PlainCheck] = {}  # jsonschema only for what these cannot vouch for
        self._lock = threading.Lock()

    @property
    def client(self) -> PipedriveClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self.connection is None:
                        raise StepError(
                            "connection",
                            "No Pipedrive connection is configured: set PIPEDRIVE_API_TOKEN "
                            "(and PIPEDRIVE_BASE_URL), or pass --connection FILE.",
                        )
                    from .limits import RateLimiter

                    limiter = self._limiter or RateLimiter.for_token(self.connection.secrets()[0])
                    self._client = PipedriveClient(self.connection, retry=self._retry, limiter=limiter, api=self.api)
        return self._client

    @property
    def redactor(self) -> Redactor:
        return self._client.redactor if self._client else Redactor(self.connection.secrets() if self.connection else [])

    @property
    def out_dir(self) -> Path:
        if self._out_dir is None:
            self._out_dir = Path(tempfile.mkdtemp(prefix="pipedrive-connect-"))
        return self._out_dir

    def log_dir(self, job: Job) -> Path:
        """The job's folder on the log output: named by its run (unique in a hot folder), never a path."""
        path = self.out_dir / "log" / job.log_name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def reconnect(self, connection: Connection) -> None:
        """Use new connection settings (a fixed token, say) from the next request on."""
        with self._lock:
            old, self.connection, self._client = self._client, connection, None
        if old is not None:
            old.close()

    def prepare(
        self, action: Action, raw_inputs: dict[str, Any], job: Job, templates: bool = True
    ) -> tuple[dict[str, Any], list[str]]:
        """Resolve old input names, render templates, coerce designer strings, validate: bad input stops
        here. Returns the inputs and the deprecation notes for the log."""
        plain = self._plain_checks.get(action)
        if plain is None:
            plain = self._plain_checks[action] = PlainCheck(action.schema)
        named, notes = resolve_aliases(raw_inputs or {}, action.schema, plain.aliases)
        rendered = render(named, job.template_context()) if templates else named
        inputs = coerce(rendered, action.schema)
        if not isinstance(inputs, dict):
            raise StepError("input", "inputs must be a mapping of input names to values")
        problem = None if plain(inputs) else validation_error(action.validator, inputs)
        if problem is not None:
            raise problem
        for param in action.params:
            if param.location == "path" and param.name in inputs:
                check_path_value(param.name, inputs[param.name])
        return inputs, notes

    def start(self, action: Action, inputs: dict[str, Any] | None, job: Job) -> Call:
        """A call with prepared inputs and their deprecation warnings logged, or the StepError that stops
        the step before anything is sent (a removed action, bad input)."""
        if action.removed:
            raise StepError("input", action.removed_message)
        prepared, notes = self.prepare(action, inputs or {}, job)
        call = Call(self, action, prepared, job)
        call.logs.extend(LogItem("warning", note, "text/plain") for note in notes)
        return call

    def preview(self, action: str | Action, job: Job | None = None, inputs: dict[str, Any] | None = None) -> dict:
        """The request a step would send, built as `run` builds it (templates, coercion, old names, custom
        fields by name) but not sent; the token shown only redacted. Reads that help build it (a field
        list) are sent and counted under `lookups`. Raises StepError where `run` would route to error."""
        if isinstance(action, str):
            try:
                action = self.bundle.action(action)
            except KeyError as exc:
                raise StepError("input", exc.args[0]) from None
        try:
            call = self.start(action, inputs, job or Job())
            call.previewing = True
            action.handler(call)
        except _Previewed:
            pass
        except StepError as exc:
            raise self._scrub(exc) from None
        request = call.captured
        if request is None:  # a handler that answers without Pipedrive
            return {"action": action.key, "request": None, "token_cost": 0, "lookups": self._usage(call)}
        base = self.connection.current_base_url if self.connection else self.api.base_url
        url = f"{base}{self.api.prefixes[request.api]}{request.path}"
        oauth = self.connection is not None and hasattr(self.connection.auth, "refresh")
        headers = {**(request.headers or {}), (pipedrive.OAUTH_HEADER if oauth else pipedrive.API_TOKEN_HEADER): "***"}
        described: dict[str, Any] = {
            "method": request.method,
            "url": url + ("?" + urlencode(request.query, doseq=True) if request.query else ""),
            "query": request.query,
            "headers": headers,
        }
        if request.body is not None:
            described["form" if request.form else "json"] = request.body
        if request.files is not None:
            described["files"] = request.files.describe()
        out = {
            "action": action.key,
            "request": self.redactor.value(described),
            "token_cost": request.cost,
            "lookups": self._usage(call),
            "warnings": [item.name for item in call.logs if item.kind == "warning"],
        }
        if action.paging and call.inputs.get("fetchAll"):
            out["token_cost_per_page"] = True
        return out

    @staticmethod
    def _usage(call: Call) -> dict[str, int]:
        return {"api_calls": call.usage.calls, "token_cost": call.usage.cost}

    def run(
        self,
        action: str | Action,
        job: Job | None = None,
        inputs: dict[str, Any] | None = None,
        step_id: str | None = None,
    ) -> Outcome:
        """Run one step of an action (or its key). Never raises for a job's sake: every failure becomes
        the error route."""
        job = job or Job()
        key = action if isinstance(action, str) else action.key
        step_id = step_id or key
        call: Call | None = None
        if isinstance(action, str):
            try:
                action = self.bundle.action(action)
            except KeyError as exc:
                return Outcome("error", job, error=StepError("input", exc.args[0]), failed_step=step_id)
        try:
            call = self.start(action, inputs, job)
            result = action.handler(call)
            if call.inputs.get("customFieldNames"):  # offered only where actions/custom_fields.py exists
                result = call.code("custom_fields").by_name(call, result)
            record = {"action": key, "result": result}
            if call.additional_data:
                record["additional_data"] = call.additional_data
            outcome = Outcome("success", job.with_step(step_id, record), result)
        except StepError as exc:
            outcome = Outcome("error", job, error=self._scrub(exc), failed_step=step_id)
        except Exception as exc:  # a connector bug must still route the job, without a traceback
            outcome = Outcome(
                "error",
                job,
                error=self._scrub(
                    StepError("unexpected", f"Internal error in {key}: {type(exc).__name__}: {exc}"[:500])
                ),
                failed_step=step_id,
            )
        if call is not None:
            outcome.logs = call.logs
            outcome.calls, outcome.cost = call.usage.calls, call.usage.cost
            if call.trace is not None:
                outcome.logs.append(LogItem("debug", f"{step_id}-debug.json", record=self.redactor.value(call.trace)))
        return outcome

    def cached(self, key: tuple, ttl: float, produce, refresh: bool = False):
        """A value shared by every job of this runtime until `ttl` seconds old (picklists, field lists)."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit and hit[0] > now and not refresh:
            return hit[1]
        value = produce()
        self._cache[key] = (now + ttl, value)
        return value

    def _scrub(self, error: StepError) -> StepError:
        redactor = self.redactor
        error.message = redactor.text(error.message)
        if error.pipedrive_error:
            error.pipedrive_error = redactor.text(error.pipedrive_error)
        return error

    def picklist(
        self,
        key: str,
        search: str | None = None,
        params: dict[str, Any] | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Options for a dropdown; repeated calls within the TTL are served from memory."""
        source = self.bundle.datasource(key)
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        missing = [p for p in source.decl.get("required_params", []) if p not in params]
        if missing:
            raise StepError(
                "input", f"Picklist {key} needs {', '.join(missing)} (choose it first)", input_path=missing[0]
            )
        cache_key = ("picklist", key, search or "", tuple(sorted(params.items())), cursor, limit)
        page = self.cached(
            cache_key,
            self.picklist_ttl,
            lambda: source.handler(PicklistRequest(source, search, params, cursor, limit, self)),
        )
        calls, page.calls = page.calls, 0  # only the first answer cost API calls; cache hits are free
        return Page(page.options, page.next_cursor, calls)
