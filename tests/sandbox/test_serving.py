"""The sandbox reports its own CPU per request, so that a loopback benchmark can tell the client's
cost from the stand-in's."""

from __future__ import annotations


def test_stats_report_the_sandbox_cpu_per_request(sandbox, api):
    for _ in range(5):
        api.get("/api/v1/users/me")
    stats = sandbox.stats()
    assert stats["requests"] == 5
    assert stats["cpu_per_request_ms"] > 0
