"""The hot-folder runner: jobs dropped in a folder come out in success/, error/ and log/.

What it promises, and where each promise is kept:
- Exactly one route per job, nothing lost, nothing done twice: claims, journals, outputs and
  recovery live in the job store (`jobstore.FolderStore`); this module decides what to do.
- A step in flight when the process died is re-run only if repeating it is safe (reads, and
  updates/deletes by id); an in-flight *create* is never repeated: `outcome_unknown`.
- Outages do not empty the inbox: a job that failed for a reason that passes (network, 5xx after
  the client's retries, 429) is held and retried with backoff for `retry_for` seconds; a refused
  connection or a spent token budget pauses the runner until a probe succeeds.
- A full disk or a read-only output pauses the runner; the write is retried, never the step.
- People see what happens: one line per routed job on stderr, a periodic summary, and JSON
  Lines events (`--log-json`) through the standard `logging` module.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import RetrySettings, may_repeat
from .connection import Connection
from .errors import StepError
from .files import FileRoots
from .flows import Flow, in_doubt, run_flow, write_debug_records
from .jobs import (
    MAX_JOB_BYTES,
    Attachment,
    AttachmentError,
    Job,
    JobFileError,
    Outcome,
    parse_job_bytes,
    read_regular_file,
    write_atomic,
)
from .jobstore import Claim, FolderStore, JournalState, is_disk_error
from .runtime import Runtime

HOLD_KINDS = {"network", "server", "rate_limited"}  # retryable: nothing was applied, or repeating is safe
PAUSE_KINDS = {"connection", "budget_exhausted"}  # the account, not the job: stop claiming until it works

log = logging.getLogger("pipedrive_connect.runner")
log.setLevel(logging.INFO)  # events are INFO; without handlers only warnings reach stderr (logging's default)


def emit(event: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """One event: a human line for stderr, the fields for the JSON Lines log."""
    log.log(level, message, extra={"event": event, "fields": fields})


CONSOLE_EVENTS = {
    "routed",
    "quarantined",
    "retry",
    "paused",
    "resumed",
    "summary",
    "left",
    "stopped",
    "claim_failed",
    "recover_failed",
    # triggers (listen, poll)
    "listening",
    "webhook_added",
    "webhook_reused",
    "webhook_left",
    "polled",
    "poll_failed",
    "caught_up",
    "catch_up_limited",
    "trigger_failed",
}


def resume(job: Job, state: JournalState, flow: Flow, runtime: Runtime, who: str) -> tuple[Job, StepError | None]:
    """A job taken up again: its finished steps, and the error of a step left in flight that may not run
    again. A create whose step declares a natural key is marked in doubt instead: the flow then looks
    for the record before creating it."""
    for step_id, record in state.finished.items():
        job = job.with_step(step_id, record)
    if state.in_flight is not None:
        step = {s.id: s for s in flow.steps}.get(state.in_flight["step"])
        if step is not None and step.natural_key:
            return job.with_step(step.id, in_doubt(state.in_flight["action"])), None
    return job, unsure_step(state, runtime, who)


def unsure_step(state: JournalState, runtime: Runtime, who: str) -> StepError | None:
    """The `outcome_unknown` error of a step left in flight that may not run again (a create); None
    when nothing was in flight or repeating it is safe (reads, updates and deletes by id)."""
    if state.in_flight is None:
        return None
    step, name = state.in_flight["step"], state.in_flight["action"]
    action = runtime.bundle.actions.get(name)
    if action is not None and action.method and may_repeat(action.method):
        return None
    return StepError(
        "outcome_unknown",
        f"{who} stopped while step '{step}' ({name}) was running; Pipedrive may or may not have "
        "applied it, so it was not repeated. Check for the record, then re-submit the job if it is missing.",
        details={
            "step": step,
            "action": name,
            "started_at": state.in_flight["at"],
            "finished_steps": sorted(state.finished),
        },
    )


class JsonLines(logging.Formatter):
    """Each record as one JSON object: time, event, message and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "event": getattr(record, "event", "message"),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(entry, ensure_ascii=False, default=str)


