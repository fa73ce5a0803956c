"""Shared helpers for the benchmark suite: statistics, the sandbox as a subprocess, runtimes.

Benchmarks are not tests: nothing here is collected by pytest (no test_* names).
"""

from __future__ import annotations

import math
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PYTHON = sys.executable


def summary(values: list[float]) -> dict[str, Any]:
    """Median, min, max and the raw values of a list of repeated measurements."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "values": []}
    return {"n": len(vals), "median": statistics.median(vals), "min": min(vals), "max": max(vals), "values": vals}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b in (None, 0):
        return None
    return a / b


def row(
    metric: str,
    value: dict | float | int | None,
    *,
    unit: str = "",
    baseline: Any = None,
    baseline_label: str = "",
    ratio_value: float | None = None,
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One line of the result table. `value` is a summary() dict or a single deterministic number."""
    if not isinstance(value, dict):
        value = {"n": 1, "median": value, "min": value, "max": value, "values": [value]}
    base = baseline if isinstance(baseline, dict) or baseline is None else {"median": baseline}
    if ratio_value is None and base is not None:
        ratio_value = ratio(value["median"], base.get("median"))
    return {
        "metric": metric,
        "unit": unit,
        "value": value,
        "baseline": base,
        "baseline_label": baseline_label,
        "ratio": ratio_value,
        "target": target,
        "met": met,
        "note": note,
    }


class SandboxProcess:
    """`python -m pipedrive_connect.sandbox` on 127.0.0.1:<free port>, so its CPU and memory are not ours."""

    def __init__(
        self,
        token: str,
        *,
        generate: dict[str, int] | None = None,
        burst_limit: int | None = None,
        search_limit: int | None = None,
        allow_query_token: bool = False,
        seed: int = 1,
        start_timeout: float = 120.0,
    ):
        self.token = token
        self.args = [PYTHON, "-m", "pipedrive_connect.sandbox", "--port", "0", "--token", token, "--seed", str(seed)]
        if generate:
            self.args += ["--generate", ",".join(f"{k}={v}" for k, v in generate.items())]
        if burst_limit:
            self.args += ["--burst-limit", str(burst_limit)]
        if search_limit:
            self.args += ["--search-limit", str(search_limit)]
        if allow_query_token:
            self.args.append("--allow-query-token")
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.base_url = ""
        self.control = requests.Session()

    def __enter__(self) -> SandboxProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], self.start_timeout)
        line = self.proc.stdout.readline() if ready else ""
        if "http://" not in line:
            self.proc.kill()
            raise RuntimeError(f"sandbox did not start: {line!r} {self.proc.stderr.read()[:2000]}")
        self.base_url = line.strip().split()[-1]
        return self

    def __exit__(self, *exc) -> None:
        self.control.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # control endpoints: no auth, never counted
    def _control(self, method: str, path: str) -> Any:
        response = self.control.request(method, self.base_url + path, timeout=60)
        response.raise_for_status()
        body = response.json()
        # the control endpoints answer in the API envelope ({"success", "data"}); accept a bare object too
        return body["data"] if isinstance(body, dict) and "success" in body and "data" in body else body

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_sandbox/stats")

    def requests_log(self) -> list[dict[str, Any]]:
        return self._control("GET", "/_sandbox/requests")["requests"]

    def reset(self) -> None:
        self._control("POST", "/_sandbox/reset")

    def api_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["x-api-token"] = self.token
        return session


class Responder:
    """`bench/responder.py` on 127.0.0.1: a fast keep-alive server with one canned answer, the per-job
    baseline's server, so that a ratio measures the clients and not the server."""

    def __enter__(self) -> Responder:
        script = Path(__file__).with_name("responder.py")
        self.proc = subprocess.Popen([PYTHON, str(script)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def tuned_session(self, token: str) -> requests.Session:
        """What a careful engineer writes: keep-alive, and the environment not rescanned per request."""
        session = requests.Session()
        session.trust_env = False
        session.headers["x-api-token"] = token
        return session


def make_runtime(base_url: str, token: str, out_dir: str | Path | None = None, **kwargs):
    from pipedrive_connect.connection import Connection
    from pipedrive_connect.runtime import Runtime

    connection = Connection.from_settings({"type": "apiToken", "api_token": token, "base_url": base_url})
    return Runtime(connection=connection, out_dir=out_dir or tempfile.mkdtemp(prefix="pdc-bench-"), **kwargs)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def pages(n: int, page_size: int = 500) -> int:
    """Requests needed to list n records (an empty list still takes one request)."""
    return max(1, math.ceil(n / page_size))


def rss_kb() -> int:
    """Current resident set size of this process (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def env_info() -> dict[str, Any]:
    import platform

    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        from importlib.metadata import version

        info["pipedrive-connect"] = version("pipedrive-connect")
        info["requests"] = version("requests")
    except Exception:  # pragma: no cover
        pass
    return info
