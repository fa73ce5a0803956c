"""Reliability under faults, rate limits and crashes (issue 5). Every loop is bounded in count and time.

- 1,000 jobs against 10 % injected faults of every kind: none lost, none duplicated.
- A runner killed with SIGKILL 20+ times during a 500-job run: none lost, none duplicated,
  every "outcome unknown" explained.
- Throughput under an enforced burst limit: correctness asserted, rate and 429s reported.
- A secret scan over everything those runs wrote.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from pipedrive_connect.client import RetrySettings
from pipedrive_connect.flows import Flow
from pipedrive_connect.jobs import Job
from pipedrive_connect.runner import HotFolder
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.sandbox import Sandbox

from .conftest import SANDBOX_TOKEN, connect, watch_command

pytestmark = pytest.mark.slow  # minutes, not seconds: run by `pytest` and CI, left out by `pytest -m "not slow"`

FLOW = {
    "steps": [
        {
            "id": "deal",
            "action": "addDeal",
            "inputs": {"title": "{{ job.data.title }}", "debugRequest": "{{ job.data.debug }}"},
        },
        {
            "id": "note",
            "action": "addNote",
            "inputs": {"content": "for {{ job.data.title }}", "dealId": "{{ steps.deal.result.id }}"},
        },
        {"id": "read", "action": "getDeal", "inputs": {"id": "{{ steps.deal.result.id }}"}},
    ]
}
RETRY = RetrySettings(max_attempts=6, max_wait=20, backoff_base=0.02, backoff_cap=0.2)


def drop_jobs(inbox: Path, count: int) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        job = {"data": {"title": f"fault job {i:04}", "debug": i % 10 == 0}}
        (inbox / f"job-{i:04}.json").write_text(json.dumps(job))


def routed(out: Path) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for route in ("success", "error"):
        for path in (out / route).glob("*.json"):
            seen.setdefault(path.stem, []).append(route)
    return seen


def scan_for_secret(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def check_no_loss_no_duplicates(out: Path, count: int, titles: list[str]) -> Counter:
    routes = routed(out)
    assert sorted(routes) == [f"job-{i:04}" for i in range(count)], "a job was lost"
    assert all(len(r) == 1 for r in routes.values()), "a job left on two routes"
    per_title = Counter(titles)
    duplicates = {t: n for t, n in per_title.items() if n > 1}
    assert not duplicates, f"duplicate records: {duplicates}"
    causes = Counter()
    for name, [route] in routes.items():
        payload = json.loads((out / route / f"{name}.json").read_text())
        title = f"fault job {name[4:]}"
        if route == "success":
            assert per_title[title] == 1 and payload["steps"]["read"]["result"]["title"] == title
        else:
            error = payload["error"]
            assert error["type"] and error["message"] and error["step"], "an error without its cause"
            causes[error["type"]] += 1
            if error["type"] == "outcome_unknown":
                assert error["step"] in ("deal", "note")
            elif error["step"] == "deal":
                assert per_title[title] == 0  # a failed create that was surely not applied left nothing
    return causes


def test_thousand_jobs_with_ten_percent_faults(bundle, tmp_path):
    inbox, out = tmp_path / "in", tmp_path / "out"
    drop_jobs(inbox, 1000)
    with Sandbox(token=SANDBOX_TOKEN, fault_rate=0.10, seed=11) as sb:
        runtime = Runtime(bundle, connect(sb), out_dir=out, retry=RETRY)
        started = time.monotonic()
        stats = HotFolder(runtime, Flow.from_dict(FLOW, runtime), inbox, out, workers=8).run(once=True)
        elapsed = time.monotonic() - started
        titles = [d["title"] for d in sb.store.rows("deals")]
        faults = Counter(entry["fault"] for entry in sb.request_log if entry.get("fault"))
    causes = check_no_loss_no_duplicates(out, 1000, titles)
    assert set(faults) == {"429", "500", "502", "503", "delay", "drop_before", "drop_after"}
    assert stats.success + stats.error == 1000
    assert not scan_for_secret(tmp_path, SANDBOX_TOKEN)
    print(
        f"\n1000 jobs, faults injected {dict(faults)}: {stats.success} success, {stats.error} error "
        f"{dict(causes)}, {stats.calls} calls, {elapsed:.1f} s"
    )


def start_sandbox_process(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipedrive_connect.sandbox",
            "--port",
            "0",
            "--token",
            SANDBOX_TOKEN,
            "--seed",
            "5",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert match, f"sandbox did not start: {line!r}"
    return proc, match.group(0)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(bundle, tmp_path):
    inbox, out = tmp_path / "in", tmp_path / "out"
    drop_jobs(inbox, 500)
    sandbox, base_url = start_sandbox_process(tmp_path, "--fault-rate", "0.15", "--fault-kinds", "delay")
    command, env = watch_command(base_url, FLOW, tmp_path, inbox, out, "--workers", "4", "--once")
    rng = random.Random(20261123)
    kills, deadline = 0, time.monotonic() + 240
    try:
        while kills < 20 and time.monotonic() < deadline:
            runner = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.4, 1.2))
            if runner.poll() is None:
                runner.send_signal(signal.SIGKILL)
                kills += 1
            runner.wait(timeout=10)
        assert kills >= 20, f"the work finished after {kills} kills; make it longer"
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
        assert final.returncode == 0, final.stderr
        from pipedrive_connect.connection import Connection

        settings = {"type": "apiToken", "api_token": SANDBOX_TOKEN, "base_url": base_url}
        runtime = Runtime(bundle, Connection.from_settings(settings))
        titles = [d["title"] for d in runtime.run("getDeals", Job(), {"fetchAll": True}).result]
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=10)
    causes = check_no_loss_no_duplicates(out, 500, titles)
    assert set(causes) <= {"outcome_unknown"}, causes  # delays only: the sole error is a kill mid-create
    assert not list((inbox / ".processing").glob("*"))
    assert not scan_for_secret(tmp_path, SANDBOX_TOKEN)
    print(
        f"\n500 jobs, {kills} SIGKILLs: {sum(1 for r in routed(out).values() if r == ['success'])} success, "
        f"{causes['outcome_unknown']} outcome unknown (explained), 0 lost, 0 duplicated"
    )


def test_throughput_under_burst_limit(bundle, tmp_path):
    limit, jobs = 40, 240
    with Sandbox(token=SANDBOX_TOKEN, burst_limit=limit, seed=2) as sb:
        runtime = Runtime(bundle, connect(sb), out_dir=tmp_path, retry=RETRY)
        from concurrent.futures import ThreadPoolExecutor

        runtime.run("getDeals", Job(), {"limit": 1})  # learn the limit from the headers
        sb.request_log.clear()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda i: runtime.run("addDeal", Job(), {"title": f"burst {i}"}), range(jobs)))
        elapsed = time.monotonic() - started
        statuses = Counter(entry["status"] for entry in sb.request_log)
    assert all(o.route == "success" for o in outcomes)
    achieved = jobs / elapsed
    allowed = limit / 2.0
    print(
        f"\nburst limit {limit}/2 s: {achieved:.1f} req/s = {achieved / allowed:.0%} of allowed, "
        f"{statuses.get(429, 0)} answered 429 of {sum(statuses.values())}"
    )
