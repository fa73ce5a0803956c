"""Workers on many machines: jobs from a Redis queue, one rate limit per Pipedrive account.

The hot folder's promises, kept where every worker can see them (Redis, with AOF `fsync always`):
- The queue is Dramatiq's Redis broker: a message is acked only after its job was routed or put
  back, and the messages of a worker whose heartbeats stop are handed to the others.
- A job is owned by one worker at a time through a lease (`owner` key, renewed while it runs); every
  journal entry and the routing itself are written only while the lease is ours (one Lua script
  each), so a worker that lost its lease can neither record a step nor route the job.
- The step journal is a Redis list: a retried job skips finished steps, repeats an in-flight step
  only where `may_repeat` allows, and routes an in-flight create `outcome_unknown`.
- Exactly one route: the `routed` mark is set once; a redelivered message of a routed job is dropped.
- The burst limit is a moving window in Redis (the `limits` library) keyed by a hash of the token,
  and the daily token budget a counter keyed by a hash of the company, so every worker on every
  machine shares them; tokens never appear in keys, messages or logs.

Keys (prefix `pipedrive-connect:`): `job:<id>` (hash: flow, job, connection, state, sent, route),
`journal:<id>` (list), `owner:<id>` (lease), `result:<id>` (routed payload when kept in Redis),
`queues` (set of flow queues), `budget:<company>:<day>` and `budget-spent:<company>`; the broker's
own keys live under `pipedrive-connect-queue:`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .connection import Connection
from .errors import StepError
from .files import FileRoots, safe_filename
from .flows import Flow, FlowError, run_flow, write_debug_records
from .jobs import Job, JobFileError, Outcome, write_atomic
from .jobstore import JournalState, now_iso, replay, run_base
from .limits import MAX_PAUSE, seconds_from_header
from .pipedrive import RATE_LIMIT, RATE_REMAINING, RATE_RESET, RATE_WINDOW, SEARCH_LIMIT
from .runner import HOLD_KINDS, PAUSE_KINDS, emit, resume
from .runtime import Runtime

PREFIX = "pipedrive-connect"
ACTOR = "run_job"
# Share of each window left unused: a request reaches Pipedrive some milliseconds after it was counted,
# and that delay varies with the load of the machine, so a window counted full to the last request sees 429s.
HEADROOM = 0.05
REDIS_PATIENCE = 40  # reconnection attempts (backoff capped at 2 s): a Redis restart of about a minute is sat out


class QueueError(ValueError):
    """A queue URL, connection name or job that cannot be used: one line for the person at the keyboard."""


def connect(url: str, patience: int = REDIS_PATIENCE) -> redis.Redis:
    """A Redis client that waits through a Redis restart instead of failing the job in hand."""
    if not re.match(r"^(redis|rediss|unix)://", url or ""):
        raise QueueError(
            "--queue takes a Redis URL such as redis://127.0.0.1:6379/0"
        )  # not echoed: it may hold a password
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), patience),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        socket_connect_timeout=5,
        socket_timeout=30,
        health_check_interval=10,
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def key(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


def flow_queue(flow: Flow) -> str:
    """The Dramatiq queue of a flow's jobs: workers started with --flow take only theirs."""
    return "flow." + re.sub(r"[^A-Za-z0-9_.-]", "-", flow.name)[:80]


def account_of(connection: Connection) -> tuple[str, str]:
    """(token key, company key): hashes that name an account in Redis without the secret in them."""
    secret = (connection.secrets() or [""])[0]
    token = hashlib.sha256(f"{connection.host}\0{secret}".encode()).hexdigest()[:24]
    company = hashlib.sha256(connection.host.encode()).hexdigest()[:24]
    return token, company


def _broker(client: redis.Redis, dead_after: float = 60.0) -> RedisBroker:
    """Dramatiq's Redis broker. No time limit (a long fetch is not a hung job) and retries without
    end: holds ask for their own delay, and a fault of ours is retried with backoff."""
    broker = RedisBroker(
        client=client,
        namespace=f"{PREFIX}-queue",
        heartbeat_timeout=int(dead_after * 1000),
        middleware=[Retries(retry_when=lambda n, exc: True, min_backoff=1000, max_backoff=60_000)],
    )
    dramatiq.set_broker(broker)
    return broker


