"""A sandbox on 127.0.0.1 and a runtime connected to it over real HTTP."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pipedrive_connect.client import RetrySettings
from pipedrive_connect.connection import Connection
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.sandbox import Sandbox

from ..conftest import SANDBOX_TOKEN

SAMPLE_DATA = str(Path(__file__).resolve().parents[2] / "src" / "pipedrive_connect" / "sandbox" / "sample_data.json")
FAST_RETRY = RetrySettings(max_attempts=5, max_wait=10, backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture
def sandbox():
    with Sandbox(token=SANDBOX_TOKEN, data=SAMPLE_DATA, seed=7) as sb:
        yield sb


def connect(sandbox, token: str = SANDBOX_TOKEN) -> Connection:
    return Connection.from_settings({"type": "apiToken", "api_token": token, "base_url": sandbox.base_url})


@pytest.fixture
def live(sandbox, bundle, tmp_path) -> Runtime:
    return Runtime(bundle, connect(sandbox), out_dir=tmp_path / "out", retry=FAST_RETRY)


def watch_command(base_url: str, flow: dict | Path, folder: Path, inbox: Path, out: Path, *extra: str):
    """`pipedrive-connect watch` over `inbox` as a separate process would run it, and its environment;
    `flow` is a flow (written to `folder`) or a flow file."""
    flow_file = flow if isinstance(flow, Path) else folder / "flow.json"
    if not isinstance(flow, Path):
        flow_file.write_text(json.dumps(flow))
    command = [sys.executable, "-m", "pipedrive_connect.cli", "watch", "--flow", str(flow_file)]
    command += ["--in", str(inbox), "--out", str(out), *extra]
    env = {**os.environ, "PIPEDRIVE_API_TOKEN": SANDBOX_TOKEN, "PIPEDRIVE_BASE_URL": base_url}
    return command, env
