"""Shared fixtures: the bundle, a runtime on a mocked transport, and the sandbox over loopback."""

from __future__ import annotations

import logging
import os

import pytest

from pipedrive_connect.bundle import Bundle
from pipedrive_connect.connection import Connection
from pipedrive_connect.runtime import Runtime

TOKEN = "tok-SECRET-0123456789abcdef"
SANDBOX_TOKEN = "sandbox-token-7f3a9c2e51"
BASE = "https://acme.pipedrive.com"


@pytest.fixture(scope="session", autouse=True)
def declaration_cache(tmp_path_factory):
    """The declaration cache of every bundle the tests load (and of the CLIs they start) stays in the
    run's temporary folder, never in the home directory."""
    folder = tmp_path_factory.mktemp("declaration-cache")
    saved = os.environ.get("PIPEDRIVE_CONNECT_CACHE")
    os.environ["PIPEDRIVE_CONNECT_CACHE"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("PIPEDRIVE_CONNECT_CACHE", None)
    else:
        os.environ["PIPEDRIVE_CONNECT_CACHE"] = saved


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_output(tmp_path_factory):
    """After the whole run: no file any test produced holds a token (connection files live under secrets/)."""
    yield
    root = tmp_path_factory.getbasetemp()
    leaks = [
        str(p)
        for p in root.rglob("*")
        if p.is_file()
        and "secrets" not in p.parts
        and any(secret.encode() in p.read_bytes() for secret in (TOKEN, SANDBOX_TOKEN))
    ]
    assert not leaks, f"secrets written to outputs: {leaks}"


@pytest.fixture(autouse=True)
def isolated_process_state():
    """What the package keeps per process starts afresh for each test, whatever ran before it: the
    rate limiters shared per token (their windows and the limits learned from headers) and the
    `pipedrive_connect` logger that `watch` configures (handlers, level, propagation)."""
    from pipedrive_connect.limits import RateLimiter

    logger = logging.getLogger("pipedrive_connect")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    with RateLimiter._shared_lock:
        RateLimiter._shared.clear()
    yield
    with RateLimiter._shared_lock:
        RateLimiter._shared.clear()
    for handler in [h for h in logger.handlers if h not in saved[0]]:
        logger.removeHandler(handler)
        handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return Bundle.load(check=True)


@pytest.fixture
def connection() -> Connection:
    return Connection.from_settings({"type": "apiToken", "api_token": TOKEN, "base_url": BASE})


@pytest.fixture
def runtime(bundle, connection, tmp_path) -> Runtime:
    from pipedrive_connect.client import RetrySettings
    from pipedrive_connect.limits import RateLimiter

    # mocked transport: no server to protect, so no pacing
    return Runtime(
        bundle, connection, out_dir=tmp_path / "out", retry=RetrySettings.none(), limiter=RateLimiter(limit=100_000)
    )
