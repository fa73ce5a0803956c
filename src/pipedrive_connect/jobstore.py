"""The folder job store: how a hot folder claims, journals, delivers and recovers jobs.

The runner only calls this interface (claim, journal, deliver, quarantine, release, recover),
so a queue-backed store can replace the folder without touching the runner. On disk
(IN is the inbox, OUT the output folder):

    IN/<name>.json                  a job waiting; only top-level *.json, dot-files are ignored
    IN/.processing/<run>.lock       exists before the claim, locked (flock) by its owner; names the source
    IN/.processing/<run>.json       the claimed file, renamed from the inbox: one claimer wins
    IN/.processing/<run>.journal    JSON Lines: started, done, failed, held
    OUT/success|error/<run>.json    the routed job; its attachments in <run>.files/
    OUT/error/<run>.json            a file that is not a valid job, byte for byte, and beside it
    OUT/error/<run>.reason.json     why
    OUT/log/<run>/                  downloads and debug records of that run

`<run>` is the dropped file's name, numbered (`order-7-2`) when an earlier run of that name
is in flight or has outputs, so a re-dropped file never overwrites or shares anything.

Ownership is a lock held by a live process, not a guess: the lock file is created already
locked (a locked temporary file hard-linked into place), and the kernel releases the lock
when its process dies. Recovery takes over exactly the claims whose lock it can take, so
several runners, on one machine or several sharing the folder (a file system with working
POSIX locks: local, NFSv4, SMB), cooperate on one inbox.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import itertools
import json
import os
import shutil
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .files import safe_filename
from .jobs import MAX_JOB_BYTES, fsync_dir, parse_job_bytes, read_regular_file, write_atomic

ROUTES = ("success", "error")
CLAIMING = ".claiming-"  # a file taken from the inbox whose run is not named yet
MAX_RUN_NAME = 100  # bytes: leaves room for -N, .journal, .reason.json, .files under the 255-byte limit

# A write that may work again once an operator frees space or fixes permissions.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def run_base(stem: str) -> str:
    """A file name's stem as a run name: safe on any file system and short enough to extend."""
    name = safe_filename(stem, "job")
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_RUN_NAME:
        name = (
            encoded[: MAX_RUN_NAME - 9].decode("utf-8", "ignore") + "~" + uuid.uuid5(uuid.NAMESPACE_URL, stem).hex[:8]
        )
    return name


Guard = Callable[[str, Callable[[], Any]], Any]


def _unguarded(what: str, write: Callable[[], Any]) -> Any:
    return write()


@dataclass
class JournalState:
    finished: dict[str, dict] = field(default_factory=dict)
    in_flight: dict | None = None
    attempts: int = 0
    held_since: float | None = None
    forwarded: str | None = None  # `watch --queue`: the queue job this file was sent as


class Journal:
    """Append-only record of one run's steps; each entry fsynced before the runner goes on."""

    def __init__(self, path: Path, guard: Guard = _unguarded):
        self.path, self.guard = path, guard
        self._file: Any = None  # kept open while the run lasts: one open per run, not per entry
        self._whole_lines = False  # until checked, the file may end in a line torn by a crash
        self._folder_synced = False

    def append(self, entry: dict, sync: bool = True) -> None:
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()
        self.guard(f"journal {self.path.name}", lambda: self._write(line, sync))

    def _write(self, line: bytes, sync: bool) -> None:
        try:
            if self._file is None:
                self._file = self.path.open("ab")
            fh = self._file
            if not self._whole_lines and fh.tell() and not self._ends_with_newline():
                fh.write(b"\n")  # a torn last line stays alone: it never spoils this entry
            fh.write(line)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
                if not self._folder_synced:  # the claim's rename and this file's name, durable with it
                    fsync_dir(self.path.parent)
                    self._folder_synced = True
        except BaseException:
            self._whole_lines = False  # a failed write may have left part of a line
            self.close()
            raise
        self._whole_lines = True

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass  # a write that failed to flush: the next attempt reopens and re-checks
            self._file = None

    def started(self, step) -> None:
        self.append({"event": "started", "step": step.id, "action": step.action, "at": now_iso()})

    def done(self, step, record, sync: bool = True) -> None:
        self.append({"event": "done", "step": step.id, "record": record, "at": now_iso()}, sync=sync)

    def failed(self, step_id: str | None, error: dict) -> None:
        """The step ended without effect (a retryable failure): it is no longer in flight."""
        self.append({"event": "failed", "step": step_id, "error": error, "at": now_iso()})

    def held(self, attempt: int, since: float, reason: str) -> None:
        self.append({"event": "held", "attempt": attempt, "since": since, "reason": reason, "at": now_iso()})

    def read(self) -> JournalState:
        try:
            text = self.path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return JournalState()
        return replay(text.splitlines())


