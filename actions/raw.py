"""The raw request: any endpoint, the connection's auth and error mapping, never another host."""

import re
from urllib.parse import parse_qsl, unquote

from pipedrive_connect.client import Request, RetrySettings
from pipedrive_connect.errors import StepError
from pipedrive_connect.files import Upload, filename_from_disposition, safe_filename, stream_to_file, unique_path
from pipedrive_connect.pipedrive import AUTH_HEADERS, Api

PROTECTED_HEADERS = {*AUTH_HEADERS, "host", "cookie", "content-length"}
_ALLOWED_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def resolve_path(url: str, default_api: str, roots: Api | None = None) -> tuple[str, str, dict[str, str]]:
    """Split a user-given path into (api, path, query), refusing anything that could leave the API root."""
    roots = roots or Api()

    def refuse(why: str) -> StepError:
        return StepError(
            "input", f"Input 'url': {why}. Give a path on the API host, such as /api/v2/deals.", input_path="url"
        )

    if "://" in url or url.startswith("//") or "\\" in url or _SCHEME.match(url):
        raise refuse("absolute URLs and other hosts are not allowed")
    path, _, query = url.partition("?")
    if "#" in url:
        raise refuse("fragments (#) are not allowed")
    decoded = path
    for _ in range(3):  # catch %2e%2e and double encodings alike
        decoded = unquote(decoded)
        if any(seg in ("..", ".") for seg in re.split(r"[/\\]", decoded)) or "//" in decoded[1:] or "\\" in decoded:
            raise refuse("the path may not contain '.', '..' or empty segments")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in decoded):
            raise refuse("control characters are not allowed")
    if not path.startswith("/"):
        path = "/" + path
    if not _ALLOWED_PATH.match(path):
        raise refuse("the path has characters that are not allowed")
    located = roots.locate(path)
    if located is not None:
        return located[0], located[1], dict(parse_qsl(query))
    if path.startswith("/api/"):
        raise refuse(f"only {' and '.join(roots.prefixes.values())} exist")
    return default_api, path, dict(parse_qsl(query))


def raw_request(call):
    inputs = call.inputs
    method = inputs["method"]
    api, path, query = resolve_path(inputs["url"], inputs.get("apiVersion", "v1"), call.api_roots)
    extra_query = inputs.get("queryParams") or {}
    query.update({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in extra_query.items()})
    headers = {
        k.strip(): v.strip()
        for k, v in (inputs.get("headers") or {}).items()
        if k.strip().casefold() not in PROTECTED_HEADERS
    }
    response_type = inputs.get("responseType", "json")
    request = Request(
        method,
        api,
        path,
        query,
        headers=headers or None,
        stream=response_type == "binary",
        expect=response_type,
        timeout=(5.0, inputs.get("timeout", 60000) / 1000.0),
        cost=call.declared_cost(method, api, path),
    )
    if inputs.get("fileData"):
        names = inputs.get("fileDataFileNames") or {}
        parts = {}
        for field, file in inputs["fileData"].items():
            source = call.readable_file(file, f"fileData.{field}")
            parts[field] = (names.get(field) or source.name, source)
        request.files, request.body, request.form = Upload(parts), inputs.get("formData"), True
    elif inputs.get("formData") is not None:
        request.body, request.form = inputs["formData"], True
    elif inputs.get("data") is not None:
        request.body = inputs["data"]
    delay = inputs.get("retryDelayMS", 0) / 1000.0
    request.retry = RetrySettings(
        max_attempts=inputs.get("maxRetries", 0) + 1,
        backoff_base=delay,
        backoff_cap=delay * 64 if inputs.get("useExponentialBackoff") else delay,
        retry_all_errors=inputs.get("retryAllErrors", False),
    )
    response = call.send(request)
    call.additional_data = response.additional_data or None
    if response_type == "binary":
        raw = response.raw
        name = filename_from_disposition(raw.headers.get("Content-Disposition")) or "response.bin"
        content_type = raw.headers.get("Content-Type", "application/octet-stream").split(";")[0]
        target = unique_path(call.log_dir, safe_filename(name, "response.bin"))
        size = stream_to_file(raw, target, 100 * 1024 * 1024)
        call.log_file(name, target, content_type, size)
        return {
            "status": response.status,
            "name": name,
            "content_type": content_type,
            "size": size,
            "path": str(target),
        }
    return response.body  # text for responseType text, else the parsed JSON
