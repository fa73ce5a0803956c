"""Triggers: Pipedrive changes become jobs in a hot folder's inbox, each exactly once.

Two sources feed one durable queue (`EventQueue`):
- `Receiver`: the callback Pipedrive's webhooks (v2 payloads `{meta, data, previous}`) post to,
  behind basic auth; it answers 200 only once the event is on disk.
- `Poller`: the v2 lists sorted by `update_time` from a saved cursor, with an overlap window
  (timestamps have whole seconds), for `poll` and for `listen` to catch up after downtime or a ban.

Each event is known by keys (`event_keys`): a webhook event by its id, a polled record by its state
(`<entity>:<id>:<update_time>`), each also leaving the other kind's key behind. A key already in the
seen log (fsynced, kept across restarts) makes a duplicate, so Pipedrive's retries, duplicate
deliveries and a poll meeting a change a webhook already brought all end as one job. Jobs then run
through `runner.HotFolder`, the same runner as `watch`, with its routing, journal and recovery; with
`--queue` that runner hands each job to Redis instead (`forward`, as `watch --queue` does), so a job
is sent under the id journalled before sending, and leaves the inbox only once Redis took it.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .errors import StepError
from .flows import Flow, Trigger
from .jobs import Job, fsync_dir, write_atomic
from .jobstore import run_base
from .runner import Forward, HotFolder, WatchSettings, emit
from .runtime import Runtime

MAX_BODY = 1024 * 1024  # bytes: a v2 event is a few kB; anything this large is not one
MAX_REQUESTS = 32  # callbacks answered at once; more get 503 and Pipedrive retries them
CALLBACK_PATH = "/pipedrive/events"
SEEN_DAYS = 14  # how long a key is remembered; Pipedrive's retries end within minutes, catch-ups within the downtime
# entity name for `poll --entity` -> (list action, the entity's name in events)
POLLABLE = {
    "deals": ("getDeals", "deal"),
    "persons": ("getPersons", "person"),
    "organizations": ("getOrganizations", "organization"),
    "activities": ("getActivities", "activity"),
    "products": ("getProducts", "product"),
}
PAGE = 500  # the v2 lists' largest page
PENDING = ".pending-"  # an event written but not yet acknowledged: the hot folder ignores dot-files

log = logging.getLogger("pipedrive_connect.triggers")


class TriggerError(Exception):
    """A trigger cannot start or go on (webhook registration refused, folder in use): one line for people."""


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp from Pipedrive (`2026-05-01T10:20:30Z`) as an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_keys(payload: dict[str, Any], source: str) -> tuple[list[str], list[str]]:
    """The keys that make an event a duplicate, and the keys it leaves behind once decided.

    A webhook event is known by its id (two changes in the same second are two events); it also
    leaves its record state (`change:`) so a poll skips that state. A polled record is known by its
    state; it leaves `polled:` so a late webhook retry for the state the poll already took is skipped."""
    meta, data = payload.get("meta") or {}, payload.get("data")
    state = ""
    if isinstance(data, dict) and data.get("id") is not None and data.get("update_time"):
        state = f"{meta.get('entity')}:{data['id']}:{data['update_time']}"
    if source == "poll":
        return [f"change:{state}"], [f"change:{state}", f"polled:{state}"]
    event = [f"event:{meta['id']}"] if meta.get("id") else []
    return event + ([f"polled:{state}"] if state else []), event + ([f"change:{state}"] if state else [])


# ---- the durable queue ----------------------------------------------------------------------
class SeenLog:
    """Keys of events already decided (queued or filtered out): JSON Lines, each batch fsynced."""

    def __init__(self, path: Path):
        self.path = path
        self.keys: dict[str, float] = {}
        cutoff = time.time() - SEEN_DAYS * 86400
        stale = False
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    key, at = entry["key"], float(entry["at"])
                except (ValueError, KeyError, TypeError):
                    stale = True
                    continue  # a line torn by a crash: its batch was never acknowledged
                if at >= cutoff:
                    self.keys[key] = at
                else:
                    stale = True
        if stale:  # compact: drop old event ids and torn lines
            text = "".join(json.dumps({"key": k, "at": at}) + "\n" for k, at in self.keys.items())
            write_atomic(path, text.encode(), 0o600)
        self._file = path.open("ab")
        os.chmod(path, 0o600)

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def add(self, keys: Iterable[str]) -> None:
        now = time.time()
        fresh = [k for k in keys if k not in self.keys]
        if not fresh:
            return
        self._file.write("".join(json.dumps({"key": k, "at": now}) + "\n" for k in fresh).encode())
        self._file.flush()
        os.fsync(self._file.fileno())
        self.keys.update(dict.fromkeys(fresh, now))

    def close(self) -> None:
        self._file.close()


class EventQueue:
    """Puts events into the inbox as job files, durably and at most once per key.

    Per batch: each job is written and fsynced as a dot-file the hot folder ignores, then the keys
    are fsynced in the seen log, then the files are renamed into place. A crash before the seen log
    leaves dot-files nobody acknowledged (removed at the next start: Pipedrive retries them, or the
    poll finds them); a crash after it leaves dot-files that are renamed at the next start."""

    def __init__(self, inbox: Path, state_dir: Path, trigger: Trigger | None):
        self.inbox, self.trigger = inbox, trigger
        inbox.mkdir(parents=True, exist_ok=True)
        self.seen = SeenLog(state_dir / "seen.jsonl")
        self.lock = threading.Lock()
        self._recover()

    def _recover(self) -> None:
        for pending in sorted(self.inbox.glob(f"{PENDING}*.json")):
            try:
                keys = json.loads(pending.read_bytes())["metadata"]["trigger"]["keys"]
            except (OSError, ValueError, KeyError, TypeError):
                keys = []
            if keys and all(k in self.seen for k in keys):
                self._place(pending)
            else:
                pending.unlink(missing_ok=True)
        fsync_dir(self.inbox)

    def put(self, payloads: list[dict[str, Any]], source: str) -> list[str]:
        """Each event's fate: `queued`, `duplicate` or `filtered` (decided, not run)."""
        results, pending, decided = [], [], []
        with self.lock:
            batch: set[str] = set()
            for payload in payloads:
                check, keys = event_keys(payload, source)
                if any(k in self.seen or k in batch for k in check):
                    results.append("duplicate")
                    continue
                batch.update(keys)
                decided += keys
                if self.trigger is not None and not self.trigger.matches(payload):
                    results.append("filtered")
                    continue
                pending.append(self._write_pending(payload, keys, source))
                results.append("queued")
            if pending:
                fsync_dir(self.inbox)
            self.seen.add(decided)
            for path in pending:
                self._place(path)
            if pending:
                fsync_dir(self.inbox)
        return results

    def _write_pending(self, payload: dict[str, Any], keys: list[str], source: str) -> Path:
        meta = payload.get("meta") or {}
        data = payload.get("data") if isinstance(payload.get("data"), dict) else payload.get("previous") or {}
        stamp = "".join(c for c in str((data or {}).get("update_time") or "") if c.isdigit())
        tail = str(meta.get("id") or stamp or uuid.uuid4().hex)[:36]
        name = run_base(f"{meta.get('entity')}-{meta.get('entity_id')}-{meta.get('action')}-{tail}")
        job = {
            "data": payload,
            "metadata": {
                "trigger": {"source": source, "event": f"{meta.get('action')}.{meta.get('entity')}", "keys": keys}
            },
        }
        for n in range(1, 1000):  # a dot-file nobody reads yet: written in place, fsynced; the batch syncs the folder
            path = self.inbox / f"{PENDING}{name}{'' if n == 1 else f'-{n}'}.json"
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(job, ensure_ascii=False).encode())
                fh.flush()
                os.fsync(fh.fileno())
            return path
        raise TriggerError(f"too many queued jobs named {name}")

    def _place(self, pending: Path) -> None:
        """Rename a pending file to its job name (one atomic step), never over another file: only this
        process writes job names into this inbox (the folder lock), so a check before the rename holds."""
        stem = pending.name[len(PENDING) : -len(".json")]
        for n in range(1, 1000):
            target = self.inbox / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
            if not target.exists():
                os.rename(pending, target)
                return
        raise TriggerError(f"too many queued jobs named {stem}")

    def close(self) -> None:
        self.seen.close()


