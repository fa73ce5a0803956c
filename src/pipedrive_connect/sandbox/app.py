"""The WSGI application: auth, rate limits, token budget, faults, envelopes, request log.

Order of checks for an API request: authentication, routing, burst limit,
fault draw, daily token budget, then the handler.  Faults that happen
before the handler leave no side effect; ``drop_after`` applies the change
and then hangs up, so the client cannot know the outcome.
"""

from __future__ import annotations

import hmac
import json
import math
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple, NoReturn

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from .handlers.indexing import AmbiguousCreates, SearchIndex
from .handlers.oauth import OAuthServer
from .records import ApiError, bad_request
from .resources import RESOURCES
from .routes import ROUTES, Route, build_map
from .store import Store

WINDOW_SECONDS = 2.0
NOMINAL_LIMIT = 1000  # reported in headers when no burst limit is enforced
FAULT_KINDS = ("429", "500", "502", "503", "delay", "drop_before", "drop_after")
HANG_UP = "pipedrive_sandbox.hang_up"  # environ key: the server's callable that closes the connection unanswered
SECRET_PARAMS = {"api_token", "access_token", "token"}


class Reply(NamedTuple):
    """A handler result with a status other than 200."""

    status: int
    data: object
    additional_data: dict


class Context:
    """What a handler sees of the current request."""

    def __init__(self, store: Store, request: Request, version: str):
        self.store, self.request = store, request
        self.args = request.args
        self.strict = version == "v2"
        self.user_id = 1  # the sandbox token belongs to user 1
        self._body: dict | None = None
        self._memo: dict = {}
        self.search_index = SearchIndex()  # the app's, with its lag: what search may find yet

    def body(self) -> dict:
        """The request body as a dict: JSON, or a form for v1 form-encoded calls."""
        if self._body is None:
            if self.request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                if self.strict:
                    raise bad_request("API v2 accepts JSON bodies only")
                self._body = self.request.form.to_dict()
            else:
                raw = self.request.get_data(cache=True)
                try:
                    self._body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise bad_request("The request body is not valid JSON") from None
                if not isinstance(self._body, dict):
                    raise bad_request("The request body must be a JSON object")
        return self._body

    def memo(self, key, factory):
        """Compute a value once per request (indexes used while scanning many records)."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    def custom_keys(self, table: str) -> list[str]:
        return self.memo(
            ("custom", table), lambda: [f["field_code"] for f in self.store.rows(table) if f.get("is_custom_field")]
        )

    @staticmethod
    def respond(status: int, data, additional_data: dict | None = None) -> Reply:
        return Reply(status, data, additional_data or {})


class Limiter:
    """Fixed 2-second windows per token (and a separate search bucket) plus a daily token budget."""

    def __init__(self, burst_limit: int | None, search_limit: int, daily_budget: int | None):
        self.burst_limit, self.search_limit, self.daily_budget = burst_limit, search_limit, daily_budget
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.windows: dict[tuple, list] = {}
            self.spent: Counter = Counter()
            self.day = date.today()

    def _count(self, key: tuple, now: float) -> tuple[int, float]:
        window = self.windows.get(key)
        if window is None or now - window[0] >= WINDOW_SECONDS:
            window = self.windows[key] = [now, 0]
        window[1] += 1
        return window[1], WINDOW_SECONDS - (now - window[0])

    def hit(self, token: str, search: bool) -> tuple[bool, dict]:
        """Count one request; returns (allowed, rate-limit headers)."""
        now = time.monotonic()
        with self.lock:
            used, left = self._count((token, "all"), now)
            limit = self.burst_limit or NOMINAL_LIMIT
            if search and self.burst_limit is not None:
                used, left = self._count((token, "search"), now)
                limit = min(limit, self.search_limit)
        allowed = self.burst_limit is None or used <= limit
        return allowed, rate_headers(limit, max(0, limit - used), left)

    def spend(self, token: str, cost: int) -> bool:
        """Charge a request's token cost; False when the daily budget cannot cover it."""
        with self.lock:
            if date.today() != self.day:
                self.spent.clear()
                self.day = date.today()
            if self.daily_budget is not None and self.spent[token] + cost > self.daily_budget:
                return False
            self.spent[token] += cost
            return True


def rate_headers(limit: int, remaining: int, seconds_left: float) -> dict:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(max(1, math.ceil(seconds_left))),
    }


def json_response(status: int, payload: dict) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def error_response(err: ApiError) -> Response:
    return json_response(
        err.status,
        {
            "success": False,
            "error": err.error,
            "error_info": err.error_info,
            "data": None,
            "additional_data": None,
            **err.extra,
        },
    )


def redact(args) -> dict:
    return {k: ("[redacted]" if k.lower() in SECRET_PARAMS else v) for k, v in args.items()}


def _seconds_to_midnight() -> int:
    now = datetime.now(timezone.utc)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    return int((midnight - now).total_seconds())


