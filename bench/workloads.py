"""The benchmarks. Each function takes `quick` and returns {"rows": [...], "raw": {...}}.

Every figure sits next to a baseline measured in the same run (see common.row). The
sandbox always runs as a subprocess on 127.0.0.1 so that its CPU (2-core machine, one GIL
per process) and memory are not charged to the client being measured.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BENCH_DIR, PYTHON, Responder, SandboxProcess, make_runtime, pages, ratio, row, summary

TOKEN = "bench-token-0123456789"


def _job(data: dict[str, Any]):
    from pipedrive_connect.jobs import Job

    return Job(data=data)


# ---------------------------------------------------------------------------------------------
# 1. per-job overhead
# ---------------------------------------------------------------------------------------------
def per_job(quick: bool) -> dict[str, Any]:
    """addDeal through Runtime.run (template + coercion + validation + routing) vs a bare Session POST.

    A and B are interleaved job by job (ABAB..., BABA... on odd repeats) so that drift and the noise of
    a shared 2-core machine hit both sides alike; each repeat gives the median per-job latency of
    each side, and the ratio of those medians.
    """
    iters, repeats, warmup = (100, 3, 30) if quick else (300, 7, 50)
    with Responder() as sb:  # a fast keep-alive server: the ratio measures the clients, not the server
        rt = make_runtime(sb.base_url, TOKEN)
        session = sb.tuned_session(TOKEN)
        url = sb.base_url + "/api/v2/deals"
        perf, cpu = time.perf_counter, time.process_time
        cpu_used = {"runtime": 0.0, "bare": 0.0}

        def runtime_job(i: int) -> float:
            c0, t0 = cpu(), perf()
            outcome = rt.run(
                "addDeal", job=_job({"x": f"Order {i}"}), inputs={"title": "{{ job.data.x }}", "value": "12"}
            )
            took = perf() - t0
            cpu_used["runtime"] += cpu() - c0
            if outcome.route != "success":
                raise RuntimeError(f"addDeal failed: {outcome.error}")
            return took

        def bare_job(i: int) -> float:
            c0, t0 = cpu(), perf()
            response = session.post(url, json={"title": f"Order {i}", "value": 12})
            response.json()["data"]["id"]
            took = perf() - t0
            cpu_used["bare"] += cpu() - c0
            if response.status_code not in (200, 201):
                raise RuntimeError(f"bare POST failed: {response.status_code} {response.text[:200]}")
            return took

        for i in range(warmup):
            runtime_job(i)
            bare_job(i)
        rt_med, bare_med, rt_mean, bare_mean, paired, rt_cpu, bare_cpu = [], [], [], [], [], [], []
        for r in range(repeats):
            a_times, b_times = [], []
            cpu_used.update(runtime=0.0, bare=0.0)
            for i in range(iters):
                if (i + r) % 2 == 0:
                    a_times.append(runtime_job(i))
                    b_times.append(bare_job(i))
                else:
                    b_times.append(bare_job(i))
                    a_times.append(runtime_job(i))
            rt_med.append(statistics.median(a_times) * 1e3)
            bare_med.append(statistics.median(b_times) * 1e3)
            rt_mean.append(statistics.fmean(a_times) * 1e3)
            bare_mean.append(statistics.fmean(b_times) * 1e3)
            paired.append(rt_med[-1] / bare_med[-1])
            rt_cpu.append(cpu_used["runtime"] / iters * 1e3)
            bare_cpu.append(cpu_used["bare"] / iters * 1e3)
        session.close()
    rt_s, bare_s, paired_s = summary(rt_med), summary(bare_med), summary(paired)
    overhead = summary([a - b for a, b in zip(rt_med, bare_med, strict=True)])
    mean_ratio = summary([a / b for a, b in zip(rt_mean, bare_mean, strict=True)])
    ratio_med = paired_s["median"]
    return {
        "rows": [
            row(
                "addDeal per job, runtime (median latency)",
                rt_s,
                unit="ms",
                baseline=bare_s,
                baseline_label="tuned Session POST+json() (trust_env=False, keep-alive)",
                ratio_value=ratio_med,
                target="ratio <= 1.10",
                met=ratio_med <= 1.10,
                note=f"{repeats} repeats x {iters} jobs per side, interleaved job by job; "
                "ratio = median over repeats of (median runtime / median bare)",
            ),
            row("runtime overhead per job", overhead, unit="ms", baseline=bare_s, baseline_label="bare request time"),
            row(
                "per-job ratio using means",
                mean_ratio,
                baseline=1.0,
                baseline_label="bare",
                ratio_value=mean_ratio["median"],
                target="<= 1.10",
                met=mean_ratio["median"] <= 1.10,
            ),
            row(
                "client CPU per job, runtime",
                summary(rt_cpu),
                unit="ms",
                baseline=summary(bare_cpu),
                baseline_label="bare client CPU",
                ratio_value=summary([a / b for a, b in zip(rt_cpu, bare_cpu, strict=True)])["median"],
                note="process_time of the client process (the sandbox runs in another process)",
            ),
        ],
        "raw": {
            "iterations": iters,
            "repeats": repeats,
            "warmup": warmup,
            "runtime_median_ms": rt_med,
            "bare_median_ms": bare_med,
            "runtime_mean_ms": rt_mean,
            "bare_mean_ms": bare_mean,
            "paired_ratios": paired,
            "runtime_cpu_ms": rt_cpu,
            "bare_cpu_ms": bare_cpu,
        },
    }


# ---------------------------------------------------------------------------------------------
# 2. cold start
# ---------------------------------------------------------------------------------------------
def cold_start(quick: bool) -> dict[str, Any]:
    """Whole processes, alternated run by run: `actions --json` vs importing the libraries it is compared
    with, and the command people run, `run addDeal`, vs a one-shot `requests.post` script making the same
    call. Both calls go to bench/responder.py (a fast keep-alive server with one canned answer)."""
    runs = 10 if quick else 16
    cli = str(Path(PYTHON).parent / "pipedrive-connect")
    with Responder() as sb:
        post = (
            "import requests; r = requests.post("
            f"'{sb.base_url}/api/v2/deals', json={{'title': 'Order', 'value': 12}},"
            f" headers={{'x-api-token': '{TOKEN}'}}, timeout=(5, 60)); print(r.json()['data']['id'])"
        )
        pairs = [
            (
                "`actions --json`",
                [cli, "actions", "--json"],
                [PYTHON, "-c", "import requests, jsonschema, jinja2, yaml"],
                "python -c 'import requests, jsonschema, jinja2, yaml'",
            ),
            (
                "`run addDeal`",
                [cli, "run", "addDeal", "--input", "title=Order", "--input", "value=12"],
                [PYTHON, "-c", post],
                "python -c 'import requests; requests.post(...)' (same call)",
            ),
        ]
        connection = {"PIPEDRIVE_API_TOKEN": TOKEN, "PIPEDRIVE_BASE_URL": sb.base_url}
        check = subprocess.run(pairs[0][1], capture_output=True, text=True, timeout=60)
        if check.returncode != 0:
            raise RuntimeError(f"actions --json failed: {check.stderr[-1000:]}")
        catalog = json.loads(check.stdout)
        n_actions = len(catalog) if isinstance(catalog, list) else len(catalog.get("actions", catalog))

        def once(cmd, env) -> float:
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60, env=env)
            return time.perf_counter() - t0

        as_is = {**os.environ, **connection}
        cache_dir = tempfile.mkdtemp(prefix="pdc-bench-pycache-")
        warm = {**as_is, "PYTHONPYCACHEPREFIX": cache_dir}
        warm.pop("PYTHONDONTWRITEBYTECODE", None)
        for _, cmd_a, cmd_b, _ in pairs:  # fill the bytecode cache and the declaration cache
            once(cmd_a, warm)
            once(cmd_b, warm)
        rows = []
        raw: dict[str, Any] = {
            "runs": runs,
            "commands": {label: [" ".join(a), " ".join(b)] for label, a, b, _ in pairs},
            "actions_listed": n_actions,
            "server": "bench/responder.py",
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        }
        for label, cmd_a, cmd_b, baseline_label in pairs:
            for variant, env in (("environment as is", as_is), ("warm bytecode cache", warm)):
                a_times, b_times = [], []
                for i in range(runs):
                    first, second = (
                        ((cmd_a, a_times), (cmd_b, b_times)) if i % 2 == 0 else ((cmd_b, b_times), (cmd_a, a_times))
                    )
                    first[1].append(once(first[0], env))
                    second[1].append(once(second[0], env))
                a_s = summary([t * 1e3 for t in a_times])
                b_s = summary([t * 1e3 for t in b_times])
                pair_ratios = summary([a / b for a, b in zip(a_times, b_times, strict=True)])
                r = pair_ratios["median"]  # run by run: a burst of other work hits both commands of a pair
                note = (
                    f"{runs} runs each, alternated; ratio of pairs {pair_ratios['min']:.2f}-{pair_ratios['max']:.2f}"
                    f" (median {pair_ratios['median']:.2f})"
                )
                if label == "`actions --json`":
                    note += f"; {n_actions} actions listed"
                else:
                    note += "; both POST to bench/responder.py on loopback"
                if variant == "environment as is" and os.environ.get("PYTHONDONTWRITEBYTECODE"):
                    note += "; PYTHONDONTWRITEBYTECODE=1 here: the project's own modules are compiled on every start"
                if variant == "warm bytecode cache":
                    note += "; PYTHONPYCACHEPREFIX in /tmp, warmed once"
                rows.append(
                    row(
                        f"cold start {label} ({variant})",
                        a_s,
                        unit="ms",
                        baseline=b_s,
                        baseline_label=baseline_label,
                        ratio_value=r,
                        target="ratio <= 1.5",
                        met=r is not None and r <= 1.5,
                        note=note,
                    )
                )
                raw[f"{label} {variant}"] = {"cli_ms": a_s["values"], "baseline_ms": b_s["values"]}
        shutil.rmtree(cache_dir, ignore_errors=True)
    return {"rows": rows, "raw": raw}


# ---------------------------------------------------------------------------------------------
# 3. fetch everything
# ---------------------------------------------------------------------------------------------
def _child(mode: str, sb: SandboxProcess, trace: bool) -> dict[str, Any]:
    sb.reset()
    args = [PYTHON, str(BENCH_DIR / "fetch_child.py"), mode, sb.base_url, sb.token] + (["--trace"] if trace else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"fetch child {mode} failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_requests"] = sb.stats()["requests"] - 1  # minus the warm-up request
    return result


def fetch_all(quick: bool) -> dict[str, Any]:
    """All deals of a 5,000- and a 20,000-deal sandbox: getDeals fetchAll, client.paginate, bare cursor walk."""
    sizes = [5000, 20000]
    repeats = 1 if quick else 3
    modes = ["bare", "paginate", "runtime", "tofile"]
    raw: dict[str, Any] = {"repeats_untraced": repeats, "repeats_traced": 1, "sizes": sizes, "runs": []}
    rows = []
    results: dict[tuple, dict[str, Any]] = {}
    for n in sizes:
        with SandboxProcess(TOKEN, generate={"deals": n}) as sb:
            for rep in range(repeats):
                order = modes if rep % 2 == 0 else list(reversed(modes))
                for mode in order:
                    res = _child(mode, sb, trace=False)
                    res.update(n=n, rep=rep)
                    raw["runs"].append(res)
            for mode in modes:
                res = _child(mode, sb, trace=True)
                res.update(n=n, rep="traced")
                raw["runs"].append(res)
        for mode in modes:
            runs = [r for r in raw["runs"] if r["n"] == n and r["mode"] == mode]
            untraced = [r for r in runs if r["rep"] != "traced"]
            traced = [r for r in runs if r["rep"] == "traced"]
            results[(n, mode)] = {
                "wall": summary([r["wall_s"] for r in untraced]),
                "rss": summary([r["rss_growth_mb"] for r in untraced]),
                "trace": summary([r["tracemalloc_peak_mb"] for r in traced]),
                "calls": summary([r["calls"] for r in untraced]),
                "server_calls": summary([r["server_requests"] for r in untraced]),
                "items": untraced[0]["items"],
            }
    for n in sizes:
        bare = results[(n, "bare")]
        floor_calls = math.ceil(n / 500)
        for mode, label in (
            ("runtime", "getDeals fetchAll (runtime)"),
            ("tofile", "getDeals fetchAll saveToFile"),
            ("paginate", "client.paginate (stream)"),
        ):
            res = results[(n, mode)]
            ok_items = res["items"] == n
            rows.append(
                row(
                    f"{label} N={n}: API calls",
                    res["server_calls"],
                    baseline=floor_calls,
                    baseline_label="ceil(N/500)",
                    target=f"== {floor_calls}",
                    met=res["server_calls"]["max"] == floor_calls and ok_items,
                    note=f"{res['items']} items; runtime counted {res['calls']['median']:.0f}",
                )
            )
            rows.append(
                row(
                    f"{label} N={n}: wall",
                    res["wall"],
                    unit="s",
                    baseline=bare["wall"],
                    baseline_label="bare Session cursor walk",
                    note=(
                        f"{repeats} untraced runs, fresh process each" if n == sizes[0] and mode == "runtime" else ""
                    ),
                )
            )
            rows.append(
                row(
                    f"{label} N={n}: peak RSS growth",
                    res["rss"],
                    unit="MB",
                    baseline=bare["rss"],
                    baseline_label="bare walk, pages discarded",
                    target="<= 50 MB, flat in N",
                    met=res["rss"]["max"] <= 50,
                    note=("ru_maxrss after the fetch - RSS at idle" if n == sizes[0] and mode == "runtime" else ""),
                )
            )
            rows.append(
                row(
                    f"{label} N={n}: tracemalloc peak",
                    res["trace"],
                    unit="MB",
                    baseline=bare["trace"],
                    baseline_label="bare walk",
                    target="<= 50 MB, flat in N",
                    met=res["trace"]["max"] <= 50,
                    note="1 traced run per case" if n == sizes[0] and mode == "runtime" else "",
                )
            )
    # growth between the sizes: flat means ~1.0
    for mode in ("runtime", "tofile", "paginate", "bare"):
        small, big = results[(sizes[0], mode)]["trace"]["median"], results[(sizes[1], mode)]["trace"]["median"]
        rows.append(
            row(
                f"{mode}: tracemalloc peak 20k / 5k",
                ratio(big, small),
                baseline=1.0,
                baseline_label="flat",
                ratio_value=ratio(big, small),
                target="~1 (flat)" if mode != "runtime" else "",
                met=(ratio(big, small) or 99) < 1.5 if mode != "runtime" else None,
                note="fetchAll returns a list, so it grows with N" if mode == "runtime" else "",
            )
        )
    raw["summary"] = {f"{n}:{m}": v for (n, m), v in results.items()}
    return {"rows": rows, "raw": raw}


# ---------------------------------------------------------------------------------------------
# 4. throughput under a burst limit
# ---------------------------------------------------------------------------------------------
def throughput(quick: bool) -> dict[str, Any]:
    """1,000 addDeal jobs, 8 workers, through the hot-folder runner against burst_limit=80 per 2 s."""
    from pipedrive_connect.flows import Flow
    from pipedrive_connect.runner import HotFolder, WatchSettings

    jobs, repeats, workers, limit, window = (200, 1, 8, 80, 2.0) if quick else (1000, 3, 8, 80, 2.0)
    allowed_rate = limit / window
    ideal_wall = math.floor((jobs - 1) / limit) * window  # the last request cannot go earlier than this
    runs = []
    for rep in range(repeats):
        token = f"{TOKEN}-tp{rep}"  # a fresh token: a fresh process-wide client limiter and server window
        with SandboxProcess(token, burst_limit=limit) as sb:
            work = Path(tempfile.mkdtemp(prefix="pdc-bench-tp-"))
            try:
                in_dir, out_dir = work / "in", work / "out"
                in_dir.mkdir()
                for i in range(jobs):
                    (in_dir / f"job-{i:05d}.json").write_text(
                        json.dumps({"data": {"title": f"Order {i}", "value": str(100 + i)}})
                    )
                rt = make_runtime(sb.base_url, token, out_dir=work / "rt")
                flow = Flow.from_dict(
                    {
                        "name": "bench",
                        "steps": [
                            {
                                "id": "deal",
                                "action": "addDeal",
                                "inputs": {"title": "{{ job.data.title }}", "value": "{{ job.data.value }}"},
                            }
                        ],
                    },
                    rt,
                )
                folder = HotFolder(rt, flow, in_dir, out_dir, settings=WatchSettings(workers=workers, settle=0))
                sb.reset()
                t0 = time.perf_counter()
                stats = folder.run(once=True)
                wall = time.perf_counter() - t0
                server = sb.stats()
                log = sb.requests_log()
                ok = sum(1 for r in log if r["status"] and 200 <= r["status"] < 300)
                n429 = sum(1 for r in log if r["status"] == 429)
                delivered = len(list((out_dir / "success").glob("*.json")))
                failed = len(list((out_dir / "error").glob("*.json")))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        runs.append(
            {
                "wall_s": wall,
                "jobs_per_s": jobs / wall,
                "efficiency": ideal_wall / wall,
                "rate_fraction": (jobs / wall) / allowed_rate,
                "requests": server["requests"],
                "ok": ok,
                "status_429": n429,
                "stats_429": server["status_429"],
                "share_429": n429 / max(1, len(log)),
                "failed_jobs": failed,
                "delivered": delivered,
                "summary": stats.summary(),
                "limiter_waited_s": getattr(rt.client.limiter, "waited", None),
            }
        )
    eff = summary([r["efficiency"] for r in runs])
    share = summary([r["share_429"] * 100 for r in runs])
    failed = summary([r["failed_jobs"] for r in runs])
    rate = summary([r["jobs_per_s"] for r in runs])
    return {
        "rows": [
            row(
                f"{jobs} jobs / {workers} workers: achieved rate",
                rate,
                unit="jobs/s",
                baseline=allowed_rate,
                baseline_label=f"allowed {limit}/{window:g}s",
                note=f"{repeats} runs; wall median {statistics.median(r['wall_s'] for r in runs):.1f}s",
            ),
            row(
                "rate as fraction of allowed (ideal wall / wall)",
                eff,
                baseline=ideal_wall,
                baseline_label=f"ideal wall {ideal_wall:.0f}s",
                ratio_value=eff["median"],
                target=">= 0.95",
                met=eff["median"] >= 0.95,
                note="ideal wall = floor((N-1)/limit) x 2 s",
            ),
            row("failed jobs", failed, baseline=jobs, baseline_label="jobs", target="0", met=failed["max"] == 0),
            row(
                "requests answered 429",
                share,
                unit="%",
                baseline=summary([r["requests"] for r in runs]),
                baseline_label="requests",
                ratio_value=share["median"] / 100,
                target="<= 1 %",
                met=share["max"] <= 1.0,
                note="counted from the sandbox request log",
            ),
        ],
        "raw": {
            "jobs": jobs,
            "workers": workers,
            "burst_limit": limit,
            "window_s": window,
            "repeats": repeats,
            "ideal_wall_s": ideal_wall,
            "runs": runs,
        },
    }


# ---------------------------------------------------------------------------------------------
# 5. token budget
# ---------------------------------------------------------------------------------------------
# The cheapest official operation for each item of the reference workload (candidates; the floor
# takes the lowest x-token-cost among those present in the spec files).
FLOOR_OPS = {
    "create deal": [("v2", "addDeal"), ("v1", "addDeal")],
    "create person": [("v2", "addPerson"), ("v1", "addPerson")],
    "create note": [("v1", "addNote")],
    "update deal": [("v2", "updateDeal"), ("v1", "updateDeal")],
    "list deals (per page)": [("v2", "getDeals"), ("v1", "getDeals")],
    "list persons (per page)": [("v2", "getPersons"), ("v1", "getPersons")],
    "list notes (per page)": [("v1", "getNotes")],
    "search": [("v2", "searchDeals"), ("v2", "searchPersons"), ("v2", "searchItem")],
    "merge deals": [("v1", "mergeDeals")],
}
# Pipedrive's published v1 table (pipedrive-api-facts.md, section 2): create/update 10, list 20, search 40, merge 40.
V1_COSTS = {
    "create deal": 10,
    "create person": 10,
    "create note": 10,
    "update deal": 10,
    "list deals (per page)": 20,
    "list persons (per page)": 20,
    "list notes (per page)": 20,
    "search": 40,
    "merge deals": 40,
}
# Fallback when the spec files are absent: facts file, "v2 is about half" (section 2).
FACTS_FLOOR = {
    "create deal": 5,
    "create person": 5,
    "create note": 10,
    "update deal": 5,
    "list deals (per page)": 10,
    "list persons (per page)": 10,
    "list notes (per page)": 20,
    "search": 20,
    "merge deals": 40,
}
# The official specs beside the checkout (as in CI), or wherever $PIPEDRIVE_OPENAPI_DIR points.
SPEC_DIR = Path(
    os.environ.get("PIPEDRIVE_OPENAPI_DIR") or Path(__file__).resolve().parents[2] / "shared" / "pipedrive-openapi"
)


def spec_costs() -> tuple[dict[tuple[str, str], int], str]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    costs: dict[tuple[str, str], int] = {}
    for version in ("v1", "v2"):
        path = SPEC_DIR / f"{version}.yaml"
        if not path.exists():
            return {}, "pipedrive-api-facts.md table (spec files not found)"
        with path.open(encoding="utf-8") as fh:
            spec = yaml.load(fh, Loader=loader)
        for item in spec.get("paths", {}).values():
            for op in item.values():
                if isinstance(op, dict) and "operationId" in op and "x-token-cost" in op:
                    costs[(version, op["operationId"])] = int(op["x-token-cost"])
    return costs, f"x-token-cost from {SPEC_DIR}/v1.yaml and v2.yaml"


def floor_costs() -> tuple[dict[str, int], dict[str, str], str]:
    costs, source = spec_costs()
    if not costs:
        return dict(FACTS_FLOOR), {k: "facts" for k in FACTS_FLOOR}, source
    unit, chosen = {}, {}
    for item, candidates in FLOOR_OPS.items():
        present = [(costs[c], f"{c[0]} {c[1]}") for c in candidates if c in costs]
        if not present:
            unit[item], chosen[item] = FACTS_FLOOR[item], "facts (not in spec)"
        else:
            unit[item], chosen[item] = min(present)
    return unit, chosen, source


def token_budget(quick: bool) -> dict[str, Any]:
    """The reference workload through the runtime, costed from Outcome.cost, next to the floor and the v1 way."""
    repeats = 1 if quick else 3
    unit, chosen, source = floor_costs()
    runs = []
    for rep in range(repeats):
        with SandboxProcess(f"{TOKEN}-tb{rep}") as sb:
            rt = make_runtime(sb.base_url, sb.token)
            counts: dict[str, int] = {}
            spent: dict[str, int] = {}
            calls: dict[str, int] = {}

            def run(item: str, action: str, inputs: dict[str, Any], rt=rt, spent=spent, calls=calls, counts=counts):
                outcome = rt.run(action, inputs=inputs)
                if outcome.route != "success":
                    raise RuntimeError(f"{action} failed: {outcome.error}")
                spent[item] = spent.get(item, 0) + outcome.cost
                calls[item] = calls.get(item, 0) + outcome.calls
                counts[item] = counts.get(item, 0) + 1
                return outcome.result

            sb.reset()
            t0 = time.perf_counter()
            deals = [
                run("create deal", "addDeal", {"title": f"Bench deal {i}", "value": str(i)})["id"] for i in range(100)
            ]
            for i in range(100):
                run("create person", "addPerson", {"name": f"Bench Person{i}", "emails": f"p{i}@example.com"})
            for i in range(100):
                run("create note", "addNote", {"content": f"Note {i}", "dealId": str(deals[i])})
            for i, deal in enumerate(deals):
                run("update deal", "updateDeal", {"id": str(deal), "value": str(1000 + i)})
            listed = {}
            for item, action in (
                ("list deals (per page)", "getDeals"),
                ("list persons (per page)", "getPersons"),
                ("list notes (per page)", "getNotes"),
            ):
                listed[item] = len(run(item, action, {"fetchAll": True}))
                counts[item] = calls[item]  # a list item is one page: the floor is per page
            for i in range(10):
                run("search", "searchDeals", {"term": f"Bench deal {i}"})
                run("search", "searchPersons", {"term": f"Person{i}"})
            for i in range(10):
                run("merge deals", "mergeDeals", {"id": str(deals[2 * i]), "mergeWithId": str(deals[2 * i + 1])})
            wall = time.perf_counter() - t0
            server = sb.stats()
        floor_pages = {k: pages(v) for k, v in listed.items()}
        floor_counts = {**counts, **floor_pages}
        floor = sum(unit[k] * floor_counts[k] for k in unit)
        v1 = sum(V1_COSTS[k] * floor_counts[k] for k in V1_COSTS)
        runs.append(
            {
                "runtime_cost": sum(spent.values()),
                "runtime_calls": sum(calls.values()),
                "server_tokens": server["tokens_spent"],
                "server_requests": server["requests"],
                "floor": floor,
                "floor_calls": sum(floor_counts.values()),
                "v1": v1,
                "wall_s": wall,
                "per_item": {
                    k: {
                        "count": floor_counts[k],
                        "runtime_cost": spent.get(k, 0),
                        "runtime_calls": calls.get(k, 0),
                        "floor_unit": unit[k],
                        "floor_op": chosen[k],
                        "v1_unit": V1_COSTS[k],
                    }
                    for k in unit
                },
                "listed": listed,
            }
        )
    cost = summary([r["runtime_cost"] for r in runs])
    floor = summary([r["floor"] for r in runs])
    v1 = summary([r["v1"] for r in runs])
    r_floor, r_v1 = ratio(cost["median"], floor["median"]), ratio(cost["median"], v1["median"])
    return {
        "rows": [
            row(
                "reference workload tokens (runtime)",
                cost,
                unit="tokens",
                baseline=floor,
                baseline_label="floor (cheapest official ops)",
                target="== floor",
                met=cost["max"] == floor["median"],
                note=f"server charged {runs[0]['server_tokens']}; floor costs: {source}",
            ),
            row(
                "reference workload tokens vs v1 way",
                cost,
                unit="tokens",
                baseline=v1,
                baseline_label="v1 endpoints (old component)",
                target="ratio <= 0.65",
                met=r_v1 <= 0.65,
            ),
            row(
                "reference workload API calls",
                summary([r["runtime_calls"] for r in runs]),
                baseline=summary([r["floor_calls"] for r in runs]),
                baseline_label="floor calls",
                target="== floor",
                met=runs[0]["runtime_calls"] == runs[0]["floor_calls"],
            ),
            row(
                "reference workload wall",
                summary([r["wall_s"] for r in runs]),
                unit="s",
                note=f"{repeats} runs, fresh sandbox each",
            ),
        ],
        "raw": {
            "repeats": repeats,
            "cost_source": source,
            "floor_units": unit,
            "floor_ops": chosen,
            "v1_units": V1_COSTS,
            "runs": runs,
            "ratio_floor": r_floor,
            "ratio_v1": r_v1,
        },
    }


# ---------------------------------------------------------------------------------------------
# 6. picklists
# ---------------------------------------------------------------------------------------------
def picklists(quick: bool) -> dict[str, Any]:
    """selectDeal over 10,000 deals: first call (cache cold) vs a bare GET; repeated call (cache hit)."""
    from pipedrive_connect.runtime import Runtime
    from pipedrive_connect.sandbox.seed import _WORDS

    first_reps, hit_reps = (5, 100) if quick else (15, 500)
    term = _WORDS[0]
    rows, raw = [], {"first_call_repeats": first_reps, "cache_hit_repeats": hit_reps, "term": term}
    with SandboxProcess(TOKEN, generate={"deals": 10000}) as sb:
        rt = make_runtime(sb.base_url, TOKEN)
        session = sb.api_session()
        rt.picklist("selectDeal")  # warm the connection and the bundle
        for label, search, bare_path, bare_params in (
            ("no search", None, "/api/v2/deals", {"limit": 100}),
            (f"search '{term}'", term, "/api/v2/deals/search", {"limit": 100, "term": term}),
        ):
            firsts, bares, calls = [], [], []
            for i in range(first_reps):
                fresh = Runtime(rt.bundle, client=rt.client, out_dir=rt.out_dir)  # empty cache, same client
                sb.reset()

                def bare(bare_path=bare_path, bare_params=bare_params, bares=bares):
                    t0 = time.perf_counter()
                    response = session.get(sb.base_url + bare_path, params=bare_params)
                    response.raise_for_status()
                    response.json()
                    bares.append((time.perf_counter() - t0) * 1e3)

                if i % 2:
                    bare()
                t0 = time.perf_counter()
                page = fresh.picklist("selectDeal", search=search)
                firsts.append((time.perf_counter() - t0) * 1e3)
                if not i % 2:
                    bare()
                calls.append(page.calls)
            n_options = len(page.options)
            sb.reset()
            hits = []
            for _ in range(hit_reps):
                t0 = time.perf_counter()
                page = fresh.picklist("selectDeal", search=search)
                hits.append((time.perf_counter() - t0) * 1e3)
                assert page.calls == 0
            hit_server = sb.stats()["requests"]
            f_s, b_s, h_s = summary(firsts), summary(bares), summary(hits)
            rows.append(
                row(
                    f"selectDeal {label}: first call",
                    f_s,
                    unit="ms",
                    baseline=b_s,
                    baseline_label="bare GET of the same page",
                    note=f"{first_reps} runs; {n_options} options; calls {summary(calls)['median']:.0f}",
                )
            )
            rows.append(
                row(
                    f"selectDeal {label}: first call API calls",
                    summary(calls),
                    baseline=1,
                    baseline_label="one request",
                    target="1",
                    met=max(calls) == 1,
                )
            )
            rows.append(
                row(
                    f"selectDeal {label}: cache hit",
                    h_s,
                    unit="ms",
                    baseline=b_s,
                    baseline_label="bare GET of the same page",
                    target="<= 5 ms",
                    met=h_s["median"] <= 5,
                    note=f"{hit_reps} repeated calls",
                )
            )
            rows.append(
                row(
                    f"selectDeal {label}: cache hit API calls",
                    hit_server,
                    baseline=hit_reps,
                    baseline_label="repeated calls",
                    target="0",
                    met=hit_server == 0,
                    note="sandbox request count during the repeated calls",
                )
            )
            raw[label] = {
                "first_ms": firsts,
                "bare_ms": bares,
                "hit_ms": hits,
                "first_calls": calls,
                "hit_server_requests": hit_server,
                "options": n_options,
            }
        session.close()
    return {"rows": rows, "raw": raw}


# ---------------------------------------------------------------------------------------------
# 7. against a peer
# ---------------------------------------------------------------------------------------------
def _peer_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("pipedrive-python-lib")
    except Exception:
        return None


def _verdict(ratios: list[float]) -> str:
    """ "faster" or "slower" only when a sign test over the pairs supports it (one-sided p < 0.05:
    10 of 12 pairs, 12 of 16); otherwise the pairs do not show a difference."""
    n, wins = len(ratios), sum(r < 1 for r in ratios)
    needed = {12: 10, 13: 10, 14: 11, 15: 12, 16: 12}.get(n, math.ceil(0.8 * n))
    if wins >= needed:
        return f"faster ({wins} of {n} pairs)"
    if n - wins >= needed:
        return f"slower ({n - wins} of {n} pairs)"
    return f"no difference shown ({wins} of {n} pairs faster)"


def peer(quick: bool) -> dict[str, Any]:
    """Notes and leads created and listed, files uploaded and downloaded, against the sandbox: this
    connector vs pipedrive-python-lib and vs a hand-written `requests` client, in at least 12 rounds,
    the three in rotated order each round; each round gives one ratio per peer."""
    peer_version = _peer_version()
    rounds = 12 if quick else 16
    n_notes, n_leads, n_files = (10, 10, 4) if quick else (50, 50, 20)
    work = Path(tempfile.mkdtemp(prefix="pdc-bench-peer-"))
    payload = bytes(range(256)) * 64  # 16 KiB, binary
    upload = work / "upload.bin"
    upload.write_bytes(payload)
    with SandboxProcess(TOKEN, allow_query_token=True) as sb:
        setup = sb.api_session()

        def fresh_parents() -> tuple[int, int]:
            deal = setup.post(sb.base_url + "/api/v2/deals", json={"title": "peer bench"}).json()["data"]["id"]
            person = setup.post(sb.base_url + "/api/v2/persons", json={"name": "Peer Bench"}).json()["data"]["id"]
            return deal, person

        rt = make_runtime(sb.base_url, TOKEN, out_dir=work / "rt")
        rt.run("getCurrentUser")  # warm up: bundle, connection

        def connector(deal: int, person: int) -> dict[str, int]:
            def ok(action, inputs):
                outcome = rt.run(action, inputs=inputs)
                if outcome.route != "success":
                    raise RuntimeError(f"{action}: {outcome.error}")
                return outcome.result

            for i in range(n_notes):
                ok("addNote", {"content": f"note {i}", "dealId": str(deal)})
            notes = ok("getNotes", {"dealId": str(deal), "fetchAll": True})
            for i in range(n_leads):
                ok("addLead", {"title": f"lead {i}", "personId": str(person)})
            leads = ok("getLeads", {"personId": str(person), "fetchAll": True})
            got = 0
            for i in range(n_files):
                file_id = ok(
                    "addFile",
                    {"entityType": "deal", "entityId": str(deal), "file": str(upload), "fileName": f"f{i}.bin"},
                )["id"]
                got += ok("downloadFile", {"id": str(file_id)})["size"] == len(payload)
            return {"notes": len(notes), "leads": len(leads), "files_ok": got}

        # a careful engineer's own client: one tuned keep-alive session, the token in a header
        session = sb.api_session()
        session.trust_env = False
        v1 = sb.base_url + "/api/v1"

        def every(path: str, params: dict[str, Any]) -> list[Any]:
            items: list[Any] = []
            start = 0
            while True:
                response = session.get(v1 + path, params={**params, "start": start, "limit": 500}, timeout=60)
                response.raise_for_status()
                body = response.json()
                items += body["data"] or []
                more = (body.get("additional_data") or {}).get("pagination") or {}
                if not more.get("more_items_in_collection"):
                    return items
                start = more["next_start"]

        def hand_written(deal: int, person: int) -> dict[str, int]:
            for i in range(n_notes):
                session.post(
                    v1 + "/notes", json={"content": f"note {i}", "deal_id": deal}, timeout=60
                ).raise_for_status()
            notes = every("/notes", {"deal_id": deal})
            for i in range(n_leads):
                session.post(
                    v1 + "/leads", json={"title": f"lead {i}", "person_id": person}, timeout=60
                ).raise_for_status()
            leads = every("/leads", {"person_id": person})
            got = 0
            for i in range(n_files):
                with upload.open("rb") as fh:
                    created = session.post(
                        v1 + "/files", files={"file": (f"f{i}.bin", fh)}, data={"deal_id": deal}, timeout=60
                    )
                created.raise_for_status()
                body = session.get(v1 + f"/files/{created.json()['data']['id']}/download", timeout=60)
                got += body.content == payload
            return {"notes": len(notes), "leads": len(leads), "files_ok": got}

        clients: dict[str, Callable[[int, int], dict[str, int]]] = {"connector": connector, "requests": hand_written}
        labels = {"requests": "a hand-written requests client (tuned session, same endpoints)"}
        if peer_version is not None:
            from pipedrive.client import Client

            client = Client(domain=sb.base_url)
            client.set_api_token(TOKEN)

            def library(deal: int, person: int) -> dict[str, int]:
                for i in range(n_notes):
                    client.notes.create_note({"content": f"note {i}", "deal_id": deal})
                notes, start = [], 0
                while True:  # the library has no paging helper: walk start/limit by hand
                    page = client.notes.get_all_notes(params={"deal_id": deal, "start": start, "limit": 500})
                    notes += page["data"] or []
                    more = (page.get("additional_data") or {}).get("pagination") or {}
                    if not more.get("more_items_in_collection"):
                        break
                    start = more["next_start"]
                for i in range(n_leads):
                    client.leads.create_lead({"title": f"lead {i}", "person_id": person})
                leads, start = [], 0
                while True:
                    page = client.leads.get_all_leads(params={"person_id": person, "start": start, "limit": 500})
                    leads += page["data"] or []
                    more = (page.get("additional_data") or {}).get("pagination") or {}
                    if not more.get("more_items_in_collection"):
                        break
                    start = more["next_start"]
                got = 0
                for i in range(n_files):  # no files API in the library: its generic Client._post/_get
                    with upload.open("rb") as fh:
                        created = client._post(
                            client.BASE_URL + "files", files={"file": (f"f{i}.bin", fh)}, data={"deal_id": deal}
                        )
                    body = client._get(client.BASE_URL + f"files/{created['data']['id']}/download")
                    got += len(body.encode("utf-8", "surrogateescape")) > 0  # the library decodes bytes to text
                return {"notes": len(notes), "leads": len(leads), "files_ok": got}

            clients["library"] = library
            labels["library"] = f"pipedrive-python-lib {peer_version}"

        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
        names = list(clients)
        for rnd in range(rounds):
            shift = rnd % len(names)
            for name in names[shift:] + names[:shift]:  # each client goes first, second and last in turn
                deal, person = fresh_parents()
                sb.reset()
                t0 = time.perf_counter()
                counts = clients[name](deal, person)
                wall = time.perf_counter() - t0
                stats = sb.stats()
                query_token = sum(1 for r in sb.requests_log() if "api_token" in (r.get("query") or {}))
                runs[name].append(
                    {
                        "wall_s": wall,
                        "requests": stats["requests"],
                        "tokens": stats["tokens_spent"],
                        "query_token_requests": query_token,
                        **counts,
                    }
                )
        session.close()
        setup.close()
    shutil.rmtree(work, ignore_errors=True)
    c_wall = summary([r["wall_s"] for r in runs["connector"]])
    rows = []
    raw: dict[str, Any] = {
        "peer_version": peer_version,
        "rounds": rounds,
        "sizes": [n_notes, n_leads, n_files],
        "runs": runs,
    }
    for name in [n for n in names if n != "connector"]:
        p_wall = summary([r["wall_s"] for r in runs[name]])
        ratios = [c["wall_s"] / p["wall_s"] for c, p in zip(runs["connector"], runs[name], strict=True)]
        pair = summary(ratios)
        quartiles = statistics.quantiles(ratios, n=4)
        verdict = _verdict(ratios)
        raw[f"ratios vs {name}"] = ratios
        rows.append(
            row(
                f"notes/leads/files ({n_notes}/{n_leads}/{n_files}) vs {name}: wall",
                c_wall,
                unit="s",
                baseline=p_wall,
                baseline_label=labels[name],
                ratio_value=pair["median"],
                target="report; 'faster' only by a sign test",
                met=None,
                note=(
                    f"{rounds} alternated rounds; ratio per round median {pair['median']:.2f}, "
                    f"quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}, "
                    f"spread {pair['min']:.2f}-{pair['max']:.2f}: {verdict}"
                ),
            )
        )
        rows.append(
            row(
                f"notes/leads/files vs {name}: API calls",
                summary([r["requests"] for r in runs["connector"]]),
                baseline=summary([r["requests"] for r in runs[name]]),
                baseline_label=name,
            )
        )
    if peer_version is None:
        rows.append(
            row("peer comparison (pipedrive-python-lib)", None, note="SKIPPED: pip install 'pipedrive-connect[bench]'")
        )
    else:
        qt = runs["library"][0]["query_token_requests"]
        rows[-1]["note"] = f"the sandbox allows ?api_token= because pipedrive-python-lib sends it ({qt} requests)"
    return {"rows": rows, "raw": raw}


# ---------------------------------------------------------------------------------------------
# 8. the hot folder: the cost of durability
# ---------------------------------------------------------------------------------------------
def _hot_folder_child(sb: SandboxProcess, mode: str, jobs: int, workers: int, kb: int = 0) -> dict[str, Any]:
    command = [
        PYTHON,
        str(BENCH_DIR / "hot_folder_child.py"),
        mode,
        sb.base_url,
        TOKEN,
        str(jobs),
        str(workers),
        str(kb),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["delivered"] != jobs:
        raise RuntimeError(f"{mode} delivered {result['delivered']} of {jobs}")
    return result


def hot_folder(quick: bool) -> dict[str, Any]:
    """1,000 one-step addDeal jobs through `watch --once` (claim, journal, fsyncs, atomic outputs)
    vs a plain thread-pool loop with tuned Sessions doing the same POSTs and writing one file per job,
    each in a fresh process, alternated, 1 and 4 workers; then jobs carrying 1 MB of data against
    small ones (time per job of the run alone, 1 worker)."""
    jobs, repeats = (200, 2) if quick else (1000, 3)
    rows, raw = [], {}
    with SandboxProcess(TOKEN) as sb:
        for workers in (1, 4):
            measured: dict[str, list[float]] = {"runner": [], "loop": []}
            for rep in range(repeats):
                for mode in ("runner", "loop") if rep % 2 == 0 else ("loop", "runner"):
                    measured[mode].append(_hot_folder_child(sb, mode, jobs, workers)["jobs_per_s"])
            runner, loop = summary(measured["runner"]), summary(measured["loop"])
            share = ratio(runner["median"], loop["median"])
            raw[f"workers={workers}"] = measured
            rows.append(
                row(
                    f"watch --once, {jobs} one-step jobs, {workers} worker(s)",
                    runner,
                    unit="jobs/s",
                    baseline=loop,
                    baseline_label=f"plain {workers}-thread Session loop",
                    ratio_value=share,
                    target="ratio >= 0.85" if workers == 4 else "",
                    met=(share is not None and share >= 0.85) if workers == 4 else None,
                    note=f"{repeats} runs each, alternated; ratio = runner / loop",
                )
            )
        sized: dict[int, list[float]] = {0: [], 1024: []}
        count = 20 if quick else 100
        for rep in range(repeats):
            for kb in (0, 1024) if rep % 2 == 0 else (1024, 0):
                result = _hot_folder_child(sb, "runner", count, 1, kb)
                sized[kb].append(1000 * result["run_seconds"] / count)
        small, big = summary(sized[0]), summary(sized[1024])
        raw["ms_per_job_by_kb"] = sized
        size_ratio = ratio(big["median"], small["median"])
        rows.append(
            row(
                f"watch --once, a job carrying 1 MB of data vs a small one ({count} jobs, 1 worker)",
                big,
                unit="ms/job",
                baseline=small,
                baseline_label="the same one-step job without the 1 MB",
                ratio_value=size_ratio,
                target="ratio <= 5",
                met=size_ratio is not None and size_ratio <= 5,
                note=f"{repeats} runs each, alternated; time of the run alone (no start-up)",
            )
        )
    return {"rows": rows, "raw": raw}


# ---------------------------------------------------------------------------------------------
# 9. workers through Redis: throughput against the number of worker processes
# ---------------------------------------------------------------------------------------------
class RedisProcess:
    """redis-server on a free loopback port with the settings docs/scale.md asks for (AOF, fsync always)."""

    def __enter__(self) -> RedisProcess:
        import socket

        import redis

        program = shutil.which("redis-server")
        if program is None:
            raise RuntimeError("redis-server is not installed (scripts/install-system-packages)")
        self.folder = tempfile.mkdtemp(prefix="bench-redis-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}/0"
        command = [program, "--port", str(port), "--bind", "127.0.0.1", "--dir", self.folder]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port, socket_connect_timeout=1)
        for _ in range(200):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        shutil.rmtree(self.folder, ignore_errors=True)


def _allowed_share(log: list[dict], limit: int) -> tuple[float, float]:
    """(requests per 2-second window as a share of the limit, share of requests answered 429), from the
    sandbox's request log. The first window is left out: an empty window lets a burst through at once."""
    times = sorted(entry["time"] for entry in log)
    steady = [t for t in times if t >= times[0] + 2.0]
    per_window = (len(steady) - 1) / (steady[-1] - steady[0]) * 2.0
    return per_window / limit, sum(entry["status"] == 429 for entry in log) / len(log)