# ---- polling ----------------------------------------------------------------------------------
@dataclass
class PollState:
    """Where the last poll ended: the newest `update_time` taken, and the keys at that edge."""

    cursor: str | None = None
    recent: dict[str, str] = field(default_factory=dict)  # change key -> its update_time

    @classmethod
    def load(cls, path: Path) -> PollState | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise TriggerError(f"{path}: not a poll state file ({exc}); remove it to start over") from None
        return cls(raw.get("cursor"), dict(raw.get("recent") or {}))

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps({"cursor": self.cursor, "recent": self.recent}).encode(), 0o600)


@dataclass
class PollResult:
    listed: int = 0
    queued: int = 0
    duplicate: int = 0
    filtered: int = 0
    calls: int = 0


class Poller:
    """Lists one entity's records changed since the saved cursor (oldest first) into the queue."""

    def __init__(
        self,
        runtime: Runtime,
        entity: str,
        queue: EventQueue,
        state_path: Path,
        overlap: float = 2.0,
        since: str | None = None,
    ):
        if entity not in POLLABLE:
            raise TriggerError(f"cannot poll {entity!r}; choose from {', '.join(POLLABLE)}")
        self.runtime, self.queue, self.state_path = runtime, queue, state_path
        self.action = runtime.bundle.action(POLLABLE[entity][0])
        self.entity = POLLABLE[entity][1]
        self.overlap, self.since = timedelta(seconds=overlap), since

    def _page(self, params: dict[str, Any], result: PollResult) -> tuple[list[dict], str | None]:
        answer = self.runtime.client.send(
            "GET", cast(str, self.action.api), cast(str, self.action.path), params=params, cost=self.action.cost
        )
        result.calls += 1
        return list(answer.data or []), answer.additional_data.get("next_cursor")

    def start_from_now(self) -> None:
        """A first start of `listen`: later catch-ups begin at the newest change there is now."""
        if PollState.load(self.state_path) is not None:
            return
        records, _ = self._page({"sort_by": "update_time", "sort_direction": "desc", "limit": 100}, PollResult())
        state = PollState()
        if records and records[0].get("update_time"):
            state.cursor = records[0]["update_time"]
            edge = parse_time(state.cursor) - self.overlap
            for record in records:
                if record.get("update_time") and parse_time(record["update_time"]) >= edge:
                    state.recent[self._key(record)] = record["update_time"]
        else:
            state.cursor = format_time(datetime.now(timezone.utc))
        state.save(self.state_path)

    def _key(self, record: dict[str, Any]) -> str:
        return f"{self.entity}:{record['id']}:{record['update_time']}"

    def run_once(self, until: datetime | None = None) -> PollResult:
        """One pass to the end of the list (or to changes newer than `until`, left for the next pass).

        The cursor is saved after each page, once its jobs are durably queued."""
        state = PollState.load(self.state_path) or PollState(cursor=self.since)
        params: dict[str, Any] = {"sort_by": "update_time", "sort_direction": "asc", "limit": PAGE}
        if state.cursor:
            params["updated_since"] = format_time(parse_time(state.cursor) - self.overlap)
        result = PollResult()
        page_cursor: str | None = None
        while True:
            records, page_cursor = self._page({**params, **({"cursor": page_cursor} if page_cursor else {})}, result)
            payloads, newest, stop = [], state.cursor, False
            for record in records:
                stamp = record.get("update_time")
                if not stamp or record.get("id") is None:
                    continue
                if until is not None and parse_time(stamp) > until:
                    stop = True
                    break
                result.listed += 1
                newest = stamp if newest is None or parse_time(stamp) > parse_time(newest) else newest
                key = self._key(record)
                if key in state.recent:
                    result.duplicate += 1
                    continue
                state.recent[key] = stamp
                payloads.append(self._payload(record))
            for fate in self.queue.put(payloads, "poll"):
                setattr(result, fate, getattr(result, fate) + 1)
            if newest is not None:
                state.cursor = newest
                edge = parse_time(newest) - self.overlap
                state.recent = {k: t for k, t in state.recent.items() if parse_time(t) >= edge}
                state.save(self.state_path)
            if stop or not page_cursor or not records:
                return result

    def _payload(self, record: dict[str, Any]) -> dict[str, Any]:
        """A listed record as an event: previous values are unknown, so change filters never fire on it."""
        action = "create" if record.get("add_time") == record.get("update_time") else "change"
        meta = {
            "action": action,
            "entity": self.entity,
            "entity_id": str(record["id"]),
            "id": None,
            "timestamp": record["update_time"],
            "version": "2.0",
            "source": "poll",
        }
        return {"meta": meta, "data": record, "previous": None}