def replay(lines: Iterable[str]) -> JournalState:
    """What a journal's entries say: finished steps, the step in flight, holds (the queue's journal too)."""
    state = JournalState()
    for line in lines:
        try:
            entry = json.loads(line)
            event = entry["event"]
        except (ValueError, KeyError, TypeError):
            continue  # a torn line: what it described did not finish; later lines still count
        if event == "started":
            state.in_flight = entry
        elif event == "done":
            state.finished[entry["step"]] = entry["record"]
            state.in_flight = None
        elif event == "failed":
            state.in_flight = None
        elif event == "held":
            state.attempts = entry.get("attempt", state.attempts)
            state.held_since = entry.get("since", state.held_since)
        elif event == "forwarding":
            state.forwarded = entry.get("id")
    return state


@dataclass
class Claim:
    """One run of one job file, owned by this process while `lock` is open."""

    run: str
    source: str
    path: Path
    journal: Journal
    lock: int
    recovered: bool = False


class FolderStore:
    def __init__(self, in_dir: Path, out_dir: Path, file_mode: int = 0o644, guard: Guard = _unguarded):
        self.in_dir, self.out_dir = Path(in_dir).resolve(), Path(out_dir).resolve()
        self.processing = self.in_dir / ".processing"
        self.file_mode, self.guard = file_mode, guard
        for folder in (self.processing, *(self.out_dir / r for r in (*ROUTES, "log"))):
            folder.mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, tuple[tuple, float]] = {}
        self._listing: list[os.DirEntry] = []
        self._listed_at = 0.0
        self._refs: dict[tuple, frozenset[Path]] = {}
        self._refs_lock = threading.Lock()

    # ---- waiting files --------------------------------------------------------------------
    def waiting(self) -> list[os.DirEntry]:
        """Top-level `*.json` entries of the inbox, oldest name first (dot-files are in the making)."""
        try:
            with os.scandir(self.in_dir) as listing:
                entries = [e for e in listing if e.name.endswith((".json", ".JSON")) and e.name[0] != "."]
        except OSError:
            return []
        entries.sort(key=lambda e: e.name)
        return entries

    def ready(self, settle: float, now: float, limit: int) -> tuple[list[Path], list[Path], bool]:
        """Up to `limit` entries whose size and times have not changed for `settle` seconds (they
        leave the candidates: the caller takes them), the ones seen still changing (a producer may
        still be writing them), and whether candidates are left that were not looked at.

        The folder is listed again only when the last listing is used up or `settle` has passed,
        so a deep backlog is not listed once per job."""
        if not self._listing or now - self._listed_at >= max(settle, 0.5):
            self._listing, self._listed_at = self.waiting(), now
        ready: list[Path] = []
        changing: list[Path] = []
        keep: list[os.DirEntry] = []
        for i, entry in enumerate(self._listing):
            if len(ready) >= limit:
                keep.extend(self._listing[i:])
                break
            if settle <= 0:
                ready.append(Path(entry.path))
                continue
            try:
                info = os.lstat(entry.path)  # not the cached DirEntry stat: the file may be growing
            except OSError:
                continue  # gone: claimed by another runner, or removed
            signature = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
            seen = self._seen.get(entry.name)
            if seen is None or seen[0] != signature:
                self._seen[entry.name] = seen = (signature, now)
            untouched_for = time.time() - max(info.st_mtime, info.st_ctime)
            if max(now - seen[1], untouched_for) >= settle:
                ready.append(Path(entry.path))
            else:
                changing.append(Path(entry.path))
                keep.append(entry)
        more = len(keep) > len(changing)
        self._listing = keep
        if len(self._seen) > 2 * len(keep) + 100:  # forget files that are gone
            names = {e.name for e in keep}
            self._seen = {k: v for k, v in self._seen.items() if k in names}
        return ready, changing, more

    # ---- locks and claims -----------------------------------------------------------------
    def _lock_path(self, run: str) -> Path:
        return self.processing / f"{run}.lock"

    def _new_lock(self, run: str, source: str = "") -> int | None:
        """Create `<run>.lock` already locked by us; None when the name is taken."""
        tmp = self.processing / f".{uuid.uuid4().hex}.lock-tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(
                fd,
                json.dumps(
                    {"host": socket.gethostname(), "pid": os.getpid(), "since": now_iso(), "source": source}
                ).encode(),
            )
            os.link(tmp, self._lock_path(run))
        except FileExistsError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        finally:
            tmp.unlink(missing_ok=True)
        return fd

    def _take_over(self, run: str) -> int | None:
        """Lock an existing claim whose owner is gone; None while a live process holds it."""
        path = self._lock_path(run)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return self._new_lock(run)  # a claim from before locks existed, or a lock being removed
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise FileNotFoundError(path)  # removed and recreated meanwhile: not ours to take
        except OSError:
            os.close(fd)
            return None
        return fd

    def _drop_lock(self, run: str, fd: int) -> None:
        self._lock_path(run).unlink(missing_ok=True)  # still locked by us: nobody else can hold it
        os.close(fd)

    def _taken(self, run: str) -> bool:
        out = self.out_dir
        return (
            (self.processing / f"{run}.json").exists()
            or (out / "log" / run).exists()
            or any((out / r / f"{run}.json").exists() or (out / r / f"{run}.files").exists() for r in ROUTES)
            or (out / "error" / f"{run}.reason.json").exists()
        )

    def _reserve(self, stem: str, lock: Path) -> str:
        """A run name nobody uses, taken by hard-linking our (locked) lock file to `<run>.lock`."""
        base = run_base(stem)
        n = 1
        while True:
            run = base if n == 1 else f"{base}-{n}"
            n += 1
            if self._taken(run):
                continue
            try:
                os.link(lock, self._lock_path(run))
            except FileExistsError:
                continue
            return run

    def claim(self, path: Path) -> Claim | None:
        """Take one waiting file; None when another runner took it first.

        Two renames: first to a ticket only the winner holds (so the name of the run is chosen
        by the one runner that owns the file), then to the run's name."""
        ticket = f"{CLAIMING}{uuid.uuid4().hex}"
        fd = self._new_lock(ticket, source=path.name)
        if fd is None:
            return None
        try:
            os.rename(path, self.processing / f"{ticket}.json")  # atomic: exactly one claimer wins
        except FileNotFoundError:
            self._drop_lock(ticket, fd)
            return None
        except BaseException:
            self._drop_lock(ticket, fd)
            raise
        return self._name(ticket, fd, path.name)

    def _name(self, ticket: str, fd: int, source: str, recovered: bool = False) -> Claim:
        """Give a ticket its run name. The run's lock is the ticket's lock file under a second name
        (one inode, one flock), so the claim is owned at every instant."""
        run = self._reserve(Path(source).stem, self._lock_path(ticket))
        target = self.processing / f"{run}.json"
        os.rename(self.processing / f"{ticket}.json", target)
        self._lock_path(ticket).unlink(missing_ok=True)
        # Not synced here: until the first step's journal entry (which syncs this folder) nothing
        # has happened that a power cut could make us repeat.
        return Claim(run, source, target, Journal(self.processing / f"{run}.journal", self.guard), fd, recovered)

    def recover(self) -> Iterator[Claim]:
        """Claims whose owner is gone (their lock is free): this process takes them over."""
        for entry in sorted(os.scandir(self.processing), key=lambda e: e.name):
            name = entry.name
            if name.endswith(".lock-tmp"):
                self._remove_stale_tmp(Path(entry.path))
                continue
            if name.endswith(".lock") and not (self.processing / f"{name[:-5]}.json").exists():
                run = name[:-5]
                fd = self._take_over(run)
                if fd is not None and not (self.processing / f"{run}.json").exists():
                    self._drop_lock(run, fd)  # a claim that never completed, or one being released
                elif fd is not None:
                    os.close(fd)
                continue
            if not name.endswith(".json"):
                continue
            run = name[:-5]
            fd = self._take_over(run)
            if fd is None:
                continue
            if not (self.processing / name).exists() and not (self.processing / name).is_symlink():
                self._drop_lock(run, fd)  # its owner finished it while we looked
                continue
            source = _lock_note(fd).get("source") or name
            if run.startswith(CLAIMING):  # taken from the inbox, not yet named: finish the claim
                yield self._name(run, fd, source, recovered=True)
                continue
            journal = Journal(self.processing / f"{run}.journal", self.guard)
            yield Claim(run, source, self.processing / name, journal, fd, recovered=True)

    def _remove_stale_tmp(self, tmp: Path) -> None:
        try:
            fd = os.open(tmp, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)

    def release(self, claim: Claim) -> None:
        """The run is over: its claim, journal and lock go (in that order: the lock last)."""
        _remove(claim.path)
        claim.journal.close()
        claim.journal.path.unlink(missing_ok=True)
        self._drop_lock(claim.run, claim.lock)

    def let_go(self, claim: Claim) -> None:
        """Keep the claim on disk but stop owning it: a later recovery takes it over."""
        claim.journal.close()
        os.close(claim.lock)

    # ---- outputs --------------------------------------------------------------------------
    def delivered(self, claim: Claim) -> bool:
        """A crash between delivery and clean-up: the run's name is ours, so its output is too."""
        return (
            any((self.out_dir / r / f"{claim.run}.json").exists() for r in ROUTES)
            or (self.out_dir / "error" / f"{claim.run}.reason.json").exists()
        )

    def deliver(self, claim: Claim, route: str, payload: dict[str, Any], attachments: list) -> Path:
        """Write the routed job (its attachments first, in `<run>.files/`), durably, then return its path."""
        route_dir = self.out_dir / route
        target = route_dir / f"{claim.run}.json"
        if attachments:
            files_dir = route_dir / f"{claim.run}.files"
            files_dir.mkdir(exist_ok=True)
            for attachment in attachments:
                source = Path(attachment.path)
                copy = files_dir / safe_filename(source.name, "attachment")
                if source.is_file() and not copy.exists():
                    self.guard(f"attachment {copy}", functools.partial(_copy_file, source, copy, self.file_mode))
                attachment.path = str(copy)
        payload["input"] = {"file": claim.source, "run": claim.run}
        data = json.dumps(
            {**payload, "files": [a.to_dict(route_dir) for a in attachments]}, ensure_ascii=False, default=str
        ).encode()
        self.guard(f"output {target}", lambda: write_atomic(target, data, self.file_mode))
        return target

    def quarantine(self, claim: Claim, reason: str) -> Path:
        """A file that is not a job: its original bytes go to error/ as they came, the reason beside them."""
        target = self.out_dir / "error" / f"{claim.run}.json"
        self.guard(f"quarantine {target}", lambda: os.rename(claim.path, target))
        note = {
            "error": {
                "type": "input",
                "message": f"The file is not a valid job: {reason}",
                "status": None,
                "pipedrive_error": None,
                "retryable": False,
                "input": None,
            },
            "input": {"file": claim.source, "run": claim.run},
            "quarantined": target.name,
        }
        data = json.dumps(note, ensure_ascii=False).encode()
        self.guard(
            f"output {target}", lambda: write_atomic(target.with_name(f"{claim.run}.reason.json"), data, self.file_mode)
        )
        return target

    # ---- attachments left in the inbox ------------------------------------------------------
    def removable(self, claim: Claim, originals: list[Path]) -> list[Path]:
        """The attachments this run may remove from the inbox: inside it, not a job file, and
        named by no other waiting or claimed job (a shared file stays until its last job is done)."""
        candidates = []
        for original in originals:
            path = Path(os.path.realpath(original))
            inside = self.in_dir in path.parents and self.processing not in path.parents
            if inside and not (path.parent == self.in_dir and path.name.lower().endswith(".json")):
                candidates.append(path)
        if not candidates:
            return []
        shared = self._references(exclude=claim.path)
        return [p for p in candidates if p not in shared]

    def _references(self, exclude: Path) -> set[Path]:
        """Real paths of the attachments every other waiting or claimed job names (parsed once per version)."""
        jobs = [Path(e.path) for e in self.waiting()] + [p for p in self.processing.glob("*.json") if p != exclude]
        found: set[Path] = set()
        with self._refs_lock:
            cache, self._refs = self._refs, {}
            for path in jobs:
                try:
                    info = path.lstat()
                except OSError:
                    continue
                key = (str(path), info.st_mtime_ns, info.st_size)
                paths = cache.get(key)
                if paths is None:
                    paths = self._attachment_paths(path) if stat.S_ISREG(info.st_mode) else frozenset()
                self._refs[key] = paths
                found |= paths
        return found

    def _attachment_paths(self, job_file: Path) -> frozenset[Path]:
        try:
            raw = parse_job_bytes(read_regular_file(job_file, MAX_JOB_BYTES))
            files = raw.get("files") or [] if isinstance(raw, dict) else []
            return frozenset(
                Path(os.path.realpath(self.in_dir / f["path"]))
                for f in files
                if isinstance(f, dict) and isinstance(f.get("path"), str)
            )
        except (ValueError, OSError):
            return frozenset()


