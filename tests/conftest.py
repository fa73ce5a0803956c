"""Shared fixtures: the bundle, a runtime on a mocked transport, and the sandbox over loopback."""

from __future__ import annotations

import pytest

from pipedrive_connect.bundle import Bundle
from pipedrive_connect.connection import Connection
from pipedrive_connect.engine import Runtime

TOKEN = "tok-SECRET-0123456789abcdef"
BASE = "https://acme.pipedrive.com"


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
