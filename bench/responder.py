"""A fast keep-alive HTTP/1.1 responder on 127.0.0.1: the per-job baseline's server.

It answers every request with one canned Pipedrive-style answer and does nothing else, so a loopback
benchmark against it measures the client (the connector or the bare session), not the server.
Prints its base URL on the first line of stdout; stops on SIGTERM.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = json.dumps(
    {"success": True, "data": {"id": 1, "title": "Order", "value": 12, "currency": "EUR", "status": "open"}}
).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    wbufsize = 1 << 16  # headers and body leave in one send (the server flushes after each request)
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        # a limit no benchmark reaches, so the connector's limiter never waits (the bare session has none)
        self.send_header("x-ratelimit-limit", "1000000")
        self.send_header("x-ratelimit-remaining", "999999")
        self.send_header("x-ratelimit-reset", "2")
        self.end_headers()
        self.wfile.write(ANSWER)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
