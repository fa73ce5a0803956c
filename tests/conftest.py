"""Shared fixtures: the bundle, a runtime on a mocked transport, and the sandbox over loopback."""

from __future__ import annotations

import pytest

from pipedrive_connect.bundle import Bundle
from pipedrive_connect.connection import Connection
from pipedrive_connect.runtime import Runtime

TOKEN = "tok-SECRET-0123456789abcdef"
SANDBOX_TOKEN = "sandbox-token-7f3a9c2e51"
BASE = "https://acme.pipedrive.com"


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_output(tmp_path_factory):
    """After the whole run: no file any test produced holds a token (connection files live under secrets/)."""
    yield
    root = tmp_path_factory.getbasetemp()
    leaks = [str(p) for p in root.rglob("*") if p.is_file() and "secrets" not in p.parts
             and any(secret.encode() in p.read_bytes() for secret in (TOKEN, SANDBOX_TOKEN))]
    assert not leaks, f"secrets written to outputs: {leaks}"


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
    return Runtime(bundle, connection, out_dir=tmp_path / "out", retry=RetrySettings.none(),
                   limiter=RateLimiter(limit=100_000))
