"""Jobs, log by-products and step outcomes, serialisable to disk.

A job is what flows through a flow: JSON `data`, private `metadata`, file
attachments and the results of earlier steps (`steps`). On disk a job is one JSON
file; attachment paths are stored relative to it so a job folder can be moved.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StepError
from .files import FileRoots, safe_filename


@dataclass
class Attachment:
    name: str
    path: str
    content_type: str = "application/octet-stream"

    def to_dict(self, base: Path | None = None) -> dict[str, str]:
        path = self.path
        if base is not None:
            try:
                path = os.path.relpath(self.path, base)
            except ValueError:  # another drive on Windows
                pass
        return {"name": self.name, "path": path, "content_type": self.content_type}


# Keys a routed output adds to a job: a re-dropped output is a valid job, these are not inputs.
OUTPUT_KEYS = {"error", "log", "input"}
JOB_KEYS = {"id", "data", "metadata", "files", "steps"}
MAX_JOB_BYTES = 16 * 1024 * 1024
_BAD_ID = re.compile(r"[/\\\x00-\x1f\x7f]")


class JobFileError(ValueError):
    """A job file that cannot be a job: the reason is for the person who dropped it."""


class AttachmentError(JobFileError):
    """A valid job naming a file it may not use (outside the allowed folders, too large, missing)."""


@dataclass
class Job:
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[Attachment] = field(default_factory=list)
    steps: dict[str, Any] = field(default_factory=dict)
    # 48 random bits, as many as the uuid4 prefix this was: an id names a job, it guards nothing, so
    # the (fork-safe) module generator serves, without a system call per job
    id: str = field(default_factory=lambda: f"{random.getrandbits(48):012x}")
    run_name: str | None = None  # names this run's log folder; unique per hot-folder run, never a path

    @property
    def log_name(self) -> str:
        """The name of this run's folder on the log output."""
        return safe_filename(self.run_name or self.id, "job")

    def template_context(self) -> dict[str, Any]:
        """What templates see: plain data only, never Python objects."""
        return {
            "job": {
                "id": self.id,
                "data": self.data,
                "metadata": self.metadata,
                "files": [f.to_dict() for f in self.files],
            },
            "steps": self.steps,
        }

    def with_step(self, step_id: str, record: dict[str, Any]) -> Job:
        return Job(self.data, self.metadata, list(self.files), {**self.steps, step_id: record}, self.id, self.run_name)

    def to_dict(self, base: Path | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "data": self.data,
            "metadata": self.metadata,
            "files": [f.to_dict(base) for f in self.files],
            "steps": self.steps,
        }

    @classmethod
    def from_dict(cls, raw: Any, base: Path | None = None, roots: FileRoots | None = None) -> Job:
        """A job from its JSON form. With `roots`, every attachment must be a file inside them."""
        if not isinstance(raw, dict):
            raise JobFileError("a job must be a JSON object with data, metadata and files")
        unknown = set(raw) - JOB_KEYS - OUTPUT_KEYS
        if unknown:
            raise JobFileError(
                f"unknown job keys: {', '.join(sorted(unknown))} (a job has {', '.join(sorted(JOB_KEYS))})"
            )
        for key, kind in (("data", dict), ("metadata", dict), ("steps", dict), ("files", list)):
            if raw.get(key) is not None and not isinstance(raw[key], kind):
                raise JobFileError(f"'{key}' must be a JSON {'object' if kind is dict else 'array'}")
        files = []
        for i, f in enumerate(raw.get("files") or []):
            if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not f["path"]:
                raise JobFileError(f"files[{i}] must be an object with a 'path'")
            if roots is not None:
                try:
                    path = roots.check(f["path"], base)
                except StepError as exc:
                    raise AttachmentError(f"files[{i}]: {exc.message}") from None
            else:
                path = Path(f["path"])
                if base is not None and not path.is_absolute():
                    path = base / path
            files.append(
                Attachment(
                    str(f.get("name") or path.name), str(path), str(f.get("content_type") or "application/octet-stream")
                )
            )
        kwargs = {"id": check_job_id(raw["id"])} if raw.get("id") not in (None, "") else {}
        return cls(raw.get("data") or {}, raw.get("metadata") or {}, files, raw.get("steps") or {}, **kwargs)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        roots: FileRoots | None = None,
        base: Path | None = None,
        max_bytes: int = MAX_JOB_BYTES,
    ) -> Job:
        """Read a job file; attachment paths are relative to `base` (default: the file's folder)."""
        path = Path(path)
        raw = parse_job_bytes(read_regular_file(path, max_bytes))
        job = cls.from_dict(raw, base=base or path.parent, roots=roots)
        if not raw.get("id"):
            job.id = path.stem  # a dropped-in job is known by its file name
        return job

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(path.parent), indent=2, ensure_ascii=False).encode())
        return path