# ---- the webhook callback --------------------------------------------------------------------
class _QuietHandler(WSGIRequestHandler):
    timeout = 10  # seconds a connection may stay silent: a slow client cannot hold a thread

    def log_request(self, code="-", size="-") -> None:
        pass


class Receiver:
    """The WSGI app Pipedrive posts events to: basic auth first, a bounded body, then the queue."""

    def __init__(self, queue: EventQueue, user: str, password: str, max_body: int = MAX_BODY):
        self.queue, self.max_body = queue, max_body
        self.expected = f"{user}:{password}".encode()
        self.slots = threading.BoundedSemaphore(MAX_REQUESTS)

    def __call__(self, environ, start_response):
        if not self.slots.acquire(blocking=False):  # a flood: refuse, rather than start a thread per request
            return self._reply(503, "busy", {"Retry-After": "3"})(environ, start_response)
        try:
            request = Request(environ)
            request.max_content_length = self.max_body
            return self.answer(request)(environ, start_response)
        finally:
            self.slots.release()

    @staticmethod
    def _reply(status: int, outcome: str, headers: dict | None = None) -> Response:
        return Response(json.dumps({"outcome": outcome}), status, headers, mimetype="application/json")

    def answer(self, request: Request) -> Response:
        if request.path != CALLBACK_PATH:
            return self._reply(404, "not_found")
        if request.method != "POST":
            return self._reply(405, "method_not_allowed", {"Allow": "POST"})
        if not self._authorized(request.headers.get("Authorization", "")):
            return self._reply(401, "unauthorized", {"WWW-Authenticate": 'Basic realm="pipedrive-connect"'})
        if request.content_length is None:
            return self._reply(411, "length_required")
        try:
            raw = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return self._reply(413, "too_large")
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            return self._reply(400, "malformed")
        if not _is_event(payload):
            return self._reply(400, "malformed")
        try:
            (fate,) = self.queue.put([payload], "webhook")
        except OSError as exc:  # a full disk: not acknowledged, so Pipedrive tries again
            emit("trigger_failed", f"could not queue an event: {exc.strerror}", logging.ERROR)
            return self._reply(503, "not_stored")
        emit("event", f"event {payload['meta']['action']}.{payload['meta']['entity']}: {fate}", fate=fate)
        return self._reply(200, fate)

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        try:
            given = base64.b64decode(encoded.strip(), validate=True) if scheme.lower() == "basic" else b""
        except (binascii.Error, ValueError):
            given = b""
        return hmac.compare_digest(given, self.expected)