def workers(quick: bool) -> dict[str, Any]:
    """One-step addOrganization jobs run by 1, 2, 4 and 8 `pipedrive-connect worker` processes (3 threads
    each) through one Redis, for one account and for four accounts (one sandbox each, 60 requests per
    2-second window), measured by the sandboxes' own request logs as a share of the allowed rate."""
    from pipedrive_connect.flows import Flow
    from pipedrive_connect.queue import Queue, connect

    limit, per_account = 60, (150 if quick else 400)
    counts = (1, 2, 4) if quick else (1, 2, 4, 8)
    rows, raw = [], {}
    flow = {
        "name": "bench",
        "steps": [{"id": "org", "action": "addOrganization", "inputs": {"name": "{{ job.data.n }}"}}],
    }
    for accounts in (1, 4):
        for n in counts:
            with RedisProcess() as rq, tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
                folder = Path(tmp)
                (folder / "flow.json").write_text(json.dumps(flow))
                (folder / "tenants").mkdir()
                sandboxes = [SandboxProcess(f"{TOKEN}-{a}", burst_limit=limit, seed=a + 1) for a in range(accounts)]
                for sb in sandboxes:
                    sb.__enter__()
                procs = []
                try:
                    for a, sb in enumerate(sandboxes):
                        (folder / "tenants" / f"t{a}.yaml").write_text(
                            f"type: apiToken\napi_token: {sb.token}\nbase_url: {sb.base_url}\n"
                        )
                    command = [PYTHON, "-m", "pipedrive_connect.cli", "worker", "--queue", rq.url, "--quiet"]
                    command += ["--connections", str(folder / "tenants"), "--out", str(folder / "out")]
                    procs = [
                        subprocess.Popen([*command, "--concurrency", "3"], stdout=subprocess.DEVNULL) for _ in range(n)
                    ]
                    queue = Queue(connect(rq.url))
                    flow_checked = Flow.from_dict(flow)
                    for i in range(per_account):  # interleaved: every account has jobs waiting all along
                        for a in range(accounts):
                            queue.enqueue(flow, flow_checked, {"data": {"n": f"bench {a} {i}"}}, connection=f"t{a}")
                    total = per_account * accounts
                    deadline = time.monotonic() + 600
                    while time.monotonic() < deadline:
                        done = sum(len(list((folder / "out" / r).glob("*.json"))) for r in ("success", "error"))
                        if done >= total:
                            break
                        time.sleep(0.5)
                    else:
                        raise RuntimeError(f"{done} of {total} jobs routed in 600 s")
                    logs = []
                    for sb in sandboxes:
                        log = sb.control.get(sb.base_url + "/_sandbox/requests").json()["data"]["requests"]
                        logs.append([e for e in log if e["path"].startswith("/api/")])
                finally:
                    for proc in procs:
                        proc.terminate()
                    for proc in procs:
                        proc.wait(timeout=60)
                    for sb in sandboxes:
                        sb.__exit__(None, None, None)
            share, refused = _allowed_share([e for log in logs for e in log], limit * accounts)  # all together
            raw[f"accounts={accounts},workers={n}"] = {"each": [_allowed_share(log, limit) for log in logs]}
            rows.append(
                row(
                    f"{accounts} account(s), {n} worker(s): share of the allowed rate",
                    round(share, 3),
                    unit="ratio",
                    baseline_label=f"{accounts} x {limit} requests per 2 s",
                    note=f"{per_account * accounts} jobs; {refused:.2%} answered 429",
                )
            )


