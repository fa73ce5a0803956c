"""The Pipedrive HTTP client: one pooled session per connection.

It owns everything that is about the wire and nothing about actions: URLs for v1/v2,
auth, timeouts, the error envelope, retries and rate limits (the only place they
live), paging, token-cost accounting and redacted debug records. A request is one
`Request` from the action's declaration to the wire; `may_repeat` is the one rule of
what may be sent again. Pipedrive's own wire rules (headers, paging, envelope) are in
`pipedrive.py`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, HTTPError

from . import pipedrive
from .connection import Connection
from .errors import StepError
from .files import Upload
from .limits import seconds_from_header
from .pipedrive import Api

log = logging.getLogger("pipedrive_connect.client")  # retries and 429 waits, as events for the runner's log

SECRET_HEADERS = {*pipedrive.AUTH_HEADERS, "cookie", "set-cookie", "proxy-authorization"}
MAX_DEBUG_BODY = 4000
EXCERPT = 200  # characters of an unreadable answer shown in its error
CHUNK = 64 * 1024


class Redactor:
    """Scrubs known secret values out of any text before it is shown or stored.

    `secrets` may be a callable, asked at each use, so tokens an OAuth refresh brings are scrubbed at once.
    """

    def __init__(self, secrets: list[str] | Callable[[], list[str]] | None = None):
        self._source = secrets if callable(secrets) else (lambda fixed=list(secrets or []): fixed)

    @property
    def secrets(self) -> list[str]:
        return sorted({s for s in self._source() if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, "***")
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: ("***" if str(k).lower() in SECRET_HEADERS else self.value(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


def may_repeat(method: str) -> bool:
    """Whether a request may be sent again after it may have reached Pipedrive: reads, and
    PUT/PATCH/DELETE (they address one record by id). A create (POST) never is: repeating it
    could create the record twice. The client's retries and the hot folder's recovery both ask here."""
    return method.upper() != "POST"


@dataclass
class RetrySettings:
    """Caps on retrying; the rules of *what* may be retried are fixed (see `may_repeat`)."""

    max_attempts: int = 5
    max_wait: float = 60.0  # total seconds spent waiting across attempts
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_hint: float = 60.0  # longest wait asked for by the server (Retry-After, x-ratelimit-reset) we sit out
    retry_all_errors: bool = False  # rawRequest's opt-in: also retry 4xx on safe requests

    @classmethod
    def none(cls) -> RetrySettings:
        return cls(max_attempts=1)


@dataclass
class Request:
    """One logical request, built from the action's declaration and inputs and passed whole to the wire.

    `body` is sent as JSON, or with `form` as form fields (multipart when `files`, an `Upload`, is set).
    `expect` is what a 2xx must hold: "json", "text" or "binary"; `stream` leaves the body unread (a
    download). `cost` is the token cost counted per call, `search` puts it under the search rate limit,
    and `timeout` and `retry` override the client's settings for this request alone.
    """

    method: str
    api: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    form: bool = False
    files: Upload | None = None
    headers: dict[str, str] | None = None
    stream: bool = False
    expect: str = "json"
    cost: int = 0
    search: bool = False
    timeout: tuple[float, float] | float | None = None
    retry: RetrySettings | None = None

    def __post_init__(self) -> None:
        self.method = self.method.upper()


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any
    raw: requests.Response | None = None

    @property
    def data(self) -> Any:
        return pipedrive.data(self.body)

    @property
    def additional_data(self) -> dict[str, Any]:
        return pipedrive.additional_data(self.body)


@dataclass
class Usage:
    """API calls and token cost, for one job or a whole run."""

    calls: int = 0
    cost: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, cost: int) -> None:
        with self._lock:
            self.calls += 1
            self.cost += cost


def _retry_after(response: requests.Response) -> float | None:
    for header in pipedrive.RETRY_HINTS:
        seconds = seconds_from_header(response.headers.get(header))
        if seconds is not None:
            return round(seconds, 3)
    return None


def _already_applied(request: Request) -> ApiResponse | None:
    """A delete or merge whose retry finds the record gone: the attempt whose answer was lost did it.

    The result has the shape the action returns on success, marked `already_applied`.
    """
    segments = request.path.rstrip("/").split("/")

    def as_id(segment: str) -> int | str:
        return int(segment) if segment.isdigit() else segment

    data: dict[str, Any]
    if request.method == "DELETE":
        data = {"id": as_id(segments[-1])}
    elif segments[-1] == "merge" and isinstance(request.body, dict) and not request.form:
        data = {"id": request.body.get("merge_with_id"), "merge_what_id": as_id(segments[-2])}
    else:
        return None
    note = "An earlier attempt was applied but its answer was lost; the retry found the work already done (HTTP 404)."
    return ApiResponse(404, {}, pipedrive.envelope({**data, "already_applied": True}, {"note": note}))


def _answer_lost(exc: StepError) -> bool:
    """The request reached Pipedrive (so may have been applied) but its answer did not reach us."""
    if exc.kind == "network":
        return not exc.details.get("not_sent")
    return exc.kind == "server" and exc.status is not None and 200 <= exc.status < 300


def first_page(request: Request, page_size: int) -> Request:
    """The first request of a walk over pages: the largest page, asked by its query alone."""
    return replace(request, method="GET", query={**request.query, "limit": page_size}, body=None, files=None)


class PipedriveClient:
    """The HTTP client. Besides the retry settings it bounds every answer, so a broken or hostile
    server cannot hang a job: `deadline` seconds per request from connecting to the last byte of the
    body (each wait for the headers is bounded by it too), `max_body` bytes of an answer read into
    memory, counted after decompression (downloads stream to disk under their own limit), and
    `max_pages` pages of one list walk."""

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: tuple[float, float] = (5.0, 60.0),
        retry: RetrySettings | None = None,
        limiter=None,
        pool_size: int = 16,
        deadline: float = 120.0,
        max_body: int = 64 * 1024 * 1024,
        max_pages: int = 10_000,
        api: Api | None = None,
    ):
        self.connection = connection
        self.api = api or Api()  # the API roots (connector.yaml's `api` block)
        self.timeout = timeout
        self.deadline, self.max_body, self.max_pages = deadline, max_body, max_pages
        self.retry = retry or RetrySettings()
        self.limiter = limiter
        self.usage = Usage()
        self.redactor = Redactor(connection.secrets)
        self.session = requests.Session()
        self.session.auth = connection.auth
        self.session.headers["User-Agent"] = "pipedrive-connect/0.1"
        # Read proxy and CA settings from the environment once, not on every request (requests
        # rescans the environment per call when trust_env is on: as costly as our whole runtime layer).
        self.session.proxies.update(requests.utils.get_environ_proxies(connection.base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            self.session.verify = ca_bundle
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    # ---- URLs -------------------------------------------------------------------------
    def url(self, api: str, path: str) -> str:
        return f"{self.connection.current_base_url}{self.api.prefixes[api]}{path}"

    # ---- one request, with the retry rules ------------------------------------------------
    def send(
        self,
        method: str,
        api: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Upload | None = None,
        headers: dict | None = None,
        stream: bool = False,
        timeout: tuple[float, float] | float | None = None,
        cost: int = 0,
        search: bool = False,
        expect: str = "json",
        trace: list | None = None,
        usage: Usage | None = None,
        retry: RetrySettings | None = None,
    ) -> ApiResponse:
        """A `Request` from keyword arguments (`data` is a form, `json_body` JSON), sent by `execute`."""
        form = data is not None
        request = Request(
            method,
            api,
            path,
            dict(params or {}),
            body=data if form else json_body,
            form=form,
            files=files,
            headers=headers,
            stream=stream,
            expect=expect,
            cost=cost,
            search=search,
            timeout=timeout,
            retry=retry,
        )
        return self.execute(request, trace=trace, usage=usage)

    def execute(self, request: Request, *, trace: list | None = None, usage: Usage | None = None) -> ApiResponse:
        """Send one logical request; retried only where repeating it is safe.

        A request that `may_repeat` is retried after 5xx answers, timeouts and dropped connections;
        any request, a create included, is retried when Pipedrive cannot have processed it (429, or
        a connection that failed before anything was sent). A wait the server asks for beyond
        `max_hint` or the time left is not taken: the error goes back with the hint in
        `details.retry_after`. Calls and token cost are added to `usage`, debug records to `trace`.
        """
        method, path = request.method, request.path
        repeatable = may_repeat(method)
        settings = request.retry or self.retry
        auth = self.connection.auth
        if hasattr(auth, "ensure_fresh"):
            auth.ensure_fresh()
        started = time.monotonic()
        lost = False  # an earlier attempt reached Pipedrive but its answer was lost

        def attempt() -> ApiResponse:
            nonlocal lost
            try:
                try:
                    return self._exchange(request, trace, usage)
                except StepError as exc:
                    # an OAuth token revoked or expired early: refresh once and resend (a 401 was not processed)
                    if exc.status == 401 and hasattr(auth, "refresh") and auth.refresh(force=True):
                        return self._exchange(request, trace, usage)
                    raise
            except StepError as exc:
                done = _already_applied(request) if lost and exc.kind == "not_found" else None
                if done is not None:
                    return done
                lost = lost or _answer_lost(exc)
                raise

        def may_retry(exc: BaseException | None) -> bool:
            if not isinstance(exc, StepError) or settings.max_attempts <= 1:
                return False
            hinted = exc.details.get("retry_after")
            if hinted is not None and hinted > min(settings.max_hint, settings.max_wait - (time.monotonic() - started)):
                return False  # a wait we will not sit out: the job routes with the hint instead
            if exc.kind == "rate_limited" or exc.details.get("not_sent"):
                return True
            if exc.kind in ("server", "network") and exc.retryable and repeatable:
                return True
            return settings.retry_all_errors and repeatable and exc.kind in ("rejected", "not_found")

        def delay(exc: BaseException | None, attempt_number: int) -> float:
            hinted = exc.details.get("retry_after") if isinstance(exc, StepError) else None
            if hinted is not None:
                pause = hinted + random.uniform(0, 0.25)
            else:
                pause = min(settings.backoff_cap, settings.backoff_base * 2 ** (attempt_number - 1))
                pause = random.uniform(pause / 2, pause)  # jitter spreads concurrent workers
            pause = max(0.0, min(pause, settings.max_wait - (time.monotonic() - started)))
            kind = exc.kind if isinstance(exc, StepError) else type(exc).__name__
            log.info(
                "retrying %s %s in %.1f s after %s",
                method,
                path,
                pause,
                kind,
                extra={
                    "event": "rate_wait" if kind == "rate_limited" else "request_retry",
                    "fields": {
                        "method": method,
                        "path": path,
                        "wait": round(pause, 3),
                        "kind": kind,
                        "attempt": attempt_number,
                    },
                },
            )
            return pause

        try:
            return attempt()  # the common case pays nothing for the retry machinery
        except StepError as exc:
            if not may_retry(exc) or time.monotonic() - started >= settings.max_wait:
                raise
            time.sleep(delay(exc, 1))
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

        retrying = Retrying(
            stop=stop_after_attempt(settings.max_attempts - 1) | stop_after_delay(settings.max_wait),
            retry=retry_if_exception(may_retry),
            reraise=True,
            wait=lambda state: delay(state.outcome.exception() if state.outcome else None, state.attempt_number + 1),
        )
        return retrying(attempt)

    def _exchange(self, request: Request, trace: list | None, usage: Usage | None) -> ApiResponse:
        """One HTTP exchange: wait for the limiter, send, read the answer whole or fail as a StepError."""
        method, stream, cost = request.method, request.stream, request.cost
        url = self.url(request.api, request.path)  # per attempt: an OAuth refresh may move the api_domain
        if self.limiter is not None:
            self.limiter.acquire(search=request.search)
        record = {"request": self._describe_request(request, url)} if trace is not None else None
        if request.timeout is None:
            (connect, read), limit = self.timeout, self.deadline
        else:  # a caller's own timeout (rawRequest's input) may ask to wait longer than the deadline
            timeout = request.timeout
            connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
            limit = max(self.deadline, connect + read)
        deadline = time.monotonic() + limit
        try:
            with ExitStack() as sending:
                headers: dict[str, str] | None
                if request.files is not None:  # multipart, streamed from disk while it is sent
                    data: Any = sending.enter_context(request.files.body(request.body))
                    headers = {**(request.headers or {}), "Content-Type": data.content_type}
                else:
                    data, headers = (request.body if request.form else None), request.headers
                # always streamed: the answer is read here in chunks, against the deadline and the size cap
                response = self.session.request(
                    method,
                    url,
                    params=request.query or None,
                    json=None if request.form else request.body,
                    data=data,
                    headers=headers,
                    stream=True,
                    timeout=(min(connect, limit), min(read, limit)),
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            error = self._network_error(exc, method)
            self._count(0 if error.details.get("not_sent") else cost, usage)
            if record is not None and trace is not None:
                record["error"] = error.to_dict()
                trace.append(record)
            raise error from None
        self._count(0 if response.status_code == 429 else cost, usage)  # a refused call spends no tokens
        if self.limiter is not None:
            self.limiter.observe(response.headers, search=request.search)
        success = 200 <= response.status_code < 300  # a 3xx is not followed, so it is an error too
        try:
            parsed = self._parse(response, method, request.expect, deadline, streaming=stream and success)
        except StepError as error:
            response.close()
            if success:
                if record is not None and trace is not None:
                    record["response"] = {"status": response.status_code, "error": error.to_dict()}
                    trace.append(record)
                raise
            parsed = ApiResponse(response.status_code, dict(response.headers), None, response)  # the status says enough
        if record is not None and trace is not None:
            record["response"] = {
                "status": response.status_code,
                "headers": self.redactor.value(dict(response.headers)),
                "body": "<streamed binary>" if stream and success else self._clip(parsed.body),
            }
            trace.append(record)
        if not success:
            raise self._http_error(response, parsed.body, method)
        return parsed

    def _count(self, cost: int, usage: Usage | None) -> None:
        self.usage.add(cost)
        if usage is not None:
            usage.add(cost)

    def _parse(
        self, response: requests.Response, method: str, expect: str, deadline: float, streaming: bool
    ) -> ApiResponse:
        """Read the body. A 2xx must hold what was asked for: JSON (unless `expect` is text or
        binary) that does not say `success: false`; otherwise the call did not do what it says."""
        status, headers = response.status_code, dict(response.headers)
        if streaming:
            return ApiResponse(status, headers, None, response)
        content = self._read_body(response, method, deadline)
        success = 200 <= status < 300
        if success and expect == "binary":
            return ApiResponse(status, headers, content, response)
        if success and expect == "text":
            return ApiResponse(status, headers, self._text(response, content), response)
        if success and not content and (status == 204 or method == "HEAD"):
            return ApiResponse(status, headers, None, response)
        try:
            body = json.loads(content)
        except ValueError:
            if success:
                excerpt = self._excerpt(content)
                raise self._unreadable(status, method, f"is not JSON: {excerpt}", excerpt, retryable=True) from None
            body = self._text(response, content)
        if success and pipedrive.refused(body):
            reason = self.redactor.text(pipedrive.error_text(body) or self._excerpt(content))
            raise StepError(
                "rejected", f"Pipedrive answered HTTP {status} but refused the request: {reason}", status, reason
            )
        return ApiResponse(status, headers, body, response)

    @staticmethod
    def _text(response: requests.Response, content: bytes) -> str:
        return content.decode(response.encoding or "utf-8", errors="replace")

    def _read_body(self, response: requests.Response, method: str, deadline: float) -> bytes:
        """The whole body, read in chunks so that a trickle ends at the deadline and an answer that
        inflates past `max_body` (a gzip bomb) is dropped before it fills memory."""
        chunks: list[bytes] = []
        size = 0
        raw = response.raw
        plain = "Content-Encoding" not in response.headers  # nothing left in a decompressor at the end
        try:
            while True:
                if time.monotonic() > deadline:
                    raise self._cut_off("the whole answer did not arrive within the request deadline", method)
                chunk = raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > self.max_body:
                    raise self._unreadable(
                        response.status_code,
                        method,
                        f"is larger than {self.max_body} bytes once decompressed; it was not read further",
                        None,
                        retryable=False,
                    )
                chunks.append(chunk)
                if raw.length_remaining == 0 and plain:  # all the declared bytes are in: no read to learn so
                    return b"".join(chunks)
        except DecodeError:
            raise self._unreadable(
                response.status_code, method, "could not be decompressed", None, retryable=True
            ) from None
        except (HTTPError, OSError) as exc:
            raise self._cut_off(f"the answer was cut off ({type(exc).__name__})", method) from None

    def _excerpt(self, content: bytes) -> str:
        """The start of an answer, whitespace folded and secrets removed, to show what came back."""
        text = self.redactor.text(" ".join(content[: EXCERPT * 4].decode("utf-8", "replace").split()))
        return text[:EXCERPT] + ("..." if len(text) > EXCERPT else "")

    # ---- errors -------------------------------------------------------------------------
    def _http_error(self, response: requests.Response, body: Any, method: str) -> StepError:
        status = response.status_code
        text = pipedrive.error_text(body)
        safe_text = self.redactor.text(text) if text else None
        is_json = "json" in response.headers.get("Content-Type", "")
        retry_after = _retry_after(response)
        if status == 429:
            if pipedrive.budget_spent(text):
                return StepError(
                    "budget_exhausted",
                    "The company's daily API token budget is used up; "
                    "requests will fail until it resets (midnight, server time).",
                    status,
                    safe_text,
                    retryable=False,
                )
            return StepError(
                "rate_limited",
                "Pipedrive's rate limit was hit (HTTP 429).",
                status,
                safe_text,
                retryable=True,
                details={"retry_after": retry_after if retry_after is not None else 2.0},
            )
        if status in (401, 402) or (status == 403 and is_json):
            message = {
                401: "Pipedrive refused the credentials (HTTP 401): check the API token or reconnect OAuth.",
                402: "The Pipedrive company account is not open (HTTP 402: trial expired or unpaid).",
                403: "Pipedrive forbids this request for these credentials (HTTP 403).",
            }[status]
            return StepError("connection", message, status, safe_text)
        if status == 403:
            return StepError(
                "connection",
                "Access blocked by Pipedrive's firewall (HTTP 403, not JSON): stop "
                "sending and check for request storms before trying again.",
                status,
                None,
            )
        if status in (404, 410):
            what = "no longer exists" if status == 410 else "was not found"
            return StepError("not_found", f"The record or path {what} (HTTP {status}).", status, safe_text)
        if status >= 500:
            if not may_repeat(method):  # a proxy error may hide a create that did happen
                return StepError(
                    "outcome_unknown",
                    f"Pipedrive failed while creating (HTTP {status}); the record "
                    "may or may not exist. Check for it before re-running.",
                    status,
                    safe_text,
                )
            return StepError(
                "server",
                f"Pipedrive failed to answer (HTTP {status}).",
                status,
                safe_text,
                retryable=True,
                details={"retry_after": retry_after} if retry_after else {},
            )
        if 300 <= status < 400:
            return StepError(
                "rejected",
                f"Pipedrive answered with a redirect (HTTP {status}); redirects are "
                "not followed so credentials never leave the API host.",
                status,
                None,
            )
        return StepError(
            "rejected",
            f"Pipedrive rejected the request (HTTP {status})" + (f": {safe_text}" if safe_text else "."),
            status,
            safe_text,
        )

    def _unreadable(self, status: int, method: str, why: str, excerpt: str | None, retryable: bool) -> StepError:
        """An answer whose body cannot be used. After a create that Pipedrive accepted (2xx) the record
        most likely exists but its id is unknown, so that is `outcome_unknown`, never repeated."""
        if not may_repeat(method) and 200 <= status < 300:
            return StepError(
                "outcome_unknown",
                f"Pipedrive accepted the create (HTTP {status}) but its answer {why}; "
                "the record probably exists. Check for it before re-running.",
                status,
                excerpt,
                details={"method": method},
            )
        return StepError("server", f"Pipedrive's answer (HTTP {status}) {why}.", status, excerpt, retryable=retryable)

    def _cut_off(self, why: str, method: str) -> StepError:
        """The request was sent but its answer did not arrive whole."""
        if not may_repeat(method):
            return StepError(
                "outcome_unknown",
                f"The request was sent but {why}; Pipedrive may or may not have "
                "applied it. Check for the record before re-running.",
                details={"method": method},
            )
        return StepError("network", f"The request to Pipedrive was sent but {why}.", retryable=True)

    def _network_error(self, exc: requests.RequestException, method: str) -> StepError:
        not_sent = isinstance(exc, requests.ConnectTimeout) or (
            isinstance(exc, requests.ConnectionError) and _failed_before_sending(exc)
        )
        reason = self.redactor.text(f"{type(exc).__name__}")
        if not_sent:
            return StepError(
                "network",
                f"Could not connect to Pipedrive ({reason}); nothing was sent.",
                retryable=True,
                details={"not_sent": True},
            )
        if not may_repeat(method):
            return StepError(
                "outcome_unknown",
                f"The connection failed after the request was sent ({reason}); "
                "Pipedrive may or may not have applied it. Check for the record before re-running.",
                retryable=False,
                details={"method": method},
            )
        return StepError("network", f"The connection to Pipedrive failed ({reason}).", retryable=True)

    # ---- paging -------------------------------------------------------------------------
    def paginate(
        self,
        api: str,
        path: str,
        params: dict | None = None,
        *,
        paging: str,
        page_size: int = 500,
        cost: int = 0,
        search: bool = False,
        trace: list | None = None,
        usage: Usage | None = None,
        items_at: str | None = None,
    ) -> Iterator[Any]:
        """`walk` over a GET request given by keyword arguments."""
        request = Request("GET", api, path, dict(params or {}), cost=cost, search=search)
        return self.walk(request, paging=paging, page_size=page_size, trace=trace, usage=usage, items_at=items_at)

    def walk(
        self,
        request: Request,
        *,
        paging: str,
        page_size: int = 500,
        trace: list | None = None,
        usage: Usage | None = None,
        items_at: str | None = None,
    ) -> Iterator[Any]:
        """Yield every item of a list, page by page with the largest page, stopping on the last.

        Loop protection: a cursor that comes back, an offset that does not move forward, an empty
        page that says more follow, or more than `max_pages` pages end the walk with a `server`
        error rather than fetching forever.
        """
        style = pipedrive.paging(paging)
        key = style.param
        page = first_page(request, page_size)
        query = page.query  # moved on page by page
        seen: set = set()

        def broken(problem: str) -> StepError:
            return StepError("server", f"Pipedrive's paging of {request.path} {problem}; stopped to avoid a loop.")

        for _ in range(self.max_pages):
            response = self.execute(page, trace=trace, usage=usage)
            items = response.data
            if items_at:
                for part in items_at.split("."):
                    items = (items or {}).get(part)
            items = items or []
            yield from items  # a consumer that stops early stops the walk: no further page is fetched
            at = query.get(key)
            more, nxt = style.step(response.additional_data, at, len(items))
            if not more:
                return
            if not items:
                raise broken(f"gave a page with no items that says more follow (at {key}={at!r})")
            if key == "start" and (not isinstance(nxt, int) or nxt <= (at or 0)):
                raise broken(f"did not move forward at start={at or 0} (next_start={nxt!r})")
            if nxt in seen:
                raise broken(f"came back to the {key} {nxt!r} it gave before")
            seen.add(nxt)
            query[key] = nxt
        raise broken(f"did not end within {self.max_pages} pages (the max_pages setting)")

    # ---- debug records ------------------------------------------------------------------
    def _describe_request(self, request: Request, url: str) -> dict[str, Any]:
        desc: dict[str, Any] = {"method": request.method, "url": self.redactor.text(url)}
        if request.query:
            desc["query"] = self.redactor.value(request.query)
        if request.headers:
            desc["headers"] = self.redactor.value(request.headers)
        desc["auth"] = "header (redacted)"
        body = request.body
        if body is not None and not request.form:
            desc["json"] = self._clip(self.redactor.value(body))
        if body is not None and request.form:
            desc["form"] = self._clip(self.redactor.value(body if isinstance(body, dict) else str(body)))
        if request.files is not None:
            desc["files"] = request.files.describe()
        return desc

    def _clip(self, value: Any) -> Any:
        """Redact, then cut: cut first, a secret straddling the cut would leave its prefix behind."""
        if isinstance(value, bytes):
            return f"<{len(value)} bytes>"
        text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
        if len(text) > MAX_DEBUG_BODY:
            text = self.redactor.text(text)
            return text[:MAX_DEBUG_BODY] + f"... <{len(text)} chars>"
        return self.redactor.value(value)

    def close(self) -> None:
        self.session.close()


def _failed_before_sending(exc: requests.ConnectionError) -> bool:
    """True when the TCP connection never came up, so the request cannot have been read."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, NameResolutionError, ConnectionRefusedError)):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        args = getattr(current, "args", ())
        current = next((a for a in args if isinstance(a, BaseException)), None) or current.__context__
    return False
