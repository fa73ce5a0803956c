"""Jobs, log by-products and step outcomes, serialisable to disk.

A job is what flows through a flow: JSON `data`, private `metadata`, file
attachments and the results of earlier steps (`steps`). On disk a job is one JSON
file; attachment paths are stored relative to it so a job folder can be moved.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


@dataclass
class Job:
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[Attachment] = field(default_factory=list)
    steps: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

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

    def with_step(self, step_id: str, record: dict[str, Any]) -> "Job":
        return Job(self.data, self.metadata, list(self.files), {**self.steps, step_id: record}, self.id)

    def to_dict(self, base: Path | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "data": self.data,
            "metadata": self.metadata,
            "files": [f.to_dict(base) for f in self.files],
            "steps": self.steps,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path | None = None) -> "Job":
        if not isinstance(raw, dict):
            raise ValueError("a job must be a JSON object with data, metadata and files")
        unknown = set(raw) - {"id", "data", "metadata", "files", "steps"}
        if unknown:
            raise ValueError(f"unknown job keys: {', '.join(sorted(unknown))}")
        files = []
        for f in raw.get("files") or []:
            path = Path(f["path"])
            if base is not None and not path.is_absolute():
                path = base / path
            files.append(Attachment(f.get("name") or path.name, str(path),
                                    f.get("content_type", "application/octet-stream")))
        kwargs = {"id": str(raw["id"])} if raw.get("id") else {}
        return cls(raw.get("data") or {}, raw.get("metadata") or {}, files, raw.get("steps") or {}, **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Job":
        path = Path(path)
        raw = json.loads(path.read_text(encoding="utf-8"))
        job = cls.from_dict(raw, base=path.parent)
        if isinstance(raw, dict) and not raw.get("id"):
            job.id = path.stem  # a dropped-in job is known by its file name
        return job

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(path.parent), indent=2, ensure_ascii=False).encode())
        return path


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
        out = {"kind": self.kind, "name": self.name, "content_type": self.content_type}
        if self.path is not None:
            out["path"] = self.path
        if self.size is not None:
            out["size"] = self.size
        if with_record and self.record is not None:
            out["record"] = self.record
        return out


@dataclass
class Outcome:
    """One step on one job: exactly one data route plus zero or more log items."""

    route: str  # "success" | "error"
    job: Job
    result: Any = None
    error: Any = None  # StepError
    logs: list[LogItem] = field(default_factory=list)
    cost: int = 0
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"route": self.route}
        if self.route == "success":
            out["result"] = self.result
        else:
            out["error"] = self.error.to_dict()
        out["log"] = [item.to_dict() for item in self.logs]
        out["api_calls"] = self.calls
        out["token_cost"] = self.cost
        return out


def write_atomic(path: Path, payload: bytes) -> None:
    """Write via a temporary file and rename, so no reader ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
