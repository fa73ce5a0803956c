"""`pipedrive-connect demo`: the product's main job, end to end, with no account and no network.

It starts the sandbox in-process with sample data, drops the sample order jobs into a hot
folder, runs the documented sample flow over them with the same runner as `watch`, and
prints where every job went and what it created.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path

from .connection import Connection
from .flows import Flow
from .runner import HotFolder, WatchSettings
from .runtime import Runtime

SAMPLES = Path(__file__).resolve().parent / "samples"
MARKER = ".pipedrive-connect-demo"


def _prepare(out: Path) -> Path:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SystemExit(f"demo: {out} exists and is not a demo output folder; choose another --out")
    shutil.rmtree(out, ignore_errors=True)
    inbox = out / "in"
    shutil.copytree(SAMPLES / "jobs", inbox)
    (out / MARKER).write_text("created by pipedrive-connect demo; safe to delete\n")
    return inbox


def _describe(job_steps: dict) -> str:
    def result(step):
        return (job_steps.get(step) or {}).get("result") or {}

    parts = []
    org, person, deal = result("organization"), result("person"), result("deal")
    if org:
        parts.append(f"organization #{org.get('id')} {org.get('name')}")
    if person:
        parts.append(f"person #{person.get('id')} {person.get('name')}")
    if deal:
        parts.append(f'deal #{deal.get("id")} "{deal.get("title")}" ({deal.get("value")} {deal.get("currency")})')
    if result("product"):
        parts.append(f"product line #{result('product').get('id')}")
    if result("attachment"):
        parts.append(f"file #{result('attachment').get('id')}")
    if result("note"):
        parts.append(f"note #{result('note').get('id')}")
    if result("download"):
        d = result("download")
        parts.append(f'downloaded "{d.get("name")}" ({d.get("size")} bytes) to log/')
    return "; ".join(parts)


def run_demo(out_dir: str = "demo-output", workers: int = 2) -> int:
    from .sandbox import Sandbox

    out = Path(out_dir).resolve()
    inbox = _prepare(out)
    token = secrets.token_hex(16)
    with Sandbox(token=token, data=str(SAMPLES.parent / "sandbox" / "sample_data.json")) as sandbox:
        connection = Connection.from_settings({"type": "apiToken", "api_token": token, "base_url": sandbox.base_url})
        runtime = Runtime(connection=connection, out_dir=out)
        flow = Flow.load(SAMPLES / "order-flow.yaml", runtime)
        jobs = sorted(p.stem for p in inbox.glob("*.json"))
        print(f'pipedrive-connect demo: flow "{flow.name}" ({len(flow.steps)} steps) over {len(jobs)} sample jobs')
        print(f"sandbox: {sandbox.base_url} (local Pipedrive-compatible API; no account, no network)\n")
        # the sample files are complete before the runner starts: nothing to wait for
        stats = HotFolder(runtime, flow, inbox, out, settings=WatchSettings(workers=workers, settle=0)).run(once=True)
    import json

    for name in jobs:
        for route in ("success", "error"):
            path = out / route / f"{name}.json"
            if path.exists():
                routed = json.loads(path.read_text(encoding="utf-8"))
                if route == "success":
                    detail = _describe(routed["steps"])
                else:
                    err = routed["error"]
                    detail = f"step '{err['step']}' failed ({err['type']}): {err['message']}"
                print(f"  {name:<16} {route:<8} {detail}")
    summary = stats.summary()
    print(
        f"\n{len(jobs)} jobs: {summary['success']} success, {summary['error']} error; "
        f"{summary['api_calls']} API calls costing {summary['token_cost']} tokens"
    )
    print(f"output: {out}  (success/, error/, log/)")
    return 0 if summary["success"] + summary["error"] == len(jobs) else 1


if __name__ == "__main__":
    sys.exit(run_demo())
