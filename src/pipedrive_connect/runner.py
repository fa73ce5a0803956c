"""The hot-folder runner: jobs dropped in a folder come out in success/, error/ and log/.

Delivery guarantees, and how they are kept:
- A job file is claimed by an atomic rename into `<in>/.processing/`, so one runner (or one
  of several) owns it.
- Before each step a line is appended (and fsynced) to the job's journal; after it, the step's
  result. A restarted runner resumes claimed jobs from their journal: finished steps are not
  run again; a step that was in flight is re-run only if repeating it is safe (reads, and
  updates/deletes by id). An in-flight *create* is never repeated: the job goes to `error`
  as `outcome_unknown` with the journal's evidence.
- Outputs are written atomically (temporary file + rename): no reader sees half a job, and
  the input is removed only after its output exists.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .engine import Runtime
from .errors import StepError
from .flows import Flow, FlowOutcome, deliver, run_flow
from .jobs import Job

SAFE_TO_REPEAT = {"GET", "PUT", "PATCH", "DELETE"}
SETTLE_SECONDS = 1.0  # a file younger than this may still be being written by its producer


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Journal:
    """Append-only, fsynced record of one job's steps."""

    def __init__(self, path: Path):
        self.path = path

    def _append(self, entry: dict) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def started(self, step) -> None:
        self._append({"event": "started", "step": step.id, "action": step.action, "at": _now()})

    def done(self, step, record) -> None:
        self._append({"event": "done", "step": step.id, "record": record, "at": _now()})

    def read(self) -> tuple[dict[str, dict], dict | None]:
        """Finished steps (id -> record) and the step that was in flight, if any."""
        finished: dict[str, dict] = {}
        in_flight = None
        if not self.path.exists():
            return finished, None
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line: the step it described did not finish
            if entry["event"] == "started":
                in_flight = entry
            elif entry["event"] == "done":
                finished[entry["step"]] = entry["record"]
                in_flight = None
        return finished, in_flight


@dataclass
class RunStats:
    success: int = 0
    error: int = 0
    calls: int = 0
    cost: int = 0
    recovered: int = 0
    outcome_unknown: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: FlowOutcome) -> None:
        with self.lock:
            setattr(self, outcome.route, getattr(self, outcome.route) + 1)
            self.calls += outcome.calls
            self.cost += outcome.cost
            if outcome.error is not None and outcome.error.kind == "outcome_unknown":
                self.outcome_unknown += 1

    def summary(self) -> dict:
        return {"success": self.success, "error": self.error, "api_calls": self.calls, "token_cost": self.cost,
                "recovered_after_crash": self.recovered, "outcome_unknown": self.outcome_unknown}


