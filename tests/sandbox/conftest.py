"""Fixtures: a sandbox per test on a free loopback port, and a small client for it."""

from __future__ import annotations

import pytest

from pipedrive_connect.sandbox import Sandbox

from .helpers import TOKEN, Api


@pytest.fixture
def make_sandbox():
    """Factory for sandboxes with options; all are stopped after the test."""
    started = []

    def make(**options) -> Sandbox:
        options.setdefault("token", TOKEN)
        options.setdefault("seed", 7)
        sandbox = Sandbox(**options).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def api(sandbox) -> Api:
    return Api(sandbox)