def _lock_note(fd: int) -> dict:
    """What the claimer wrote in its lock file: host, pid, since and the file's original name."""
    try:
        note = json.loads(os.pread(fd, 4096, 0))
    except ValueError:
        return {}
    return note if isinstance(note, dict) else {}


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def _copy_file(source: Path, target: Path, mode: int) -> None:
    part = target.with_name(f".{target.name}.part")
    try:
        shutil.copyfile(source, part)
        os.chmod(part, mode)
        with part.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def mode_of(text: str) -> int:
    """An octal permission like 644 or 0640, for the route files."""
    try:
        value = int(text, 8)
    except ValueError:
        raise ValueError(f"not an octal file mode: {text!r} (for example 644 or 640)") from None
    if not 0 <= value <= 0o777 or stat.S_IMODE(value) != value:
        raise ValueError(f"not a file mode: {text!r}")
    return value


def requeue(output: Path, in_dir: Path, resume: bool = False) -> Path:
    """Put a routed job back into an inbox as a new job file, its attachments with it.

    Without `resume` it starts over (data, metadata and files only); with it, the steps that
    had succeeded travel too, so they are not run again and the flow goes on at the failed step.
    """
    raw = parse_job_bytes(read_regular_file(output, MAX_JOB_BYTES))
    if isinstance(raw, dict) and "quarantined" in raw:
        raise ValueError(
            f"{output.name} explains why {raw['quarantined']} is not a valid job: fix that file "
            "and move it into the inbox"
        )
    if not isinstance(raw, dict) or not ({"input", "error", "steps"} & set(raw)):
        raise ValueError(
            f"{output.name} is not a routed job (success/ or error/ output); to retry a file that "
            "was not a valid job, fix it and move it into the inbox"
        )
    source = (raw.get("input") or {}).get("file") or output.name
    base = run_base(Path(str(source)).stem)
    in_dir = Path(in_dir)
    for n in itertools.count(1):
        name = base if n == 1 else f"{base}-{n}"
        if not (in_dir / f"{name}.json").exists() and not (in_dir / f"{name}.files").exists():
            break
    job: dict[str, Any] = {k: raw[k] for k in ("id", "data", "metadata") if k in raw}
    if resume and raw.get("steps"):
        job["steps"] = raw["steps"]
    error = raw.get("error") or {}
    if resume and error.get("type") == "outcome_unknown" and error.get("step"):
        # the step runs again; one with a natural key first looks for what it may have created
        action = (error.get("details") or {}).get("action") or ""
        job["steps"] = {**job.get("steps", {}), error["step"]: {"action": action, "outcome_unknown": True}}
    files = []
    for f in raw.get("files") or []:
        source_file = Path(f["path"]) if Path(f["path"]).is_absolute() else output.parent / f["path"]
        if not source_file.is_file():
            raise ValueError(f"attachment {f['path']} of {output.name} is missing")
        copy = in_dir / f"{name}.files" / safe_filename(source_file.name, "attachment")
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(source_file, copy)
        files.append({**f, "path": copy.relative_to(in_dir).as_posix()})
    if files:
        job["files"] = files
    target = in_dir / f"{name}.json"
    write_atomic(target, json.dumps(job, indent=2, ensure_ascii=False).encode())
    return target
