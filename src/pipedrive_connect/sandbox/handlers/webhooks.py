"""Webhooks (v1 paths, v2 payloads only) and their delivery to loopback URLs.

The handlers keep subscriptions in the store's ``webhooks`` table. The :class:`Dispatcher`
watches the store: every create, change and delete of a subscribed entity becomes one
``{meta, data, previous}`` event per matching webhook, posted from a background thread with
basic auth, Pipedrive's deadline, retries, ban and removal rules (all times multiplied by
``time_scale`` so tests need not wait minutes), and fault options that drop or duplicate a
delivery the way a real network or sender might.
"""

from __future__ import annotations

import base64
import copy
import heapq
import itertools
import json
import queue
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ..records import INT, ApiError, bad_request, check_value, not_found
from ..store import Store

EVENT_ACTIONS = ("create", "change", "delete", "*")
EVENT_OBJECTS = ("activity", "deal", "lead", "note", "organization", "person", "pipeline", "product", "stage", "user")
# store table -> the entity name events carry
ENTITIES = {
    "activities": "activity",
    "deals": "deal",
    "leads": "lead",
    "notes": "note",
    "organizations": "organization",
    "persons": "person",
    "pipelines": "pipeline",
    "products": "product",
    "stages": "stage",
    "users": "user",
}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_PER_USER = 40
DEADLINE = 10.0  # seconds Pipedrive waits for an answer
RETRIES = (3.0, 30.0, 150.0)  # seconds after a failed attempt
BAN_AFTER, BAN_FOR = 10, 1800.0  # failed first attempts in a row, then seconds of silence
REMOVE_AFTER = 3 * 86400.0  # seconds without a successful delivery
FIELDS = {
    "subscription_url": "str",
    "event_action": "enum:" + "|".join(EVENT_ACTIONS),
    "event_object": "enum:" + "|".join((*EVENT_OBJECTS, "*")),
    "name": "str",
    "user_id": "int",
    "http_auth_user": "str?",
    "http_auth_password": "str?",
    "version": "enum:1.0|2.0",
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the operations ------------------------------------------------------------------------
def list_webhooks(ctx, res):
    return [dict(w) for w in sorted(ctx.store.rows("webhooks"), key=lambda w: w["id"])]


def add_webhook(ctx, res):
    body = ctx.body()
    unknown = set(body) - set(FIELDS)
    if unknown:
        raise bad_request(f"Unknown field: {sorted(unknown)[0]}")
    clean = {k: check_value(k, v, FIELDS[k], strict=True) for k, v in body.items()}
    missing = [k for k in ("subscription_url", "event_action", "event_object", "name") if not clean.get(k)]
    if missing:
        raise bad_request(f"Missing required field(s): {', '.join(missing)}")
    if len(clean["name"]) > 255:
        raise bad_request("name must be at most 255 characters")
    if clean.get("version", "2.0") != "2.0":
        raise bad_request("The sandbox sends webhooks v2 only: leave version out or give 2.0")
    url = urlsplit(clean["subscription_url"])
    if url.scheme not in ("http", "https") or url.hostname not in LOOPBACK or url.username or url.password:
        raise bad_request("subscription_url: the sandbox delivers only to http(s)://127.0.0.1 or localhost")
    user_id = clean.get("user_id", ctx.user_id)
    if ctx.store.get("users", user_id) is None:
        raise bad_request(f"user_id {user_id} does not exist")
    with ctx.store.lock:
        if sum(1 for w in ctx.store.rows("webhooks") if w["owner_id"] == ctx.user_id) >= MAX_PER_USER:
            raise ApiError(422, "Webhooks limit reached", f"A user may have at most {MAX_PER_USER} webhooks.")
        record = {
            "company_id": 1,
            "owner_id": ctx.user_id,
            "user_id": user_id,
            "admin_id": ctx.user_id,
            "type": "general",
            "version": "2.0",
            "is_active": 1,
            "add_time": _now(),
            "remove_time": None,
            "remove_reason": None,
            "last_delivery_time": None,
            "last_http_status": None,
            "http_auth_user": None,
            "http_auth_password": None,
            **clean,
        }
        ctx.store.insert("webhooks", record)
    return ctx.respond(201, dict(record))


def delete_webhook(ctx, res, id: str):
    if not INT.match(id):
        raise bad_request("id must be an integer")
    if ctx.store.delete("webhooks", int(id)) is None:
        raise not_found("Webhook")
    return {"id": int(id)}


# ---- delivery ------------------------------------------------------------------------------
@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    webhook_id: int = field(compare=False)
    payload: dict = field(compare=False)
    attempt: int = field(compare=False, default=1)


@dataclass
class WebhookFaults:
    """Fractions of events whose delivery is lost or sent twice (drawn from a seeded generator)."""

    drop_rate: float = 0.0
    duplicate_rate: float = 0.0


class Dispatcher:
    """Turns store changes into deliveries; one background thread posts them, oldest due first."""

    def __init__(self, store: Store, time_scale: float = 1.0, faults: WebhookFaults | None = None, seed=None):
        if time_scale <= 0:
            raise ValueError("the webhook time scale must be above 0")
        self.store, self.scale = store, time_scale
        self.faults = faults or WebhookFaults()
        self.rng = random.Random(seed)
        self.incoming: queue.Queue[_Delivery] = queue.Queue(maxsize=10_000)
        self.pending: list[_Delivery] = []  # retries, by due time
        self.seq = itertools.count()
        self.stats: Counter = Counter()
        self.lock = threading.Lock()
        self.failed_first: Counter = Counter()  # webhook id -> failed first attempts in a row
        self.banned_until: dict[int, float] = {}
        self.last_success: dict[int, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        store.observers.append(self.observe)

    def start(self) -> Dispatcher:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=DEADLINE * self.scale + 2)

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.stats)

    def _count(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.stats[name] += by

    # -- events ----------------------------------------------------------------------------
    def observe(self, table: str, action: str, data: dict | None, previous: dict | None) -> None:
        """Called by the store (under its lock) after each change: queue one event per subscription."""
        entity = ENTITIES.get(table)
        if entity is None:
            return
        hooks = [
            w
            for w in self.store.tables.get("webhooks", {}).values()
            if w["is_active"] and w["event_action"] in (action, "*") and w["event_object"] in (entity, "*")
        ]
        record = data if data is not None else previous or {}
        for hook in hooks:
            meta = {
                "action": action,
                "entity": entity,
                "entity_id": str(record.get("id")),
                "company_id": str(hook["company_id"]),
                "user_id": str(hook["user_id"]),
                "id": str(uuid.uuid4()),  # unique across sandbox runs, as a listener remembers ids
                "correlation_id": str(uuid.uuid4()),
                "timestamp": _now(),
                "type": "general",
                "version": "2.0",
                "webhook_id": str(hook["id"]),
                "webhook_owner_id": str(hook["owner_id"]),
                "change_source": "api",
                "host": "sandbox.pipedrive.com",
                "is_bulk_edit": False,
                "permitted_user_ids": [str(hook["user_id"])],
            }
            payload = {"meta": meta, "data": copy.deepcopy(data), "previous": copy.deepcopy(previous)}
            try:
                self.incoming.put_nowait(_Delivery(time.monotonic(), next(self.seq), hook["id"], payload))
            except queue.Full:
                self._count("lost_queue_full")

    # -- the sending thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopping.is_set():
            item = self._next()
            if item is not None:
                self._deliver(item)

    def _next(self) -> _Delivery | None:
        """The next delivery due: a retry whose time has come, else a new event (waits briefly)."""
        if self.pending and self.pending[0].due <= time.monotonic():
            return heapq.heappop(self.pending)
        wait = 0.05 if not self.pending else max(0.0, min(0.05, self.pending[0].due - time.monotonic()))
        try:
            return self.incoming.get(timeout=wait)
        except queue.Empty:
            return None

    def _deliver(self, item: _Delivery) -> None:
        hook = self.store.get("webhooks", item.webhook_id)
        if hook is None:
            self._count("lost_webhook_removed")
            return
        now = time.monotonic()
        if item.attempt == 1:
            if self.banned_until.get(hook["id"], 0.0) > now:
                self._count("lost_banned")  # Pipedrive drops events while a webhook is banned
                return
            if self.faults.drop_rate and self.rng.random() < self.faults.drop_rate:
                self._count("dropped")
                return
        copies = 2 if item.attempt == 1 and self.rng.random() < self.faults.duplicate_rate else 1
        if copies == 2:
            self._count("duplicated")
        ok = False
        for _ in range(copies):
            ok = self._post(hook, item) or ok
        self.store.update(
            "webhooks", hook["id"], {"last_delivery_time": _now(), "last_http_status": 200 if ok else 500}
        )
        if ok:
            self._count("delivered")
            self.failed_first[hook["id"]] = 0
            self.last_success[hook["id"]] = now
            return
        self._count("failed")
        if item.attempt == 1:
            self.failed_first[hook["id"]] += 1
            if self.failed_first[hook["id"]] >= BAN_AFTER:
                self.banned_until[hook["id"]] = now + BAN_FOR * self.scale
                self.failed_first[hook["id"]] = 0
                self._count("bans")
        added = datetime.fromisoformat(hook["add_time"].replace("Z", "+00:00")).timestamp()
        since = self.last_success.get(hook["id"])
        silent_for = (now - since) if since is not None else (time.time() - added)
        if silent_for >= REMOVE_AFTER * self.scale:
            self.store.delete("webhooks", hook["id"])
            self._count("removed_after_failures")
            return
        if item.attempt <= len(RETRIES):
            item.payload = copy.deepcopy(item.payload)
            item.due = now + RETRIES[item.attempt - 1] * self.scale
            item.attempt += 1
            item.seq = next(self.seq)
            heapq.heappush(self.pending, item)
            self._count("retries_scheduled")

    def _post(self, hook: dict, item: _Delivery) -> bool:
        url = hook["subscription_url"]
        if urlsplit(url).hostname not in LOOPBACK:
            return False  # refused at creation; checked again so nothing ever leaves the machine
        item.payload["meta"]["attempt"] = item.attempt
        body = json.dumps(item.payload).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        if hook.get("http_auth_user") is not None:
            pair = f"{hook['http_auth_user']}:{hook.get('http_auth_password') or ''}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=DEADLINE * self.scale) as answer:
                answer.read(65536)
                return 200 <= answer.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Pipedrive does not follow redirects from a subscription URL; neither does the sandbox."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None