def _sweeper(client: redis.Redis, dead_after: float) -> RedisBroker:
    """A broker whose every call runs the broker's maintenance: messages of workers silent for
    `dead_after` go back to their queue. Workers call it on a clock rather than by chance."""
    return RedisBroker(
        client=client,
        namespace=f"{PREFIX}-queue",
        heartbeat_timeout=int(dead_after * 1000),
        maintenance_chance=1_000_000,
        middleware=[],
    )


# ---- submitting ----------------------------------------------------------------------------
def new_job_id(stem: str) -> str:
    return f"{run_base(stem)[:80]}-{uuid.uuid4().hex[:10]}"


class Queue:
    """The submitting side: store jobs with their flow and send their messages; read where they stand."""

    def __init__(self, client: redis.Redis):
        self.client: Any = client  # redis-py's sync/async union types say nothing here
        self.broker = _broker(client)

    def enqueue(
        self,
        flow_raw: dict,
        flow: Flow,
        job: dict,
        *,
        connection: str | None = None,
        job_id: str | None = None,
        source: str = "",
    ) -> str:
        """Store the job (with its flow, so every retry runs the same steps) and send its message.

        A `job_id` whose message was sent already is not sent again (a submitter that crashed after
        sending sends again at its restart); one sent twice anyway (a crash between sending and
        marking it sent) is harmless: the worker runs a job once and drops the rest."""
        job_id = job_id or new_job_id(str(job.get("id") or "job"))
        if self.client.hexists(key("job", job_id), "sent"):
            return job_id
        queue = flow_queue(flow)
        fields: dict[Any, Any] = {
            "flow": json.dumps(flow_raw),
            "job": json.dumps(job),
            "connection": connection or "",
            "queue": queue,
            "source": source,
        }
        pipe = self.client.pipeline()
        pipe.hset(key("job", job_id), mapping=fields)
        pipe.hsetnx(key("job", job_id), "state", "queued")
        pipe.hsetnx(key("job", job_id), "enqueued_at", now_iso())
        pipe.sadd(key("queues"), queue)
        pipe.execute()
        message: dramatiq.Message = dramatiq.Message(
            queue_name=queue, actor_name=ACTOR, args=(job_id,), kwargs={}, options={}
        )
        self.broker.enqueue(message)
        self.client.hset(key("job", job_id), "sent", now_iso())
        return job_id

    def result(self, job_id: str) -> dict[str, Any]:
        """Where a job stands: its routed payload once routed, else its state."""
        info = {_text(k): _text(v) for k, v in self.client.hgetall(key("job", job_id)).items()}
        if not info:
            return {"id": job_id, "state": "unknown"}
        state: dict[str, Any] = {"id": job_id, "state": info.get("state", "queued")}
        state.update({name: info[name] for name in ("route", "output") if info.get(name)})
        kept = self.client.get(key("result", job_id))
        if kept is not None:
            state["result"] = json.loads(kept)
        return state