# replicate: deals and persons into SQLite
# ---------------------------------------------------------------------------------------------
def _replicate_child(mode: str, sb: SandboxProcess, trace: bool, latency: float = 0.0) -> dict[str, Any]:
    sb.reset()
    folder = tempfile.mkdtemp(prefix="pdc-bench-replica-")
    try:
        args = [PYTHON, str(BENCH_DIR / "replicate_child.py"), mode, sb.base_url, sb.token, f"{folder}/replica.db"]
        args += (["--trace"] if trace else []) + (["--latency", str(latency)] if latency else [])
        out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if out.returncode != 0:
        raise RuntimeError(f"replicate child {mode} failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_requests"] = sb.stats()["requests"] - 1  # minus the warm-up request
    return result


LATENCY = 0.25  # seconds added to each answer in the slow-API case


def replicate(quick: bool) -> dict[str, Any]:
    """A full replication of N deals and N persons (6 custom fields each) into a new SQLite file, N = 5,000
    and 20,000: API calls, wall time against the list calls alone, peak memory at both N."""
    sizes = [5000, 20000]
    repeats = 1 if quick else 3
    raw: dict[str, Any] = {"repeats_untraced": repeats, "sizes": sizes, "runs": []}
    rows = []
    results: dict[tuple, dict[str, Any]] = {}
    for n in sizes:
        with SandboxProcess(TOKEN, generate={"persons": n, "deals": n, "customFields": 6}) as sb:
            for rep in range(repeats):
                for mode in ("lists", "replicate") if rep % 2 == 0 else ("replicate", "lists"):
                    raw["runs"].append({**_replicate_child(mode, sb, trace=False), "n": n, "rep": rep})
            raw["runs"].append({**_replicate_child("replicate", sb, trace=True), "n": n, "rep": "traced"})
            if n == sizes[-1]:  # the same with a slower API: every answer LATENCY later
                for mode in ("lists", "replicate"):
                    raw["runs"].append({**_replicate_child(mode, sb, False, LATENCY), "n": n, "rep": "latency"})
        for mode in ("lists", "replicate"):
            runs = [r for r in raw["runs"] if r["n"] == n and r["mode"] == mode and isinstance(r["rep"], int)]
            traced = [r for r in raw["runs"] if r["n"] == n and r["mode"] == mode and r["rep"] == "traced"]
            results[(n, mode)] = {
                "wall": summary([r["wall_s"] for r in runs]),
                "rss": summary([r["rss_growth_mb"] for r in runs]),
                "trace": summary([r["tracemalloc_peak_mb"] for r in traced]),
                "calls": runs[0]["calls"],
                "server": summary([r["server_requests"] for r in runs]),
                "rows": runs[0]["rows"],
            }
    for n in sizes:
        rep, lists = results[(n, "replicate")], results[(n, "lists")]
        floor = pages(n)
        per_entity = rep["calls"]
        rows.append(
            row(
                f"replicate N={n}: API calls, deals",
                per_entity["deals"],
                baseline=floor + 2,
                baseline_label="ceil(N/500) + field definitions + deleted-deals feed",
                target=f"== {floor + 2}",
                met=per_entity["deals"] == floor + 2 and rep["rows"]["deals"] == n,
                note=f"{rep['rows']['deals']} rows",
            )
        )
        rows.append(
            row(
                f"replicate N={n}: API calls, persons",
                per_entity["persons"],
                baseline=floor + 1,
                baseline_label="ceil(N/500) + field definitions",
                target=f"== {floor + 1}",
                met=per_entity["persons"] == floor + 1 and rep["rows"]["persons"] == n,
                note=f"{rep['rows']['persons']} rows; sandbox counted {rep['server']['median']:.0f} requests",
            )
        )
        rows.append(
            row(
                f"replicate N={n}: wall",
                rep["wall"],
                unit="s",
                baseline=lists["wall"],
                baseline_label="the list calls alone (same client, pages discarded)",
                target="<= 1.3x",
                met=(ratio(rep["wall"]["median"], lists["wall"]["median"]) or 99) <= 1.3,
                note=f"{repeats} runs each, alternated, fresh process each",
            )
        )
        rows.append(
            row(
                f"replicate N={n}: peak RSS growth",
                rep["rss"],
                unit="MB",
                baseline=lists["rss"],
                baseline_label="the list calls alone",
                note="ru_maxrss after the run - RSS at idle",
            )
        )
    slow = {r["mode"]: r["wall_s"] for r in raw["runs"] if r["rep"] == "latency"}
    rows.append(
        row(
            f"replicate N={sizes[-1]}, answers {LATENCY * 1000:.0f} ms later: wall",
            slow["replicate"],
            unit="s",
            baseline=slow["lists"],
            baseline_label="the list calls alone, same latency",
            target="<= 1.3x",
            met=slow["replicate"] / slow["lists"] <= 1.3,
            note="1 run each; the latency is a sleep in the client's HTTP adapter (bench/replicate_child.py)",
        )
    )
    small, big = (
        results[(sizes[0], "replicate")]["trace"]["median"],
        results[(sizes[1], "replicate")]["trace"]["median"],
    )
    rows.append(
        row(
            f"replicate: tracemalloc peak {sizes[1] // 1000}k / {sizes[0] // 1000}k",
            ratio(big, small),
            baseline=1.0,
            baseline_label="flat",
            ratio_value=ratio(big, small),
            target="~1 (flat)",
            met=(ratio(big, small) or 99) < 1.5,
            note=f"{small:.1f} MB at N={sizes[0]}, {big:.1f} MB at N={sizes[1]} (1 traced run each)",
        )
    )
    raw["summary"] = {f"{n}:{m}": v for (n, m), v in results.items()}
    return {"rows": rows, "raw": raw}


BENCHMARKS = {
    "per_job": per_job,
    "cold_start": cold_start,
    "fetch_all": fetch_all,
    "throughput": throughput,
    "token_budget": token_budget,
    "picklists": picklists,
    "peer": peer,
    "hot_folder": hot_folder,
    "workers": workers,
    "replicate": replicate,
}