class HotFolder:
    def __init__(self, runtime: Runtime, flow: Flow, in_dir: Path, out_dir: Path, workers: int = 1):
        self.runtime, self.flow, self.workers = runtime, flow, max(1, workers)
        self.in_dir, self.out_dir = Path(in_dir).resolve(), Path(out_dir).resolve()
        self.processing = self.in_dir / ".processing"
        self.stop = threading.Event()
        self.stats = RunStats()
        for folder in (self.processing, self.out_dir / "success", self.out_dir / "error", self.out_dir / "log"):
            folder.mkdir(parents=True, exist_ok=True)

    # ---- claiming ---------------------------------------------------------------------------
    def pending(self, settle: bool) -> list[Path]:
        now = time.time()
        files = []
        for path in sorted(self.in_dir.glob("*.json")):
            try:
                if settle and now - path.stat().st_mtime < SETTLE_SECONDS:
                    continue
            except FileNotFoundError:
                continue
            files.append(path)
        return files

    def claim(self, path: Path) -> Path | None:
        target = self.processing / path.name
        try:
            os.rename(path, target)  # atomic: exactly one claimer wins
        except FileNotFoundError:
            return None
        return target

    # ---- one job ------------------------------------------------------------------------------
    def process(self, claimed: Path, recovering: bool = False) -> None:
        name = claimed.stem
        journal = Journal(claimed.with_suffix(".journal"))
        if self._already_delivered(name):
            self._cleanup(claimed)
            return
        try:
            job = Job.load(claimed)
            job.files = [self._resolve_attachment(f) for f in job.files]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            outcome = FlowOutcome("error", Job(id=name), StepError("input", f"The job file is not a valid job: {exc}"))
            self._finish(claimed, name, outcome)
            return
        finished, in_flight = journal.read()
        if recovering:
            self.stats.recovered += 1
        if finished:
            for step_id, record in finished.items():
                job = job.with_step(step_id, record)
        if in_flight is not None:
            action = self.runtime.bundle.actions.get(in_flight["action"])
            if action is None or action.method not in SAFE_TO_REPEAT:
                error = StepError(
                    "outcome_unknown",
                    f"The runner stopped while step '{in_flight['step']}' ({in_flight['action']}) was running; "
                    "Pipedrive may or may not have applied it, so it was not repeated. Check for the record, "
                    "then re-submit the job if it is missing.",
                    details={"step": in_flight["step"], "action": in_flight["action"],
                             "started_at": in_flight["at"], "finished_steps": sorted(finished)})
                self._finish(claimed, name, FlowOutcome("error", job, error, in_flight["step"]))
                return
        outcome = run_flow(self.runtime, self.flow, job, journal)
        self._finish(claimed, name, outcome)

    def _process_logged(self, claimed: Path) -> None:
        try:
            self.process(claimed)
        except Exception as exc:  # e.g. a full disk: the job stays claimed and is recovered next start
            sys.stderr.write(f"job {claimed.name} left for recovery: {type(exc).__name__}: {exc}\n")

    def _resolve_attachment(self, attachment):
        path = Path(attachment.path)
        if path.parent == self.processing:  # relative to the job file: it lives beside the job in in/
            path = self.in_dir / path.name
        attachment.path = str(path)
        return attachment

    def _already_delivered(self, name: str) -> bool:
        return any((self.out_dir / route / f"{name}.json").exists() for route in ("success", "error"))

    def _finish(self, claimed: Path, name: str, outcome: FlowOutcome) -> None:
        route_dir = self.out_dir / outcome.route
        attachments = outcome.job.files
        if attachments:  # the job travels with its files
            files_dir = route_dir / f"{name}.files"
            files_dir.mkdir(parents=True, exist_ok=True)
            for attachment in attachments:
                source = Path(attachment.path)
                target = files_dir / source.name
                if source.exists() and not target.exists():
                    tmp = files_dir / f".{source.name}.part"
                    shutil.copyfile(source, tmp)
                    os.replace(tmp, target)
                attachment.path = str(target)
        deliver(outcome, self.out_dir, name)
        self.stats.add(outcome)
        for attachment in attachments:
            original = self.in_dir / Path(attachment.path).name
            original.unlink(missing_ok=True)
        self._cleanup(claimed)

    def _cleanup(self, claimed: Path) -> None:
        claimed.with_suffix(".journal").unlink(missing_ok=True)
        claimed.unlink(missing_ok=True)

    # ---- the loop -------------------------------------------------------------------------------
    def recover(self) -> None:
        """Finish jobs a previous run had claimed but not delivered."""
        for claimed in sorted(self.processing.glob("*.json")):
            self.process(claimed, recovering=True)

    def run(self, once: bool = False, poll: float = 0.5) -> RunStats:
        self.recover()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="job") as pool:
            running: set = set()
            while not self.stop.is_set():
                for path in self.pending(settle=not once):
                    if self.stop.is_set():
                        break
                    while len(running) >= self.workers * 2:
                        done, running = wait(running, return_when=FIRST_COMPLETED)
                    claimed = self.claim(path)
                    if claimed is not None:
                        running.add(pool.submit(self._process_logged, claimed))
                if once:
                    break
                self.stop.wait(poll)
            wait(running)  # in-flight jobs finish; unclaimed ones stay in the folder
        return self.stats

    def install_signal_handlers(self) -> None:
        def on_signal(signum, frame):
            if self.stop.is_set():
                os._exit(130)  # second signal: leave now; the journal covers in-flight jobs
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
