"""One replication measurement in a fresh process (run by workloads.replicate).

    python bench/replicate_child.py MODE BASE_URL TOKEN DB_FILE [--trace] [--latency SECONDS]

MODE is `replicate` (deals and persons, with their custom-field definitions and the deleted-deals
feed, into a new SQLite file through Replicator) or `lists` (the baseline: the same client walking
the deals and persons lists with 500 a page, pages discarded). Prints one JSON line.

--latency adds that long to every request's answer (a sleep in the HTTP adapter, in both modes): the
local sandbox answers a page in milliseconds, a remote API takes longer, and the writes of one page
overlap the wait for the next.

Memory as in fetch_child.py: growth is ru_maxrss after the run minus the RSS at idle (after imports,
the client and one warm-up request); with --trace, the tracemalloc peak from idle to the end.
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
    mode, base_url, token, db_file = sys.argv[1:5]
    trace = "--trace" in sys.argv
    if "--latency" in sys.argv:
        delay = float(sys.argv[sys.argv.index("--latency") + 1])
        from requests.adapters import HTTPAdapter

        send = HTTPAdapter.send

        def slow_send(self, *args, **kwargs):
            time.sleep(delay)
            return send(self, *args, **kwargs)

        HTTPAdapter.send = slow_send  # type: ignore[method-assign]
    from pipedrive_connect.client import Request
    from pipedrive_connect.replication.schema import Database
    from pipedrive_connect.replication.sync import Replicator, select

    rt = make_runtime(base_url, token)
    rt.client.execute(Request("GET", "v2", "/deals", {"limit": 1}))  # warm-up: connection open
    database = Database(f"sqlite:///{db_file}") if mode == "replicate" else None
    idle_rss = rss_kb()
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    if database is not None:
        replicator = Replicator(rt, database, select(["persons", "deals"]))
        replicator.run()
        database.close()
        rows = {name: t.inserted for name, t in replicator.tallies.items()}
        calls = {name: t.usage.calls for name, t in replicator.tallies.items()}
    else:
        rows, calls = {}, {}
        for name in ("persons", "deals"):
            before = rt.client.usage.calls
            request = Request("GET", "v2", f"/{name}", {}, cost=10)
            rows[name] = sum(1 for _ in rt.client.walk(request, paging="cursor", page_size=500))
            calls[name] = rt.client.usage.calls - before
    wall = time.perf_counter() - t0
    out = {"mode": mode, "rows": rows, "calls": calls, "wall_s": wall}
    if trace:
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1024 / 1024
        tracemalloc.stop()
    else:
        out["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - idle_rss) / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