@dataclass
class WatchSettings:
    """How the runner waits, retries and writes; the command line sets these (see `watch --help`)."""

    workers: int = 4
    settle: float = 1.0  # a file (or attachment) must be unchanged this long before it is taken
    settle_timeout: float = 300.0  # with --once: stop waiting for a file that keeps changing
    attachment_wait: float = 60.0  # a job waits this long for attachments that are missing or changing
    retry_for: float = 3600.0  # how long a job may be held for failures that pass
    backoff: tuple[float, float] = (5.0, 300.0)  # first and longest wait between holds
    probe_every: tuple[float, float] = (2.0, 60.0)  # connection checks while paused
    summary_every: float = 60.0
    recover_every: float = 30.0  # take over claims of runners that died
    file_mode: int = 0o644
    max_job_bytes: int = MAX_JOB_BYTES
    max_attachment_bytes: int = 100 * 1024 * 1024
    allow_files_from: list[Path] = field(default_factory=list)
    poll: float = 0.2


@dataclass
class RunStats:
    success: int = 0
    error: int = 0
    calls: int = 0
    cost: int = 0
    recovered: int = 0
    outcome_unknown: int = 0
    quarantined: int = 0
    held: int = 0
    left_changing: int = 0
    queued: int = 0  # `watch --queue`: sent to the queue
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, route: str, outcome: Outcome | None = None) -> None:
        with self.lock:
            setattr(self, route, getattr(self, route) + 1)
            if outcome is not None:
                if outcome.error is not None and outcome.error.kind == "outcome_unknown":
                    self.outcome_unknown += 1

    def count(self, outcome: Outcome) -> None:
        with self.lock:
            self.calls += outcome.calls
            self.cost += outcome.cost

    def bump(self, name: str, by: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + by)

    def summary(self) -> dict:
        return {
            "success": self.success,
            "error": self.error,
            "api_calls": self.calls,
            "token_cost": self.cost,
            "recovered_after_crash": self.recovered,
            "outcome_unknown": self.outcome_unknown,
            "quarantined": self.quarantined,
            "held_for_retry": self.held,
            "left_in_inbox_still_changing": self.left_changing,
            **({"queued": self.queued} if self.queued else {}),
        }


@dataclass(order=True)
class _Held:
    due: float
    seq: int
    claim: Claim = field(compare=False)
    job: Job = field(compare=False)


class _Observed:
    """The journal as `run_flow` sees it: each step also becomes an event. The last step's
    "done" is not fsynced on its own: the durable delivery that follows covers it."""

    def __init__(self, claim: Claim, flow: Flow):
        self.claim, self.last = claim, flow.steps[-1].id

    def started(self, step) -> None:
        self.claim.journal.started(step)
        emit(
            "step_started",
            f"{self.claim.run}: {step.id} ({step.action})",
            job=self.claim.run,
            step=step.id,
            action=step.action,
        )

    def done(self, step, record) -> None:
        self.claim.journal.done(step, record, sync=step.id != self.last)
        emit("step_finished", f"{self.claim.run}: {step.id} done", job=self.claim.run, step=step.id)


class Stopping(Exception):
    """The runner is stopping while a write waits for the disk: the journal covers the job."""


Forward = Callable[[Job, str, str], None]  # (job, queue job id, source file): hands a job to a queue


