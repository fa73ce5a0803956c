"""Benchmark suite of pipedrive-connect: the one command.

    python bench/run.py [--quick] [--only NAME ...] [--json PATH] [--profile]

Runs against the local sandbox (subprocesses on 127.0.0.1) only. Prints a table and writes every raw
number to bench/results/latest.json (git-ignored). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DIR, env_info  # noqa: E402
from workloads import BENCHMARKS  # noqa: E402


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 0.1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def print_table(results: dict) -> None:
    header = ["benchmark", "metric", "median", "min", "max", "unit", "baseline", "ratio", "target", "met"]
    lines = []
    for name, res in results.items():
        if "error" in res:
            lines.append([name, "ERROR", res["error"].splitlines()[-1][:60], "", "", "", "", "", "", "no"])
            continue
        for r in res["rows"]:
            v, b = r["value"], r["baseline"]
            lines.append(
                [
                    name,
                    r["metric"],
                    _fmt(v["median"]),
                    _fmt(v["min"]),
                    _fmt(v["max"]),
                    r["unit"],
                    (f"{_fmt(b.get('median'))} ({r['baseline_label']})" if b else r["baseline_label"] or "-"),
                    _fmt(r["ratio"]),
                    r["target"] or "-",
                    {True: "yes", False: "NO", None: "-"}[r["met"]],
                ]
            )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    widths = [min(w, 70) for w in widths]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(str(x)[:w].ljust(w) for x, w in zip(line, widths, strict=True)))
    notes = [(name, r["metric"], r["note"]) for name, res in results.items() for r in res.get("rows", []) if r["note"]]
    if notes:
        print("\nnotes:")
        for name, metric, note in notes:
            print(f"  [{name}] {metric}: {note}")


def profile_per_job(jobs: int = 1000, top: int = 30) -> str:
    """cProfile of the client side of the per-job path (addDeal through Runtime.run), sandbox in a subprocess."""
    import cProfile
    import io
    import pstats

    from common import SandboxProcess, make_runtime
    from workloads import TOKEN

    from pipedrive_connect.jobs import Job

    with SandboxProcess(TOKEN) as sb:
        rt = make_runtime(sb.base_url, TOKEN)
        for i in range(50):
            rt.run("addDeal", job=Job(data={"x": f"w{i}"}), inputs={"title": "{{ job.data.x }}", "value": "12"})
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for i in range(jobs):
            rt.run("addDeal", job=Job(data={"x": f"Order {i}"}), inputs={"title": "{{ job.data.x }}", "value": "12"})
        prof.disable()
        wall = time.perf_counter() - t0
    out = io.StringIO()
    out.write(
        f"# cProfile: {jobs} x Runtime.run('addDeal') against the sandbox subprocess; wall {wall:.2f}s "
        f"({wall / jobs * 1e3:.3f} ms/job under the profiler)\n"
    )
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and jobs (under 2 minutes)")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME", help=f"run only these: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "latest.json", help="raw results file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the per-job path (cProfile) and write bench/results/profile.txt",
    )
    args = parser.parse_args(argv)

    names = args.only or list(BENCHMARKS)
    results: dict = {}
    started = time.perf_counter()
    for name in names:
        print(
            f"[{time.perf_counter() - started:6.1f}s] running {name}{' (quick)' if args.quick else ''} ...",
            file=sys.stderr,
            flush=True,
        )
        t0 = time.perf_counter()
        try:
            res = BENCHMARKS[name](args.quick)
        except Exception:
            res = {"error": traceback.format_exc(), "rows": []}
            print(res["error"], file=sys.stderr)
        res["seconds"] = time.perf_counter() - t0
        results[name] = res
    total = time.perf_counter() - started
    print_table(results)
    print(
        f"\ntotal {total:.1f}s; command: python bench/run.py{' --quick' if args.quick else ''}"
        f"{' --only ' + ' '.join(args.only) if args.only else ''}"
    )
    document = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "argv": sys.argv,
        "total_seconds": total,
        "env": env_info(),
        "results": results,
    }
    if args.profile:
        text = profile_per_job()
        (args.json.parent).mkdir(parents=True, exist_ok=True)
        (args.json.parent / "profile.txt").write_text(text)
        document["profile_file"] = str(args.json.parent / "profile.txt")
        print(f"profile written to {args.json.parent / 'profile.txt'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2, default=str))
    print(f"raw results: {args.json}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