def check_job_id(value: Any) -> str:
    """A job id names folders, so it may never be a path."""
    text = str(value)
    if text in (".", "..") or len(text) > 200 or _BAD_ID.search(text):
        raise JobFileError(
            f"job id {text[:40]!r} is not allowed: no '/', '\\', control characters, "
            "'.' or '..', at most 200 characters"
        )
    return text


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file (not a symlink, folder, pipe or device), at most `max_bytes`."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise JobFileError(f"cannot read the job file: {reason}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise JobFileError("a job must be a regular file (this is a folder, pipe or device)")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise JobFileError(f"the job file is larger than {max_bytes} bytes")
    return data


def parse_job_bytes(data: bytes) -> Any:
    """JSON text in UTF-8 (a byte-order mark is accepted), with a reason a person can act on."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobFileError(f"the job file is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobFileError(f"the job file is not valid JSON: {exc}") from None
    except RecursionError:
        raise JobFileError("the job file nests JSON too deeply") from None


@dataclass
class LogItem:
    """A by-product on the `log` route: a downloaded file or a debug record."""

    kind: str  # "file" | "debug"
    name: str
    content_type: str = "application/json"
    path: str | None = None
    record: Any = None
    size: int | None = None

    def to_dict(self, with_record: bool = True) -> dict[str, Any]:
        """Without the record, a debug item is only a pointer to the file `deliver` wrote it to."""
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "content_type": self.content_type}
        if self.path is not None:
            out["path"] = self.path
        if self.size is not None:
            out["size"] = self.size
        if with_record and self.record is not None:
            out["record"] = self.record
        return out


@dataclass
class Outcome:
    """One step, or a whole flow, on one job: exactly one data route plus zero or more log items.

    `result` is a step's result; `failed_step` names the step an error route comes from.
    """

    route: str  # "success" | "error"
    job: Job
    result: Any = None
    error: StepError | None = None
    logs: list[LogItem] = field(default_factory=list)
    cost: int = 0
    calls: int = 0
    failed_step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A step's outcome as `run` prints it."""
        out: dict[str, Any] = {"route": self.route}
        if self.route == "success":
            out["result"] = self.result
        else:
            out["error"] = self.error.to_dict() if self.error is not None else None
        out["log"] = [item.to_dict() for item in self.logs]
        out["api_calls"] = self.calls
        out["token_cost"] = self.cost
        return out

    def summary(self) -> dict[str, Any]:
        """A job's outcome as the hot folder logs it."""
        out: dict[str, Any] = {
            "job": self.job.id,
            "route": self.route,
            "api_calls": self.calls,
            "token_cost": self.cost,
        }
        if self.error is not None:
            out["error"] = {**self.error.to_dict(), "step": self.failed_step}
        return out


def write_atomic(path: Path, payload: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write via a temporary file and rename, so no reader ever sees half a file.

    `mode` is applied before the rename (a temporary file is private by default). With
    `durable`, the file and then its folder are fsynced, so the rename survives a power cut.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make renames and new names in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