def _is_event(payload: Any) -> bool:
    """A v2 event: meta with an id, action and entity; data and previous objects or null."""
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        return False
    meta = payload["meta"]
    return (
        isinstance(meta.get("id"), str)
        and bool(meta["id"])
        and meta.get("action") in ("create", "change", "delete")
        and isinstance(meta.get("entity"), str)
        and str(meta.get("version", "2.0")).startswith("2")
        and all(payload.get(k) is None or isinstance(payload.get(k), dict) for k in ("data", "previous"))
    )


# ---- the two commands ---------------------------------------------------------------------------
class TriggerFolder:
    """An output folder a trigger owns: OUT/inbox (the queue), OUT/success|error|log (the routes), and
    OUT/.trigger (seen log, cursors, credentials; private). One trigger process per folder at a time."""

    def __init__(self, out_dir: Path, trigger: Trigger | None):
        self.out = Path(out_dir)
        self.state = self.out / ".trigger"
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.state, 0o700)
        self._lock = os.open(self.state / "lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock)
            raise TriggerError(f"{self.out} is in use by another listen or poll; give each its own --out") from None
        self.inbox = self.out / "inbox"
        self.queue = EventQueue(self.inbox, self.state, trigger)

    def poll_state(self, entity: str) -> Path:
        return self.state / f"poll-{entity}.json"

    def close(self) -> None:
        self.queue.close()
        os.close(self._lock)


def run_poll(
    runtime: Runtime,
    flow: Flow,
    out_dir: Path,
    entity: str,
    state_path: Path | None,
    interval: float,
    once: bool,
    settings: WatchSettings,
    since: str | None = None,
    overlap: float = 2.0,
    forward: Forward | None = None,
) -> tuple[PollResult, Any]:
    """`poll`: list changes into the queue every `interval` seconds while the hot folder runs them
    (or, with `forward`, sends them to the workers' queue)."""
    folder = TriggerFolder(out_dir, flow.trigger)
    try:
        poller = Poller(runtime, entity, folder.queue, state_path or folder.poll_state(entity), overlap, since)
        hot = HotFolder(runtime, flow, folder.inbox, folder.out, settings=settings, forward=forward)
        hot.install_signal_handlers()
        total = PollResult()

        def poll() -> None:
            try:
                result = poller.run_once()
            except StepError as exc:  # the next pass starts again from the saved cursor
                emit("poll_failed", f"poll of {entity} failed: {exc.message}", logging.WARNING)
                return
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(result, name))
            emit(
                "polled" if result.listed else "poll_idle",  # only passes that found something reach the console
                f"polled {entity}: {result.listed} changed, {result.queued} queued, "
                f"{result.duplicate} already seen, {result.filtered} filtered out ({result.calls} list calls)",
                **vars(result),
            )

        if once:
            poll()
            stats = hot.run(once=True)
            return total, stats

        def loop() -> None:
            while not hot.stop.is_set():
                poll()
                hot.stop.wait(interval)

        thread = threading.Thread(target=loop, name="poll", daemon=True)
        thread.start()
        stats = hot.run()
        thread.join(timeout=60)
        return total, stats
    finally:
        folder.close()