# ---- the shared limiter ----------------------------------------------------------------------
class SharedLimiter:
    """The client's limiter, shared through Redis: a moving window of the burst limit per token and
    the day's token budget per company. Same interface as `limits.RateLimiter` (acquire, observe)."""

    def __init__(self, client: redis.Redis, connection: Connection, limit: int = 20, daily_budget: int | None = None):
        self.client: Any = client
        self.token, self.company = account_of(connection)
        patient: dict[str, Any] = {"retry": client.get_retry()}  # the same reconnection as every other call
        storage = RedisStorage("redis://", connection_pool=client.connection_pool, key_prefix=key("rate"), **patient)
        self.window = MovingWindowRateLimiter(storage)
        self.limit, self.search_limit, self.daily_budget = limit, SEARCH_LIMIT, daily_budget
        self.blocked_until = 0.0
        self.waited = 0.0
        self._limit_read = 0.0  # when the limit another worker learnt was last read from Redis

    def _item(self, search: bool) -> RateLimitItemPerSecond:
        limit = self.search_limit if search else self.limit
        return RateLimitItemPerSecond(max(1, limit - math.ceil(limit * HEADROOM)), int(RATE_WINDOW))

    def acquire(self, search: bool = False) -> None:
        try:
            self._budget_left()
            # One limit for all: a worker counting with a smaller one would cut the shared window short.
            if not self._limit_read or time.monotonic() - self._limit_read > 1.0:
                learnt = self.client.get(key("limit", self.token))
                if learnt is not None:
                    self.limit, self._limit_read = int(learnt), time.monotonic()
            while True:
                now = time.time()
                shared = self.client.get(key("blocked", self.token))  # a used-up window another worker saw
                if shared is not None:
                    self.blocked_until = max(self.blocked_until, float(shared))
                wait = self.blocked_until - now
                if wait <= 0:
                    items = [(self._item(False), "all")] + ([(self._item(True), "search")] if search else [])
                    if all(self.window.test(item, self.token, name) for item, name in items):
                        if all(self.window.hit(item, self.token, name) for item, name in items):
                            return
                    resets = [self.window.get_window_stats(item, self.token, name).reset_time for item, name in items]
                    wait = max(0.005, min(max(resets) - now, RATE_WINDOW))
                self.waited += wait
                time.sleep(wait)
        except redis.RedisError as exc:
            raise StepError(
                "network",
                f"The shared rate limiter could not reach Redis ({type(exc).__name__}); nothing was sent.",
                retryable=True,
                details={"not_sent": True},
            ) from None

    def observe(self, headers, search: bool = False) -> None:
        """Learn the limit from Pipedrive's headers. A used-up window stops every worker on this token
        until Pipedrive's reset, whoever filled it: a client outside these workers, or requests that
        reached Pipedrive later than they were counted here (a loaded machine), bunched into one window."""
        try:
            limit = int(headers.get(RATE_LIMIT, 0))
        except (TypeError, ValueError):
            limit = 0
        if limit > 0 and not search and limit != self.limit:
            self.limit, self._limit_read = limit, time.monotonic()
            try:
                self.client.set(key("limit", self.token), limit, ex=86400)
            except redis.RedisError:
                pass  # each worker learns it from its own answers too
        reset = seconds_from_header(headers.get(RATE_RESET))
        if str(headers.get(RATE_REMAINING, "")).strip() in ("0", "-1") and reset:
            pause = min(reset, MAX_PAUSE)
            self.blocked_until = max(self.blocked_until, time.time() + pause)
            try:
                self.client.set(key("blocked", self.token), repr(self.blocked_until), px=int(pause * 1000) + 1)
            except redis.RedisError:
                pass  # this worker waits all the same; the others learn it from their own answers

    def spend(self, cost: int) -> None:
        """Count a job's tokens in the company's budget for the day (UTC)."""
        if cost:
            day = key("budget", self.company, datetime.now(timezone.utc).strftime("%Y%m%d"))
            pipe = self.client.pipeline()
            pipe.incrby(day, cost)
            pipe.expire(day, 2 * 86400)
            pipe.execute()

    def budget_spent(self) -> None:
        """Pipedrive said the budget is used up: every worker stops sending for this company until midnight UTC."""
        now = datetime.now(timezone.utc)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.client.set(key("budget-spent", self.company), "1", ex=max(1, int((midnight - now).total_seconds())))

    def _budget_left(self) -> None:
        spent = self.client.exists(key("budget-spent", self.company))
        if not spent and self.daily_budget is not None:
            day = key("budget", self.company, datetime.now(timezone.utc).strftime("%Y%m%d"))
            spent = int(self.client.get(day) or 0) >= self.daily_budget
        if spent:
            raise StepError(
                "budget_exhausted",
                "The company's daily API token budget is used up (shared by every worker); "
                "nothing is sent until it resets (midnight UTC).",
                retryable=False,
            )