class SandboxApp:
    """WSGI callable; one instance per sandbox."""

    def __init__(
        self,
        store: Store,
        token: str,
        burst_limit: int | None = None,
        search_limit: int = 10,
        daily_budget: int | None = None,
        fault_rate: float = 0.0,
        faults=None,
        seed=None,
        allow_query_token: bool = False,
        oauth: OAuthServer | None = None,
        search_lag: float = 0.0,
        ambiguous_creates: int = 0,
    ):
        unknown = set(faults or ()) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}; choose from {FAULT_KINDS}")
        self.store, self.token = store, token
        self.limiter = Limiter(burst_limit, search_limit, daily_budget)
        self.fault_rate, self.faults = fault_rate, tuple(faults or FAULT_KINDS)
        self.allow_query_token = allow_query_token
        self.oauth = oauth  # the OAuth server beside the API, when an app is registered (--oauth-client)
        self.search_index, self.ambiguous = SearchIndex(search_lag), AmbiguousCreates(ambiguous_creates)
        self.rng = random.Random(seed)
        self.url_map = build_map()
        self.lock = threading.Lock()
        self.request_log: list[dict] = []
        self._stats: Counter = Counter()
        self.webhooks: Any = None  # the webhook Dispatcher, when the server delivers webhooks
        self._cpu_seconds = 0.0

    # -- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            return self.control(request)(environ, start_response)
        if request.path.startswith("/oauth/") and self.oauth is not None:
            return self.oauth(request)(environ, start_response)
        started = time.thread_time()
        response = self.serve(request)
        body = response(environ, start_response)
        with self.lock:  # the sandbox's own CPU per request, reported so benchmarks can subtract it
            self._cpu_seconds += time.thread_time() - started
        return body

    def serve(self, request: Request) -> Response:
        entry = {
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "query": redact(request.args),
            "status": None,
            "operation": None,
            "cost": 0,
            "fault": None,
        }
        headers = rate_headers(
            self.limiter.burst_limit or NOMINAL_LIMIT, self.limiter.burst_limit or NOMINAL_LIMIT, WINDOW_SECONDS
        )
        try:
            response = self._serve(request, entry, headers)
        except ApiError as err:
            response = error_response(err)
        except Exception:  # a sandbox bug: answer like Pipedrive would, keep the traceback visible
            traceback.print_exc()
            response = error_response(ApiError(500, "Internal server error", "Unexpected error in the sandbox."))
        if response is not None:
            response.headers.update(headers)
            entry["status"] = response.status_code
        self._record(entry)
        if response is None:
            self._drop(request)
        return response

    def _serve(self, request: Request, entry: dict, headers: dict) -> Response | None:
        token = self.authenticate(request)
        route, args = self.match(request)
        entry["operation"] = route.operation_id
        allowed, limit_headers = self.limiter.hit(token, route.search)
        headers.update(limit_headers)
        if not allowed:
            self._count("rate_limited")
            raise ApiError(
                429,
                "Too many requests",
                "Burst rate limit reached for this token; retry after x-ratelimit-reset seconds.",
            )
        fault = self.draw_fault()
        entry["fault"] = fault
        if fault in ("429", "500", "502", "503", "drop_before"):
            return self.inject(fault, headers)
        if not self.limiter.spend(token, route.cost):
            self._count("budget_exhausted")
            headers["retry-after"] = str(_seconds_to_midnight())
            raise ApiError(
                429,
                "Daily API token budget exhausted",
                f"The company's daily limit of {self.limiter.daily_budget} tokens is used up; "
                "it resets at midnight (UTC).",
                code="daily_budget_exhausted",
            )
        entry["cost"] = route.cost
        self._count("tokens_spent", route.cost)
        if fault == "delay":
            with self.lock:
                pause = self.rng.uniform(0.2, 1.0)
            time.sleep(pause)
        try:
            response = self.execute(request, route, args)
        except ApiError as err:
            response = error_response(err)
        if request.method == "POST" and response.status_code < 300 and (lost := self.ambiguous.take()):
            self._count("ambiguous_creates")
            entry["fault"] = f"ambiguous_{lost}"
            if lost == "502":
                raise ApiError(502, "Bad gateway", "Injected by the sandbox; the create WAS applied.")
            return None
        return None if fault == "drop_after" else response

    # -- pipeline steps ---------------------------------------------------------------------
    def authenticate(self, request: Request) -> str:
        query_token = request.args.get("api_token")
        if query_token is not None and not self.allow_query_token:
            raise ApiError(
                401,
                "unauthorized access",
                "API tokens are not accepted in the query string (api_token); "
                "send the token in the x-api-token header.",
                errorCode=401,
            )
        authorization = request.headers.get("Authorization", "")
        bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        if bearer and self.oauth is not None:
            status = self.oauth.bearer_status(bearer)
            if status == "valid":
                return bearer
            if status is not None:
                raise ApiError(401, "unauthorized access", f"The access token is {status}.", errorCode=401)
        token = request.headers.get("x-api-token") or bearer or query_token or ""
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise ApiError(401, "unauthorized access", "Missing or invalid API token.", errorCode=401)
        return token

    def match(self, request: Request) -> tuple[Route, Mapping[str, Any]]:
        try:
            index, args = self.url_map.bind_to_environ(request.environ).match()
        except NotFound:
            raise ApiError(404, "Unknown method", "The requested path is not part of the API.") from None
        except MethodNotAllowed as exc:
            raise ApiError(
                405, "Method not allowed", f"Allowed methods: {', '.join(sorted(exc.valid_methods or []))}."
            ) from None
        return ROUTES[index], args

    def draw_fault(self) -> str | None:
        if not self.fault_rate:
            return None
        with self.lock:
            if self.rng.random() >= self.fault_rate:
                return None
            fault = self.rng.choice(self.faults)
        self._count(f"fault_{fault}")
        return fault

    def inject(self, fault: str, headers: dict) -> Response | None:
        """A fault answered before the request is applied (None means hang up)."""
        if fault == "drop_before":
            return None
        if fault == "429":
            headers["x-ratelimit-remaining"] = "0"
            raise ApiError(
                429,
                "Too many requests",
                "Burst rate limit reached for this token; retry after x-ratelimit-reset seconds.",
            )
        messages = {"500": "Internal server error", "502": "Bad gateway", "503": "Service temporarily unavailable"}
        raise ApiError(int(fault), messages[fault], "Injected by the sandbox; the request was not applied.")

    def execute(self, request: Request, route: Route, args: Mapping[str, Any]) -> Response:
        ctx = Context(self.store, request, route.version)
        ctx.search_index = self.search_index
        res = RESOURCES.get(route.table) if route.table is not None else None
        result = route.handler(ctx, res, **args)
        if request.method != "GET":
            self.store.flush()
        if isinstance(result, Response):
            return result
        if isinstance(result, Reply):
            status, data, extra = result
        elif isinstance(result, tuple):
            status, (data, extra) = 200, result
        else:
            status, data, extra = 200, result, {}
        if request.method == "POST" and route.table and isinstance(data, dict) and "id" in data:
            self.search_index.created(route.table, data["id"])
        return json_response(status, {"success": True, "data": data, "additional_data": extra})

    @staticmethod
    def _drop(request: Request) -> NoReturn:
        """Close the connection without answering, through the server's hook (server.py), which raises."""
        hang_up = request.environ.get(HANG_UP)
        if hang_up is not None:
            hang_up()
        raise ConnectionAbortedError("connection drop requested by a sandbox fault")

    # -- bookkeeping ----------------------------------------------------------------------------
    def _count(self, name: str, amount: int = 1) -> None:
        with self.lock:
            self._stats[name] += amount

    def _record(self, entry: dict) -> None:
        with self.lock:
            self.request_log.append(entry)
            self._stats["requests"] += 1
            self._stats[f"status_{entry['status']}"] += 1

    def stats(self) -> dict:
        """Totals for tests and benchmarks: requests, tokens, 429s, faults, record counts."""
        with self.lock:
            counts = dict(self._stats)
        faults = {k[6:]: v for k, v in counts.items() if k.startswith("fault_")}
        statuses = {k[7:]: v for k, v in counts.items() if k.startswith("status_")}
        return {
            "requests": counts.get("requests", 0),
            "tokens_spent": counts.get("tokens_spent", 0),
            "rate_limited": counts.get("rate_limited", 0),
            "budget_exhausted": counts.get("budget_exhausted", 0),
            "status_429": statuses.get("429", 0),
            "faults": faults,
            "statuses": statuses,
            "oauth": self.oauth.stats() if self.oauth is not None else None,
            "records": self.store.counts(),
            "webhooks": self.webhooks.snapshot() if self.webhooks is not None else {},
            "cpu_per_request_ms": round(self._cpu_seconds / counts["requests"] * 1e3, 4)
            if counts.get("requests")
            else 0.0,
        }

    def log_snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.request_log)

    def reset_log(self) -> None:
        with self.lock:
            self.request_log.clear()
            self._stats.clear()
            self._cpu_seconds = 0.0
        self.limiter.reset()

    def control(self, request: Request) -> Response:
        """Unauthenticated, uncounted endpoints for tests and benchmarks in other processes."""

        def reset() -> dict:
            self.reset_log()
            return {"reset": True}

        routes = {
            ("GET", "/_sandbox/requests"): lambda: {"requests": self.log_snapshot()},
            ("GET", "/_sandbox/stats"): self.stats,
            ("POST", "/_sandbox/reset"): reset,
        }
        action = routes.get((request.method, request.path.rstrip("/")))
        if action is None:
            return error_response(
                ApiError(
                    404,
                    "Unknown sandbox control endpoint",
                    "Use GET /_sandbox/requests, GET /_sandbox/stats or POST /_sandbox/reset.",
                )
            )
        return json_response(200, {"success": True, "data": action()})
