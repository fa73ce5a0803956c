"""Files on disk: safe names for anything that came over the network, streamed writes, uploads."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path

from .errors import StepError

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
                    raise StepError("rejected", f"The file is larger than the size limit of {max_bytes} bytes; "
                                    "raise the limit to download it.", input_path="maxBytes")
                fh.write(chunk)
        partial.replace(target)
    finally:
        response.close()
        partial.unlink(missing_ok=True)
    return size


class Upload:
    """Multipart file parts that can be produced again if a request is retried."""

    def __init__(self, parts: dict[str, tuple[str, Path]]):
        self._parts = parts  # part name -> (file name, path)

    def parts(self) -> dict[str, tuple[str, bytes, str]]:
        out = {}
        for field, (name, path) in self._parts.items():
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            out[field] = (name, path.read_bytes(), content_type)
        return out

    def describe(self) -> dict[str, dict[str, object]]:
        return {field: {"file_name": name, "size": path.stat().st_size} for field, (name, path) in self._parts.items()}


def readable_file(path: str, input_name: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise StepError("input", f"Input '{input_name}': no readable file at {path}", input_path=input_name)
    return file