# ---- the journal, fenced by the lease ------------------------------------------------------------
# KEYS: owner, journal; ARGV: worker id, entry, lease ms. Appends only while the lease is ours.
_APPEND = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('rpush', KEYS[2], ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
return 1
"""
# KEYS: owner, job, journal, result; ARGV: worker id, route, output, payload or '', ttl s, routed at
_ROUTE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('hget', KEYS[2], 'state') == 'routed' then return 2 end
redis.call('hset', KEYS[2], 'state', 'routed', 'route', ARGV[2], 'output', ARGV[3], 'routed_at', ARGV[6])
if ARGV[4] ~= '' then redis.call('set', KEYS[4], ARGV[4], 'EX', ARGV[5]) end
redis.call('del', KEYS[3])
redis.call('expire', KEYS[2], ARGV[5])
return 1
"""
_RENEW = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('pexpire', KEYS[1], ARGV[2])
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class LeaseLost(Exception):
    """Another worker owns the job now (ours expired): stop without recording or routing anything."""


class RedisJournal:
    """`run_flow`'s journal in Redis: each entry written (and fsynced by Redis) only while we hold the lease."""

    def __init__(self, worker: Worker, job_id: str):
        self.worker, self.job_id = worker, job_id

    def append(self, entry: dict) -> None:
        w = self.worker
        ok = w.scripts["append"](
            keys=[key("owner", self.job_id), key("journal", self.job_id)],
            args=[w.id, json.dumps(entry, ensure_ascii=False, default=str), int(w.settings.lease * 1000)],
        )
        if not ok:
            raise LeaseLost(self.job_id)

    def started(self, step) -> None:
        self.append({"event": "started", "step": step.id, "action": step.action, "at": now_iso()})
        emit("step_started", f"{self.job_id}: {step.id} ({step.action})", job=self.job_id, step=step.id)

    def done(self, step, record) -> None:
        self.append({"event": "done", "step": step.id, "record": record, "at": now_iso()})

    def read(self) -> JournalState:
        lines = self.worker.client.lrange(key("journal", self.job_id), 0, -1)
        return replay(_text(line) for line in lines)


# ---- the worker ---------------------------------------------------------------------------------
@dataclass
class WorkerSettings:
    concurrency: int = 4
    out_dir: Path | None = None  # None: routed payloads are kept in Redis for `result`
    connections_dir: Path | None = None  # named connections a job may use
    default_connection: Connection | None = None  # for jobs that name none
    allow_files_from: list[Path] = field(default_factory=list)
    lease: float = 30.0  # seconds a job stays ours without renewal
    dead_after: float = 60.0  # a worker silent this long is dead: its messages go to the others
    retry_for: float = 3600.0
    backoff: tuple[float, float] = (5.0, 300.0)
    keep_results: int = 7 * 86400
    daily_budget: int | None = None
    limit: int = 20  # burst limit until Pipedrive's headers tell the real one


class Worker:
    """Runs queued jobs: `run()` consumes the flow queues (its own, or every one enqueued so far)."""

    def __init__(self, client: redis.Redis, runtime: Runtime, flows: list[Flow] | None, settings: WorkerSettings):
        self.client: Any = client
        self.base, self.settings = runtime, settings
        self.id = f"{uuid.uuid4().hex[:12]}"
        self.scripts = {
            name: client.register_script(text)
            for name, text in (("append", _APPEND), ("route", _ROUTE), ("renew", _RENEW), ("release", _RELEASE))
        }
        self.broker = _broker(client, settings.dead_after)
        self.sweeper = _sweeper(client, settings.dead_after)
        dramatiq.actor(actor_name=ACTOR, broker=self.broker)(self.process)
        self.queues = {flow_queue(f) for f in flows} if flows else None
        self._runtimes: dict[str, Runtime] = {}
        self._flows: dict[str, Flow] = {}
        self._held: set[str] = set()  # jobs this worker runs now, whose leases it renews
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.lost_redis = False
        self.counts = {"success": 0, "error": 0, "held": 0, "outcome_unknown": 0, "dropped": 0}

    # -- running ------------------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        """Consume until `stop` is set; then finish the jobs in hand (their messages stay unacked otherwise)."""
        for queue in sorted(self.queues or self._known_queues()):
            self.broker.declare_queue(queue)
        worker = dramatiq.Worker(self.broker, worker_threads=self.settings.concurrency, worker_timeout=200)
        worker.start()
        renewer = threading.Thread(target=self._renew, name="lease-renewer", daemon=True)
        renewer.start()
        try:
            while not self.stop.wait(min(2.0, self.settings.dead_after / 2)):
                if self.queues is None:
                    for queue in self._known_queues() - self.broker.get_declared_queues():
                        self.broker.declare_queue(queue)  # the worker adds a consumer for it
                for queue in self.broker.get_declared_queues() | self.broker.get_declared_delay_queues():
                    self.sweeper.do_qsize(queue)  # dead workers' messages (delayed ones too) back to the queue
        except redis.RedisError as exc:
            # Redis gone for longer than the client waits: leave, so that a supervisor starts a fresh worker
            # (the messages this one fetched go back to the queue after --dead-after; their jobs resume).
            self.lost_redis = True
            self.stop.set()
            emit("stopped", f"stopped: Redis unreachable for about a minute ({type(exc).__name__})", logging.ERROR)
        finally:
            worker.stop(timeout=int(self.settings.lease * 1000))
        return dict(self.counts)

    def _known_queues(self) -> set[str]:
        return {_text(q) for q in self.client.smembers(key("queues"))}

    def _renew(self) -> None:
        while not self.stop.wait(self.settings.lease / 3):
            with self._lock:
                held = list(self._held)
            for job_id in held:
                try:
                    self.scripts["renew"](keys=[key("owner", job_id)], args=[self.id, int(self.settings.lease * 1000)])
                except redis.RedisError:
                    pass  # the journal's own check stops the job if the lease is gone meanwhile

    # -- one job ----------------------------------------------------------------------------------
    def process(self, job_id: str) -> None:
        """The actor: run the job if nobody else holds it and it is not routed yet."""
        lease_ms = int(self.settings.lease * 1000)
        if not self.client.set(key("owner", job_id), self.id, nx=True, px=lease_ms):
            raise dramatiq.Retry(f"{job_id} is running on another worker", delay=lease_ms)
        with self._lock:
            self._held.add(job_id)
        try:
            # Read under the lease: a job routed by its last owner is seen as routed here.
            info = {_text(k): _text(v) for k, v in self.client.hgetall(key("job", job_id)).items()}
            if not info or info.get("state") == "routed":
                self._count("dropped")  # a redelivered message, or a job whose result has expired
                return
            self.client.hset(key("job", job_id), mapping={"state": "running", "worker": self.id})
            self._run(job_id, info)
        except LeaseLost:
            emit("left", f"{job_id}: another worker took the job over; this one stops", logging.WARNING, job=job_id)
        finally:
            with self._lock:
                self._held.discard(job_id)
            try:
                self.scripts["release"](keys=[key("owner", job_id)], args=[self.id])
            except redis.RedisError:
                pass  # the lease expires by itself

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def _run(self, job_id: str, info: dict[str, str]) -> None:
        journal = RedisJournal(self, job_id)
        delivered = self._delivered(job_id)
        if delivered is not None:
            return self._mark_routed(job_id, delivered.parent.name, str(delivered), "")
        try:
            runtime = self._runtime(info.get("connection") or "")
            flow = self._flow(info["flow"], runtime)
            roots = FileRoots(self.settings.allow_files_from)
            job = Job.from_dict(json.loads(info["job"]), roots=roots)
        except (QueueError, FlowError, JobFileError, ValueError, KeyError) as exc:
            refused = StepError("input", str(exc)[:500])
            return self._finish(job_id, Outcome("error", Job(id=job_id), error=refused, failed_step="job"))
        job.run_name = job_id
        state = journal.read()
        job, unsure = resume(job, state, flow, runtime, "A worker")
        if unsure is not None:
            return self._finish(job_id, Outcome("error", job, error=unsure, failed_step=unsure.details["step"]))
        outcome = run_flow(runtime, flow, job, journal)
        limiter = runtime.client.limiter
        if isinstance(limiter, SharedLimiter):
            limiter.spend(outcome.cost)
            if outcome.error is not None and outcome.error.kind == "budget_exhausted" and outcome.error.status:
                limiter.budget_spent()
        error = outcome.error
        if error is not None and (error.kind in PAUSE_KINDS or (error.kind in HOLD_KINDS and error.retryable)):
            self._hold(job_id, journal, state, outcome)
        self._finish(job_id, outcome)

    def _hold(self, job_id: str, journal: RedisJournal, state: JournalState, outcome: Outcome) -> None:
        """Send the job again later (raises Retry), unless it has been held for `retry_for` seconds."""
        error = outcome.error
        assert error is not None
        attempts, since = state.attempts + 1, state.held_since or time.time()
        if error.kind not in PAUSE_KINDS and time.time() - since >= self.settings.retry_for:
            return
        first, longest = self.settings.backoff
        delay = min(longest, first * 2 ** (attempts - 1))
        journal.append({"event": "failed", "step": outcome.failed_step, "error": error.to_dict(), "at": now_iso()})
        journal.append({"event": "held", "attempt": attempts, "since": since, "reason": error.message, "at": now_iso()})
        self.client.hset(key("job", job_id), "state", "held")
        self._count("held")
        emit(
            "retry",
            f"  {job_id:<16} held     {error.kind}: {error.message} (attempt {attempts}; next in {delay:.0f} s)",
            job=job_id,
            kind=error.kind,
            attempt=attempts,
            next_in=delay,
        )
        raise dramatiq.Retry(error.kind, delay=int(delay * 1000))

    def _finish(self, job_id: str, outcome: Outcome) -> None:
        payload: dict[str, Any] = outcome.job.to_dict()
        payload.pop("files")
        payload["id"] = outcome.job.id
        if outcome.error is not None:
            payload["error"] = {**outcome.error.to_dict(), "step": outcome.failed_step}
        payload["input"] = {"queue_job": job_id}
        out = self.settings.out_dir
        output, kept = "", ""
        if out is not None:
            payload["log"] = write_debug_records(outcome, out)
            target = out / outcome.route / f"{safe_filename(job_id, 'job')}.json"
            self._check_lease(job_id)
            write_atomic(target, json.dumps(payload, ensure_ascii=False, default=str).encode())
            output = str(target)
        else:
            payload["log"] = [item.to_dict(with_record=True) for item in outcome.logs]
            kept = json.dumps(payload, ensure_ascii=False, default=str)
        self._mark_routed(job_id, outcome.route, output, kept)
        self._count(outcome.route)
        if outcome.error is not None and outcome.error.kind == "outcome_unknown":
            self._count("outcome_unknown")
        detail = (
            f"{outcome.error.kind} at step '{outcome.failed_step}': {outcome.error.message}"
            if outcome.error
            else f"{len(outcome.job.steps)} step(s)"
        )
        emit(
            "routed",
            f"  {job_id:<16} {outcome.route:<8} {detail}",
            job=job_id,
            route=outcome.route,
            output=output or None,
            api_calls=outcome.calls,
            token_cost=outcome.cost,
            error=payload.get("error"),
        )

    def _check_lease(self, job_id: str) -> None:
        if self.client.get(key("owner", job_id)) != self.id.encode():
            raise LeaseLost(job_id)

    def _mark_routed(self, job_id: str, route: str, output: str, kept: str) -> None:
        keys = [key("owner", job_id), key("job", job_id), key("journal", job_id), key("result", job_id)]
        done = self.scripts["route"](
            keys=keys, args=[self.id, route, output, kept, self.settings.keep_results, now_iso()]
        )
        if not done:
            raise LeaseLost(job_id)

    def _delivered(self, job_id: str) -> Path | None:
        """A worker that died between writing the routed file and marking it: the file is the route."""
        out = self.settings.out_dir
        if out is None:
            return None
        name = f"{safe_filename(job_id, 'job')}.json"
        return next((out / r / name for r in ("success", "error") if (out / r / name).exists()), None)

    # -- tenants and flows ------------------------------------------------------------------------
    def _runtime(self, name: str) -> Runtime:
        """The runtime of a named connection (one per tenant, with the account's shared limiter)."""
        with self._lock:
            runtime = self._runtimes.get(name)
        if runtime is not None:
            return runtime
        connection = self._connection(name)
        limiter = SharedLimiter(self.client, connection, self.settings.limit, self.settings.daily_budget)
        runtime = Runtime(self.base.bundle, connection, out_dir=self.settings.out_dir, limiter=limiter)
        runtime.file_roots = FileRoots(self.settings.allow_files_from)
        with self._lock:
            return self._runtimes.setdefault(name, runtime)

    def _connection(self, name: str) -> Connection:
        if not name:
            if self.settings.default_connection is None:
                raise QueueError("the job names no connection and this worker has none (--connection or environment)")
            return self.settings.default_connection
        return named_connection(self.settings.connections_dir, name)

    def _flow(self, text: str, runtime: Runtime) -> Flow:
        digest = hashlib.sha256(text.encode()).hexdigest()
        with self._lock:
            flow = self._flows.get(digest)
        if flow is None:
            flow = Flow.from_dict(json.loads(text), runtime, "queued flow")
            with self._lock:
                self._flows[digest] = flow
        return flow


def named_connection(folder: Path | None, name: str) -> Connection:
    """`NAME` is `FOLDER/NAME.yaml` (or .yml, .json, or a file name inside FOLDER): never a path outside it."""
    if folder is None:
        raise QueueError(f"the job names connection {name!r} but this worker has no --connections folder")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name) or ".." in name:
        raise QueueError(f"connection name {name[:40]!r} is not allowed: letters, digits, '.', '_' and '-' only")
    root = folder.resolve()
    names = (
        [name] if Path(name).suffix in (".yaml", ".yml", ".json") else [f"{name}.{s}" for s in ("yaml", "yml", "json")]
    )
    for candidate in names:
        path = (root / candidate).resolve()
        if path.parent == root and path.is_file():
            return Connection.from_file(str(path))
    raise QueueError(f"no connection named {name!r} in {root}")