class HotFolder:
    def __init__(
        self,
        runtime: Runtime,
        flow: Flow,
        in_dir: Path,
        out_dir: Path,
        workers: int | None = None,
        settings: WatchSettings | None = None,
        reconnect: Callable[[], Connection] | None = None,
        forward: Forward | None = None,
    ):
        self.runtime, self.flow = runtime, flow
        self.forward = forward  # `--queue` (watch, listen, poll): each job goes to the workers' queue
        self.settings = settings or WatchSettings()
        if workers is not None:
            self.settings.workers = workers
        self.workers = max(1, self.settings.workers)
        self.reconnect = reconnect
        self.store = FolderStore(Path(in_dir), Path(out_dir), self.settings.file_mode, guard=self._durably)
        self.in_dir, self.out_dir = self.store.in_dir, self.store.out_dir
        self.roots = FileRoots([self.in_dir, *self.settings.allow_files_from], self.settings.max_attachment_bytes)
        runtime.file_roots = self.roots
        self.stop = threading.Event()
        self.stats = RunStats()
        self._held: list[_Held] = []
        self._held_lock = threading.Lock()
        self._seq = itertools.count()
        self._pauses: dict[str, str] = {}  # cause -> message; claiming stops while any is set
        self._pause_lock = threading.Lock()
        self._probe_due, self._probe_wait = 0.0, self.settings.probe_every[0]
        self._paused_since: float | None = None
        self._taking: set[str] = set()  # inbox names handed to a worker that has not claimed them yet
        self._taking_lock = threading.Lock()

    # ---- pausing ----------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return bool(self._pauses)

    def _pause(self, cause: str, message: str) -> None:
        with self._pause_lock:
            fresh = cause not in self._pauses
            self._pauses[cause] = message
            if self._paused_since is None:
                self._paused_since = time.monotonic()
        if fresh:
            emit("paused", f"paused: {message}", logging.WARNING, cause=cause)

    def _resume(self, cause: str) -> None:
        with self._pause_lock:
            message = self._pauses.pop(cause, None)
            if not self._pauses:
                self._paused_since = None
        if message is not None:
            emit("resumed", f"resumed: {cause} works again", cause=cause)

    def _durably(self, what: str, write: Callable[[], Any]) -> Any:
        """Run a write; on a full disk or a read-only folder, pause and retry it until it works.

        The write is retried, never the step before it, so a finished create is not repeated."""
        wait = 0.5
        while True:
            try:
                result = write()
            except OSError as exc:
                if not is_disk_error(exc):
                    raise
                self._pause(
                    "disk",
                    f"cannot write {what}: {exc.strerror}; free space or fix permissions "
                    "and the runner goes on by itself",
                )
                if self.stop.wait(wait):
                    raise Stopping(what) from None
                wait = min(wait * 2, 30.0)
                continue
            if "disk" in self._pauses:
                self._resume("disk")
            return result

    def _write(self, path: Path, data: bytes) -> None:
        self._durably(f"log {path}", lambda: write_atomic(path, data, self.settings.file_mode))

    def _probe(self) -> bool:
        """Ask Pipedrive who we are: True when the connection works (a paused runner resumes)."""
        if self.reconnect is not None:
            try:
                fresh = self.reconnect()
            except (OSError, ValueError) as exc:
                self._pause("connection", f"cannot read the connection settings: {exc}")
                return False
            if fresh is not None and fresh != self.runtime.connection:
                self.runtime.reconnect(fresh)
        try:
            self.runtime.client.send("GET", "v1", "/users/me", cost=2, retry=RetrySettings.none())
        except StepError as exc:
            if exc.kind == "rate_limited":
                return True  # busy, not broken: the jobs' own retries and holds deal with it
            cause = "connection" if exc.kind in PAUSE_KINDS else "service"
            self._pause(cause, f"{exc.message} Checking again in {self._probe_wait:.0f} s.")
            for other in {"connection", "service"} - {cause}:
                self._resume(other)
            return False
        self._resume("connection")
        self._resume("service")
        self._probe_wait = self.settings.probe_every[0]
        return True

    def _probe_if_due(self) -> None:
        if not ({"connection", "service"} & set(self._pauses)) or time.monotonic() < self._probe_due:
            return
        if not self._probe():
            self._probe_due = time.monotonic() + self._probe_wait
            self._probe_wait = min(self._probe_wait * 2, self.settings.probe_every[1])

    # ---- one job ----------------------------------------------------------------------------
    def _open(self, claim: Claim) -> Job | None:
        """The claimed job, ready to run from where its journal says; None when it is already routed."""
        if claim.recovered and self.store.delivered(claim):  # a fresh run's name has no outputs yet
            self.store.release(claim)
            return None
        refused: AttachmentError | None = None
        try:
            raw = parse_job_bytes(read_regular_file(claim.path, self.settings.max_job_bytes))
            self._wait_for_attachments(raw)
            try:
                job = Job.from_dict(raw, base=self.in_dir, roots=self.roots)
            except AttachmentError as exc:  # a valid job naming a file it may not use: routed, naming the file
                refused = exc
                job = Job.from_dict({k: v for k, v in raw.items() if k != "files"})
        except JobFileError as exc:
            self.store.quarantine(claim, str(exc))
            self.stats.add("error")
            self.stats.bump("quarantined")
            emit(
                "quarantined",
                f"  {claim.run:<16} error    not a valid job ({exc}); the file is in error/ as it came",
                logging.WARNING,
                job=claim.run,
                source=claim.source,
                reason=str(exc),
            )
            self.store.release(claim)
            return None
        if not raw.get("id"):
            job.id = Path(claim.source).stem  # a dropped-in job is known by its file name
        job.run_name = claim.run
        if refused is not None:
            self._finish(claim, Outcome("error", job, error=StepError("input", str(refused)), failed_step="files"), [])
            return None
        job, unsure = resume(job, claim.journal.read(), self.flow, self.runtime, "The runner")
        if unsure is not None:
            self._finish(claim, Outcome("error", job, error=unsure, failed_step=unsure.details["step"]), job.files)
            return None
        return job

    def _wait_for_attachments(self, raw: Any) -> None:
        """Attachments named by the job must exist and be unchanged for `settle` seconds (bounded)."""
        settle = self.settings.settle
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, list):
            files = []  # a job of the wrong shape is refused when it is loaded, right after this
        paths = [self.in_dir / f["path"] for f in files if isinstance(f, dict) and isinstance(f.get("path"), str)]
        if settle <= 0 or not paths:
            return
        deadline = time.monotonic() + max(self.settings.attachment_wait, settle)
        last: dict[Path, tuple | None] = {}
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and not self.stop.is_set():
            now = time.monotonic()
            current: dict[Path, tuple | None] = {}
            for path in paths:
                try:
                    info = path.stat()
                    current[path] = (info.st_size, info.st_mtime_ns)
                except OSError:
                    current[path] = None
            if current != last:
                last, quiet_since = current, now
            elif None not in current.values() and now - quiet_since >= settle:
                return
            self.stop.wait(min(settle / 4, 0.25))

    def _take(self, path: Path) -> None:
        """Claim a waiting file and run it (in a worker, so claims of several files overlap)."""
        try:
            claim = None if self.stop.is_set() or self.paused else self.store.claim(path)
        except (OSError, Stopping) as exc:
            emit("claim_failed", f"could not claim {path.name}: {exc}", logging.ERROR)
            if is_disk_error(exc):
                self.stop.wait(5.0)  # the inbox's disk is full or read-only: try again later, not in a loop
            return
        finally:
            with self._taking_lock:
                self._taking.discard(path.name)
        if claim is not None:
            emit("claimed", f"claimed {claim.source} as {claim.run}", job=claim.run, source=claim.source)
            self._work(claim)

    def _work(self, claim: Claim, job: Job | None = None) -> None:
        try:
            if job is None:
                if claim.recovered:
                    self.stats.bump("recovered")
                job = self._open(claim)
                if job is None:
                    return
            if self.forward is not None:
                return self._forward(claim, job)
            outcome = run_flow(self.runtime, self.flow, job, _Observed(claim, self.flow))
            self.stats.count(outcome)
            self._route(claim, job, outcome)
        except Stopping:
            self.store.let_go(claim)
        except Exception as exc:  # a fault of ours: the claim stays for the next start, no traceback
            emit(
                "left",
                f"job {claim.run} left for recovery at the next start: {type(exc).__name__}: {exc}",
                logging.ERROR,
                job=claim.run,
            )
            self.store.let_go(claim)

    def _forward(self, claim: Claim, job: Job) -> None:
        """Send the job to the queue. Its id is journalled first: after a crash the same id is sent
        again, and the workers run a job id once."""
        job_id = claim.journal.read().forwarded
        if job_id is None:
            job_id = f"{claim.run}-{uuid.uuid4().hex[:10]}"
            claim.journal.append({"event": "forwarding", "id": job_id})
        assert self.forward is not None
        self.forward(job, job_id, claim.source)
        self.stats.bump("queued")
        self.store.release(claim)
        emit("routed", f"  {claim.run:<16} queued   as {job_id}", job=claim.run, source=claim.source, queue_job=job_id)

    def _route(self, claim: Claim, job: Job, outcome: Outcome) -> None:
        error = outcome.error
        if error is not None and (error.kind in PAUSE_KINDS or (error.kind in HOLD_KINDS and error.retryable)):
            if error.kind not in PAUSE_KINDS or not self._probe():
                if self._hold(claim, outcome):
                    return
        self._finish(claim, outcome, outcome.job.files)

    def _hold(self, claim: Claim, outcome: Outcome) -> bool:
        """Keep the job for a later attempt; False once it has been held for `retry_for` seconds."""
        error, step = outcome.error, outcome.failed_step
        assert error is not None, "only an outcome with an error is held"
        state = claim.journal.read()
        attempts, since = state.attempts + 1, state.held_since or time.time()
        paused = error.kind in PAUSE_KINDS
        if not paused and time.time() - since >= self.settings.retry_for:
            return False
        first, longest = self.settings.backoff
        delay = min(longest, first * 2 ** (attempts - 1))
        claim.journal.failed(step, error.to_dict())
        claim.journal.held(attempts, since, error.message)
        with self._held_lock:
            heapq.heappush(self._held, _Held(time.monotonic() + delay, next(self._seq), claim, outcome.job))
        self.stats.bump("held")
        emit(
            "retry",
            f"  {claim.run:<16} held     {error.kind}: {error.message} (attempt {attempts}; next in {delay:.0f} s)",
            job=claim.run,
            step=step,
            kind=error.kind,
            attempt=attempts,
            next_in=delay,
        )
        return True

    def _finish(self, claim: Claim, outcome: Outcome, attachments: list[Attachment]) -> None:
        originals = [Path(a.path) for a in attachments]
        payload: dict[str, Any] = outcome.job.to_dict()
        payload.pop("files")
        if outcome.error is not None:
            payload["error"] = {**outcome.error.to_dict(), "step": outcome.failed_step}
        payload["log"] = write_debug_records(outcome, self.out_dir, self._write)
        removable = self.store.removable(claim, originals)
        target = self.store.deliver(claim, outcome.route, payload, attachments)
        self.stats.add(outcome.route, outcome)
        for path in removable:
            path.unlink(missing_ok=True)
        self.store.release(claim)
        detail = (
            f"{outcome.error.kind} at step '{outcome.failed_step}': {outcome.error.message}"
            if outcome.error
            else f"{len(outcome.job.steps)} step(s)"
        )
        emit(
            "routed",
            f"  {claim.run:<16} {outcome.route:<8} {detail}",
            job=claim.run,
            source=claim.source,
            route=outcome.route,
            output=str(target),
            api_calls=outcome.calls,
            token_cost=outcome.cost,
            error=payload.get("error"),
        )

    # ---- the loop -------------------------------------------------------------------------------
    def recover(self) -> list[Claim]:
        """Claims of runners that are gone (their lock is free), for this runner to finish."""
        try:
            return list(self.store.recover())
        except OSError as exc:
            emit("recover_failed", f"could not look for unfinished jobs: {exc}", logging.ERROR)
            return []

    def _due_held(self) -> list[_Held]:
        now, due = time.monotonic(), []
        with self._held_lock:
            while self._held and self._held[0].due <= now:
                due.append(heapq.heappop(self._held))
        return due

    def run(self, once: bool = False, poll: float | None = None) -> RunStats:
        poll = self.settings.poll if poll is None else poll
        if self.forward is None:  # feeding a queue needs no Pipedrive connection: the workers have theirs
            self._probe()
        started = last_recover = last_summary = time.monotonic()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="job") as pool:
            running: set[Future] = set()

            def submit(claim: Claim, job: Job | None = None) -> None:
                running.add(pool.submit(self._work, claim, job))

            for claim in self.recover():
                submit(claim)
            while not self.stop.is_set():
                self._probe_if_due()
                changing: list[Path] = []
                backlog = False  # ready files left for the next round
                running = {f for f in running if not f.done()}
                if not self.paused:
                    for held in self._due_held():
                        submit(held.claim, held.job)
                    capacity = self.workers * 2 - len(running)
                    if capacity > 0:
                        ready, changing, backlog = self.store.ready(self.settings.settle, time.monotonic(), capacity)
                        with self._taking_lock:
                            ready = [p for p in ready if p.name not in self._taking]  # listed again meanwhile
                            self._taking.update(p.name for p in ready)
                        for path in ready:
                            running.add(pool.submit(self._take, path))
                    else:
                        backlog = True
                running = {f for f in running if not f.done()}
                now = time.monotonic()
                if now - last_recover >= self.settings.recover_every and not self.paused:
                    last_recover = now
                    for claim in self.recover():
                        submit(claim)
                if now - last_summary >= self.settings.summary_every:
                    last_summary = now
                    self._summary()
                if once and not backlog and self._finished(running, changing, now - started):
                    break
                if backlog and running:
                    wait(running, timeout=poll, return_when=FIRST_COMPLETED)  # claim again as soon as one ends
                else:
                    self.stop.wait(poll)
            for future in running:
                future.result()
        with self._held_lock:
            if self._held:
                emit(
                    "left",
                    f"{len(self._held)} held job(s) stay claimed; the next start takes them over",
                    logging.WARNING,
                )
            for held in self._held:
                self.store.let_go(held.claim)
            self._held.clear()
        return self.stats

    def _finished(self, running: set, changing: list[Path], elapsed: float) -> bool:
        """For --once: nothing ready, running or held; files still changing are waited for (bounded)."""
        if (
            self.paused
            and self._paused_since is not None
            and time.monotonic() - self._paused_since > self.settings.retry_for
        ):
            emit(
                "stopped",
                f"stopped: still paused after {self.settings.retry_for:.0f} s "
                f"({'; '.join(self._pauses.values())}); unclaimed jobs stay in the inbox",
                logging.ERROR,
            )
            return True
        if running or self._held or self.paused:
            return False
        if changing and elapsed < self.settings.settle_timeout:
            return False
        if changing:
            self.stats.left_changing = len(changing)
            emit(
                "left",
                f"{len(changing)} file(s) still changing after {self.settings.settle_timeout:.0f} s "
                "were left in the inbox",
                logging.WARNING,
            )
        return True

    def _summary(self) -> None:
        s = self.stats
        with self._held_lock:
            held = len(self._held)
        state = f"; paused: {'; '.join(self._pauses.values())}" if self._pauses else ""
        emit(
            "summary",
            f"so far: {s.success} success, {s.error} error, {s.quarantined} quarantined, {held} held; "
            f"{s.calls} API calls, {s.cost} tokens{state}",
            success=s.success,
            error=s.error,
            quarantined=s.quarantined,
            held=held,
            api_calls=s.calls,
            token_cost=s.cost,
            paused=bool(self._pauses),
        )

    def install_signal_handlers(self) -> None:
        def on_signal(signum, frame):
            if self.stop.is_set():
                os._exit(130)  # second signal: leave now; the journal covers in-flight jobs
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


def configure_logging(log_json: str | None, quiet: bool = False) -> None:
    """Routed jobs and pauses as lines on stderr; every event (the client's retries and 429 waits
    included) as JSON Lines in `log_json`."""
    root = logging.getLogger("pipedrive_connect")
    root.setLevel(logging.INFO)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(lambda r: getattr(r, "event", "") in CONSOLE_EVENTS)
        root.addHandler(console)
    if log_json:
        handler = logging.FileHandler(log_json, encoding="utf-8")
        handler.setFormatter(JsonLines())
        root.addHandler(handler)
