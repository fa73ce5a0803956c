"""Local Pipedrive-compatible API server (test double with a strict contract).

Serves a stateful subset of Pipedrive's v1 and v2 REST API on 127.0.0.1 with
Pipedrive's authentication, envelopes, pagination, rate limits, token costs
and optional fault injection.  Used as the embedded demo backend, for
integration tests over real HTTP and for benchmarks.  See docs/sandbox.md.
"""

from .server import Sandbox, add_arguments, create_app, main

__all__ = ["Sandbox", "add_arguments", "create_app", "main"]
