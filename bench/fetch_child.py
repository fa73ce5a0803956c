"""One "fetch every deal" measurement in a fresh process (run by workloads.fetch_all).

    python bench/fetch_child.py MODE BASE_URL TOKEN [--trace]

MODE is `runtime` (getDeals with fetchAll through Runtime.run: the result is a list),
`tofile` (the same with saveToFile: items streamed to a JSON Lines file on the log output),
`paginate` (client.paginate streamed, items discarded) or `bare` (requests.Session walking
the v2 cursor, pages discarded: the baseline). Prints one JSON line.

Memory: "idle" is the process after imports, building the client and one warm-up request;
growth is ru_maxrss (peak RSS) after the fetch minus the RSS at idle. With --trace,
tracemalloc runs from idle to the end instead and its peak is reported (tracemalloc slows
the process, so wall time is only taken from untraced runs).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import make_runtime, rss_kb  # noqa: E402


def main() -> None:
    mode, base_url, token = sys.argv[1:4]
    trace = "--trace" in sys.argv
    import requests

    rt = make_runtime(base_url, token)
    client = rt.client
    session = requests.Session()
    session.headers["x-api-token"] = token
    # warm-up: imports done, connection open, schemas loaded
    if mode in ("runtime", "tofile"):
        warm = rt.run("getDeals", inputs={"limit": "1"})
        assert warm.route == "success", warm.error
    elif mode == "paginate":
        client.send("GET", "v2", "/deals", params={"limit": 1})
    else:
        session.get(base_url + "/api/v2/deals", params={"limit": 1}).raise_for_status()
    idle_rss = rss_kb()
    idle_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    keep = None
    if mode == "runtime":
        outcome = rt.run("getDeals", inputs={"fetchAll": True})
        assert outcome.route == "success", outcome.error
        keep = outcome.result
        items, calls = len(outcome.result), outcome.calls
    elif mode == "tofile":
        outcome = rt.run("getDeals", inputs={"fetchAll": True, "saveToFile": True})
        assert outcome.route == "success", outcome.error
        items, calls = outcome.result["count"], outcome.calls
    elif mode == "paginate":
        before = client.usage.calls
        items = sum(1 for _ in client.paginate("v2", "/deals", {}, paging="cursor", page_size=500))
        calls = client.usage.calls - before
    else:
        items = calls = 0
        params = {"limit": 500}
        while True:
            response = session.get(base_url + "/api/v2/deals", params=params)
            response.raise_for_status()
            body = response.json()
            calls += 1
            items += len(body["data"] or [])
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                break
            params["cursor"] = cursor
            del body, response
    wall = time.perf_counter() - t0
    out = {
        "mode": mode,
        "items": items,
        "calls": calls,
        "wall_s": wall,
        "idle_rss_mb": idle_rss / 1024,
        "idle_maxrss_mb": idle_maxrss / 1024,
    }
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["tracemalloc_peak_mb"] = peak / 1024 / 1024
    else:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["maxrss_mb"] = maxrss / 1024
        out["rss_growth_mb"] = (maxrss - idle_rss) / 1024
    del keep
    print(json.dumps(out))


if __name__ == "__main__":
    main()