@dataclass
class ListenSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    keep: bool = False
    catch_up_every: float = 300.0  # seconds between catch-up polls while listening
    grace: float = 200.0  # changes younger than this are left to their webhook (Pipedrive retries for 183 s)
    overlap: float = 2.0


class Listener:
    """`listen`: webhooks registered, callback served, catch-up polls, and the hot folder running the jobs."""

    def __init__(self, runtime: Runtime, flow: Flow, trigger: Trigger, out_dir: Path, settings: ListenSettings):
        self.runtime, self.flow, self.trigger, self.settings = runtime, flow, trigger, settings
        self.folder = TriggerFolder(out_dir, trigger)
        self.state_file = self.folder.state / "listen.json"
        self.state = self._load_state()
        self.receiver = Receiver(self.folder.queue, self.state["user"], self.state["password"])
        self.server: BaseWSGIServer | None = None
        self.pollers = [
            Poller(runtime, entity, self.folder.queue, self.folder.poll_state(entity), settings.overlap)
            for entity, (_, name) in POLLABLE.items()
            if name in trigger.objects
        ]

    def _load_state(self) -> dict[str, Any]:
        """The credentials and webhook ids of earlier runs (mode 0600), or new credentials."""
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            state = {}
        except ValueError as exc:
            raise TriggerError(f"{self.state_file}: unreadable ({exc}); remove it to start over") from None
        if not state.get("user") or not state.get("password"):
            state = {"user": f"pdc-{secrets.token_hex(4)}", "password": secrets.token_urlsafe(24), "webhooks": {}}
        state.setdefault("webhooks", {})
        self._save(state)
        return state

    def _save(self, state: dict[str, Any]) -> None:
        write_atomic(self.state_file, json.dumps(state, indent=2).encode(), 0o600)

    @property
    def url(self) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + CALLBACK_PATH
        port = self.server.server_port if self.server is not None else self.settings.port
        return f"http://{self.settings.host}:{port}{CALLBACK_PATH}"

    def _call(self, key: str, inputs: dict[str, Any]) -> Any:
        outcome = self.runtime.run(key, Job(), inputs)
        if outcome.error is not None:
            raise TriggerError(f"{key} failed: {outcome.error.message}")
        return outcome.result

    def register(self) -> None:
        """One webhook per event; an existing one with our URL, event and user is reused. Others at our URL
        and event (their folder's credentials were lost: they would only ever get 401) and ones an earlier
        run of this folder made for another URL or event are deleted."""
        existing = self._call("getWebhooks", {}) or []
        registered: dict[str, int] = {}
        for event in self.trigger.events:
            action, _, obj = event.partition(".")
            match = next((h for h in existing if self._target(h) == (action, obj) and self._ours(h)), None)
            if match is None:
                match = self._call(
                    "addWebhook",
                    {
                        "subscriptionUrl": self.url,
                        "eventAction": action,
                        "eventObject": obj,
                        "name": f"pipedrive-connect listen: {self.flow.name}"[:255],
                        "httpAuthUser": self.state["user"],
                        "httpAuthPassword": self.state["password"],
                        "version": "2.0",
                    },
                )
                emit("webhook_added", f"webhook #{match['id']} for {event} -> {self.url}")
            else:
                emit("webhook_reused", f"webhook #{match['id']} for {event} reused")
            registered[event] = match["id"]
        earlier = set(self.state["webhooks"].values())
        wanted = {tuple(e.split(".", 1)) for e in self.trigger.events}
        for hook in existing:
            if hook["id"] not in registered.values() and (hook["id"] in earlier or self._target(hook) in wanted):
                self._call("deleteWebhook", {"id": hook["id"]})
        self.state["webhooks"] = registered
        self._save(self.state)

    def _target(self, hook: dict[str, Any]) -> tuple[str, str] | None:
        """(action, object) of a webhook calling our URL, else None."""
        if hook.get("subscription_url") != self.url:
            return None
        return str(hook.get("event_action")), str(hook.get("event_object"))

    def _ours(self, hook: dict[str, Any]) -> bool:
        return hook.get("http_auth_user") == self.state["user"]

    def unregister(self) -> None:
        for event, hook_id in list(self.state["webhooks"].items()):
            try:
                self._call("deleteWebhook", {"id": hook_id})
            except TriggerError as exc:
                emit("webhook_left", f"webhook #{hook_id} for {event} could not be removed: {exc}", logging.WARNING)
                continue
            del self.state["webhooks"][event]
        self._save(self.state)

    def catch_up(self) -> None:
        """Poll what changed while no webhook could reach us; younger changes are left to their webhook."""
        until = datetime.now(timezone.utc) - timedelta(seconds=self.settings.grace)
        for poller in self.pollers:
            try:
                result = poller.run_once(until)
            except StepError as exc:
                emit("poll_failed", f"catch-up of {poller.entity} failed: {exc.message}", logging.WARNING)
                continue
            if result.queued:
                emit("caught_up", f"caught up {result.queued} {poller.entity} change(s) missed by webhooks")

    def _check_port(self) -> None:
        """A port in use is the user's to fix: say so in one line (Werkzeug would print two and exit 1)."""
        host, port = self.settings.host, self.settings.port
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        except OSError as exc:
            raise TriggerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    def run(self, settings: WatchSettings, forward: Forward | None = None) -> Any:
        """Serve until stopped; the jobs run here, or with `forward` go to the workers' queue."""
        self._check_port()
        hot = HotFolder(self.runtime, self.flow, self.folder.inbox, self.folder.out, settings=settings, forward=forward)
        hot.install_signal_handlers()
        server = cast(
            BaseWSGIServer,
            make_server(
                self.settings.host, self.settings.port, self.receiver, threaded=True, request_handler=_QuietHandler
            ),
        )
        self.server = server
        server_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        server_thread.start()
        poll_thread = None
        try:
            for poller in self.pollers:
                try:
                    poller.start_from_now()
                except StepError as exc:
                    raise TriggerError(f"cannot read the newest {poller.entity} changes: {exc.message}") from None
            self.register()
            emit("listening", f"listening on {self.url} for {', '.join(self.trigger.events)}")
            unpolled = sorted(self.trigger.objects - {name for _, name in POLLABLE.values()})
            if unpolled:
                emit(
                    "catch_up_limited",
                    f"no catch-up for {', '.join(unpolled)}: their changes cannot be listed by update time, "
                    "so events missed while stopped or banned are lost",
                    logging.WARNING,
                )

            def loop() -> None:
                while not hot.stop.is_set():
                    self.catch_up()
                    hot.stop.wait(self.settings.catch_up_every)

            poll_thread = threading.Thread(target=loop, name="catch-up", daemon=True)
            poll_thread.start()
            return hot.run()
        finally:
            hot.stop.set()
            server.shutdown()
            server.server_close()
            if poll_thread is not None:
                poll_thread.join(timeout=60)
            if not self.settings.keep:
                self.unregister()
            self.folder.close()
