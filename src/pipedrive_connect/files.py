"""Files on disk: safe names for anything that came over the network, streamed writes, uploads."""

from __future__ import annotations

import mimetypes
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StepError

if TYPE_CHECKING:
    from requests_toolbelt import MultipartEncoder

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
CHUNK = 64 * 1024


def safe_filename(name: str | None, fallback: str = "file") -> str:
    """A name that stays inside the folder it is written to, on any operating system."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]  # only the last path component
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" .")
    if not name or name in (".", ".."):
        name = fallback
    stem, dot, ext = name.partition(".")
    if stem.lower() in _RESERVED:
        name = f"_{name}"
    encoded = name.encode("utf-8")
    if len(encoded) > 200:  # keep the extension, cut the stem on a character boundary
        suffix = Path(name).suffix[:20]
        name = encoded[: 200 - len(suffix.encode())].decode("utf-8", "ignore") + suffix
    return name


def unique_path(folder: Path, name: str) -> Path:
    """`name` in `folder`, numbered if taken, and provably inside `folder`."""
    folder = folder.resolve()
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while candidate.exists():
        candidate = folder / f"{stem} ({n}){suffix}"
        n += 1
    if candidate.resolve().parent != folder:
        raise StepError("unexpected", "refused to write a file outside the output folder")
    return candidate


def filename_from_disposition(header: str | None) -> str | None:
    """The file name of a Content-Disposition header, RFC 5987/2231 `filename*` included."""
    if not header:
        return None
    from email.message import Message  # a download's name only: kept off every start
    from email.utils import collapse_rfc2231_value

    message = Message()
    message["content-disposition"] = header
    names = [value for key, value in message.get_params([], header="content-disposition") if key == "filename"]
    encoded = [v for v in names if isinstance(v, tuple)]  # filename* wins over the ASCII fallback (RFC 6266)
    if encoded:
        return collapse_rfc2231_value(encoded[0])
    return names[0] if names else None


def stream_to_file(response, target: Path, max_bytes: int) -> int:
    """Copy a streamed response to disk in chunks; fail (and remove the part) past `max_bytes`."""
    size = 0
    partial = target.with_name(f".{target.name}.part")
    try:
        with partial.open("wb") as fh:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise StepError(
                        "rejected",
                        f"The file is larger than the size limit of {max_bytes} bytes; raise the limit to download it.",
                        input_path="maxBytes",
                    )
                fh.write(chunk)
        partial.replace(target)
    finally:
        response.close()
        partial.unlink(missing_ok=True)
    return size


class Upload:
    """Multipart file parts, streamed from disk as they are sent (a 200 MiB file never sits in memory)
    and opened afresh for each attempt, so a retried request sends them whole again."""

    def __init__(self, parts: dict[str, tuple[str, Path]]):
        self._parts = parts  # part name -> (file name, path)

    @contextmanager
    def body(self, fields: dict[str, Any] | None) -> Iterator[MultipartEncoder]:
        """The form fields and the files as one streamed multipart body. Fields are encoded as
        `requests` encodes a form: None left out, a list repeated, anything else as text."""
        form: list[tuple[str, Any]] = []
        for name, value in (fields or {}).items():
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    form.append((name, item if isinstance(item, bytes) else str(item)))
        from requests_toolbelt import MultipartEncoder  # only uploads pay for the import

        with ExitStack() as files:
            for field, (name, path) in self._parts.items():
                content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                form.append((field, (name, files.enter_context(open(path, "rb")), content_type)))
            yield MultipartEncoder(fields=form)

    def describe(self) -> dict[str, dict[str, object]]:
        return {field: {"file_name": name, "size": path.stat().st_size} for field, (name, path) in self._parts.items()}


class FileRoots:
    """The folders a job may take files from, and how large such a file may be.

    A job file comes from whoever can write to the inbox, so the paths it names are confined:
    a relative path resolves against the job's folder, and the real path (symlinks followed)
    must be a regular file inside one of the roots. Devices, `/proc` and files outside stay out.
    """

    def __init__(self, roots: list[Path], max_bytes: int = 100 * 1024 * 1024):
        self.roots = [Path(r).resolve() for r in roots]
        self.max_bytes = max_bytes

    def check(self, path: str | Path, base: Path | None = None, input_name: str | None = None) -> Path:
        """The file's real path, or an `input` StepError saying why it may not be used."""
        what = f"Input '{input_name}'" if input_name else "Attachment"
        raw = Path(path)
        candidate = raw if raw.is_absolute() or base is None else base / raw
        real = Path(os.path.realpath(candidate))
        if not any(real == root or root in real.parents for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            raise StepError(
                "input",
                f"{what}: {path} is outside the folders jobs may take files from ({allowed}); "
                "an operator can allow a folder with --allow-files-from DIR",
                input_path=input_name,
            )
        try:
            info = real.stat()
        except OSError:
            raise StepError("input", f"{what}: no readable file at {path}", input_path=input_name) from None
        if not stat.S_ISREG(info.st_mode):
            raise StepError("input", f"{what}: {path} is not a regular file", input_path=input_name)
        if info.st_size > self.max_bytes:
            raise StepError(
                "input",
                f"{what}: {path} is {info.st_size} bytes, over the limit of {self.max_bytes} "
                "(raise it with --max-attachment-bytes)",
                input_path=input_name,
            )
        return real


def readable_file(path: str, input_name: str, roots: FileRoots | None = None) -> Path:
    """A file an action will read: confined to `roots` when the runtime has them (jobs from a folder)."""
    if roots is not None:
        return roots.check(path, input_name=input_name)
    file = Path(path).expanduser()
    if not file.is_file():
        raise StepError("input", f"Input '{input_name}': no readable file at {path}", input_path=input_name)
    return file
