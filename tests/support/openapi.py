"""Contract checks against Pipedrive's official OpenAPI specs, with openapi-core.

Usage::

    from tests.support.openapi import requires_spec, validate_request, validate_response

    @requires_spec
    def test_something():
        validate_request("v2", "POST", "/api/v2/deals", headers={"x-api-token": "t"},
                         body_bytes=b'{"title": "x"}')
        validate_response("v2", "GET", "/api/v2/deals/1", 200, body_bytes=resp.content)

Paths may be our own (``/api/v1/...``, ``/v1/...``, ``/api/v2/...``) or full
URLs; they are mapped onto the spec servers (``https://api.pipedrive.com/v1``
and ``https://api.pipedrive.com/api/v2``).  Failures raise
:class:`ContractError` with every schema error spelled out.

The spec directory is ``$PIPEDRIVE_OPENAPI_DIR`` or, failing that,
``<repo>/../shared/pipedrive-openapi``; tests marked ``requires_spec`` skip
when ``v1.yaml``/``v2.yaml`` are not there.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

SPEC_HOST = "https://api.pipedrive.com"
SPEC_PREFIX = {"v1": "/v1", "v2": "/api/v2"}
OUR_PREFIXES = {"v1": ("/api/v1", "/v1"), "v2": ("/api/v2",)}


class ContractError(AssertionError):
    """A request or response that the official spec rejects."""


def spec_dir() -> Path:
    configured = os.environ.get("PIPEDRIVE_OPENAPI_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2].parent / "shared" / "pipedrive-openapi"


def spec_available() -> bool:
    return all((spec_dir() / f"{v}.yaml").is_file() for v in SPEC_PREFIX)


requires_spec = pytest.mark.skipif(
    not spec_available(),
    reason=f"official spec not found at {spec_dir()}; set PIPEDRIVE_OPENAPI_DIR",
)


@functools.cache
def load_spec(version: str):
    """The parsed spec as an ``openapi_core.OpenAPI``, built once per process.

    The spec itself is not re-validated (slow on files this size, and not
    what these checks are about).
    """
    from openapi_core import OpenAPI
    from openapi_core.configurations import Config

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(spec_dir() / f"{version}.yaml", encoding="utf-8") as fh:
        document = yaml.load(fh, Loader=loader)
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


def spec_path(version: str, url_path: str) -> str:
    """Map ``/api/v1/deals/1`` (or a full URL) to the spec's ``/v1/deals/1``."""
    path = urlsplit(url_path).path
    for prefix in OUR_PREFIXES[version]:
        if path == prefix or path.startswith(prefix + "/"):
            return SPEC_PREFIX[version] + path[len(prefix) :]
    raise ContractError(f"{url_path} is not an API {version} path")


def _query(query, url_path: str) -> dict:
    pairs = parse_qsl(urlsplit(url_path).query)
    if isinstance(query, str):
        pairs += parse_qsl(query)
    elif isinstance(query, dict):
        pairs += [(k, str(v)) for k, v in query.items()]
    elif query:
        pairs += [(k, str(v)) for k, v in query]
    return dict(pairs)


def _describe(exc: BaseException) -> str:
    """Flatten openapi-core's exception chain into readable lines."""
    lines = []
    while exc is not None:
        lines.append(f"{type(exc).__name__}: {exc}")
        for err in getattr(exc, "schema_errors", None) or ():
            where = "/".join(str(p) for p in err.absolute_path) or "<root>"
            lines.append(f"  at {where}: {err.message}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(lines)


def _request(version, method, url_path, query=None, headers=None, body_bytes=b"", content_type="application/json"):
    from openapi_core.testing import MockRequest

    return MockRequest(
        SPEC_HOST,
        method.lower(),
        spec_path(version, url_path),
        args=_query(query, url_path),
        headers=dict(headers or {}),
        data=body_bytes or b"",
        content_type=content_type,
    )


def validate_request(
    version: str,
    method: str,
    url_path: str,
    query=None,
    headers=None,
    body_bytes: bytes = b"",
    content_type: str = "application/json",
) -> None:
    """Raise ContractError unless the spec accepts this request (params, body and auth header)."""
    request = _request(version, method, url_path, query, headers, body_bytes, content_type)
    try:
        load_spec(version).validate_request(request)
    except Exception as exc:
        raise ContractError(f"{method} {url_path} violates the {version} spec:\n{_describe(exc)}") from None


def strip_nulls(value):
    """Drop null-valued object members, recursively.

    Pipedrive's specs declare many members non-nullable that the live API
    returns as null (e.g. a v2 deal's ``won_time`` while it is open, a
    person's ``org_id`` when unset).  Dropping them checks every value that
    is present while still failing on nulls in required members.
    """
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def validate_response(
    version: str,
    method: str,
    url_path: str,
    status: int,
    headers=None,
    body_bytes: bytes = b"",
    content_type: str = "application/json",
    ignore_nulls: bool = False,
) -> None:
    """Raise ContractError unless the spec's response schema for this status accepts the body.

    ``ignore_nulls=True`` applies :func:`strip_nulls` to JSON bodies first.
    """
    from openapi_core.testing import MockResponse

    if ignore_nulls and content_type.startswith("application/json") and body_bytes:
        body_bytes = json.dumps(strip_nulls(json.loads(body_bytes))).encode()
    request = _request(version, method, url_path)
    response = MockResponse(body_bytes, status_code=status, headers=dict(headers or {}), content_type=content_type)
    try:
        load_spec(version).validate_response(request, response)
    except Exception as exc:
        raise ContractError(f"{method} {url_path} -> {status} violates the {version} spec:\n{_describe(exc)}") from None
