"""One measurement of the hot folder, in a fresh process: `watch --once` or the plain loop it is compared to.

    python bench/hot_folder_child.py runner|loop BASE_URL TOKEN JOBS WORKERS [KB_PER_JOB]

Prints {"seconds", "jobs_per_s", "delivered", "run_seconds"} as JSON (run_seconds: the jobs alone,
without imports and set-up, for comparing job sizes). Both sides read the same job files from a
fresh folder, POST one deal per job and write one result file per job. The loop is what a careful
engineer would write without durability: a tuned `requests.Session` per thread (environment read
once), no journal, no fsync, no claim. KB_PER_JOB adds that much text to each job's data (a big job:
it travels to the output, not to Pipedrive).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

RUN_SECONDS: list[float] = []


def make_jobs(folder: Path, count: int, kb: int = 0) -> None:
    folder.mkdir(parents=True)
    extra = {"notes": ("x" * 1023 + "\n") * kb} if kb else {}
    for i in range(count):
        job = {"data": {"title": f"Order {i}", "value": str(100 + i), **extra}}
        (folder / f"job-{i:05d}.json").write_text(json.dumps(job))


def run_loop(base_url: str, token: str, inbox: Path, out: Path, workers: int) -> int:
    local = threading.local()
    out.mkdir(parents=True)

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            s = requests.Session()
            s.trust_env = False
            s.headers["x-api-token"] = token
            local.s = s
        return local.s

    def one(path: Path) -> None:
        job = json.loads(path.read_text())
        body = {"title": job["data"]["title"], "value": float(job["data"]["value"])}
        answer = session().post(f"{base_url}/api/v2/deals", json=body, timeout=30)
        answer.raise_for_status()
        (out / path.name).write_text(json.dumps({**job, "result": answer.json()["data"]}))
        path.unlink()

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, sorted(inbox.glob("*.json"))))
    RUN_SECONDS.append(time.perf_counter() - started)
    return len(list(out.glob("*.json")))


def run_runner(base_url: str, token: str, inbox: Path, out: Path, workers: int) -> int:
    from pipedrive_connect.connection import Connection
    from pipedrive_connect.flows import Flow
    from pipedrive_connect.runner import HotFolder
    from pipedrive_connect.runtime import Runtime

    connection = Connection.from_settings({"type": "apiToken", "api_token": token, "base_url": base_url})
    runtime = Runtime(connection=connection, out_dir=out)
    flow = Flow.from_dict(
        {
            "steps": [
                {
                    "id": "deal",
                    "action": "addDeal",
                    "inputs": {"title": "{{ job.data.title }}", "value": "{{ job.data.value }}"},
                }
            ]
        },
        runtime,
    )
    try:  # the settle rule is for producers still writing; these files are complete
        from pipedrive_connect.runner import WatchSettings

        folder = HotFolder(runtime, flow, inbox, out, settings=WatchSettings(workers=workers, settle=0))
    except ImportError:  # the runner before the job store had no settings (and no settle with --once)
        folder = HotFolder(runtime, flow, inbox, out, workers)
    started = time.perf_counter()
    folder.run(once=True)
    RUN_SECONDS.append(time.perf_counter() - started)
    return len(list((out / "success").glob("*.json")))


def main() -> None:
    mode, base_url, token, jobs, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    kb = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    work = Path(tempfile.mkdtemp(prefix="pdc-bench-hot-"))
    try:
        make_jobs(work / "in", jobs, kb)
        started = time.perf_counter()
        delivered = (run_runner if mode == "runner" else run_loop)(base_url, token, work / "in", work / "out", workers)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"seconds": seconds, "jobs_per_s": jobs / seconds, "delivered": delivered, "run_seconds": RUN_SECONDS[0]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
