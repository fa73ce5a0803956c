"""Running the sandbox: the in-process :class:`Sandbox`, ``create_app`` and the CLI entry."""

from __future__ import annotations

import argparse
import secrets
import signal
import socket
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import WSGITask

from . import seed as seeding
from .app import FAULT_KINDS, HANG_UP, SandboxApp
from .handlers.oauth import OAuthServer
from .handlers.webhooks import Dispatcher, WebhookFaults
from .store import Store

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def create_app(
    token: str = "secret-token",
    port: int = 0,
    data=None,
    burst_limit: int | None = None,
    fault_rate: float = 0.0,
    seed=None,
    daily_budget: int | None = None,
    generate=None,
    faults=None,
    allow_query_token: bool = False,
    search_limit: int = 10,
    oauth_client: tuple[str, str] | None = None,
    oauth_token_ttl: float = 3599.0,
    webhook_time_scale: float = 1.0,
    webhook_faults: WebhookFaults | None = None,
    search_lag: float = 0.0,
    ambiguous_creates: int = 0,
) -> SandboxApp:
    """Build the WSGI app with its store (``port`` is accepted for symmetry with Sandbox and ignored)."""
    store = Store(seed=seed)
    loaded = False
    if data and str(data).endswith(SQLITE_SUFFIXES):
        loaded = store.attach_sqlite(str(data))
    if not loaded:
        seeding.load(store, seeding.base_data())
        if data and not str(data).endswith(SQLITE_SUFFIXES):
            seeding.load_file(store, data)
        if generate:
            seeding.generate(store, generate, seed)
        store.flush()
    app = SandboxApp(
        store,
        token,
        burst_limit=burst_limit,
        search_limit=search_limit,
        daily_budget=daily_budget,
        fault_rate=fault_rate,
        faults=faults,
        seed=seed,
        allow_query_token=allow_query_token,
        oauth=OAuthServer(*oauth_client, ttl=oauth_token_ttl) if oauth_client else None,
        search_lag=search_lag,
        ambiguous_creates=ambiguous_creates,
    )
    app.webhooks = Dispatcher(store, webhook_time_scale, webhook_faults, seed)
    return app


SERVER_THREADS = 16  # requests served at once; more wait in waitress's queue (benchmarks use up to 8 workers)
STOP_SECONDS = 5.0  # how long stop() waits for requests in flight (a delay fault sleeps at most 1 s)


class _Task(WSGITask):
    """A waitress task whose environ carries the hook the drop faults use to hang up."""

    def get_environment(self) -> dict:
        environ = super().get_environment()
        environ[HANG_UP] = self._hang_up
        return environ

    def _hang_up(self) -> NoReturn:
        try:
            self.channel.socket.shutdown(socket.SHUT_RDWR)  # the client sees the close now, with no answer
        except OSError:
            pass  # the client went first
        raise ClientDisconnected  # waitress then closes the channel without writing a byte


class _Channel(HTTPChannel):
    task_class = _Task


def _close_all(dispatchers: dict) -> None:
    """Close the listener, every connection (idle keep-alive ones too) and the trigger; run in the loop thread."""
    for dispatcher in list(dispatchers.values()):
        if isinstance(dispatcher, HTTPChannel):
            dispatcher.handle_close()  # also wakes a worker still waiting to write to it
        else:
            dispatcher.close()
    dispatchers.clear()


class Sandbox:
    """A sandbox served on 127.0.0.1 from a background thread.

    >>> with Sandbox(token="t") as sb:   # doctest: +SKIP
    ...     requests.get(sb.base_url + "/api/v1/users/me", headers={"x-api-token": sb.token})
    """

    def __init__(self, token: str = "secret-token", port: int = 0, **options: Any):
        """`options` are those of `create_app` (data, burst_limit, faults, oauth_client, search_lag...)."""
        self.token, self.port = token, port
        self.app = create_app(token=token, **options)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._dispatchers: dict = {}  # waitress's socket map: the listener, the connections, its trigger

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def request_log(self) -> list[dict]:
        return self.app.request_log

    def stats(self) -> dict:
        return self.app.stats()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://127.0.0.1:{self._server.effective_port}"

    def start(self) -> Sandbox:
        """Listen on 127.0.0.1 (OSError when the port is taken) and serve from a background thread."""
        server = create_server(
            self.app, map=self._dispatchers, host="127.0.0.1", port=self.port, threads=SERVER_THREADS
        )
        server.channel_class = _Channel
        self._server = server
        self._thread = threading.Thread(target=server.run, name="pipedrive-sandbox", daemon=True)
        self._thread.start()
        self.app.webhooks.start()
        return self

    def stop(self) -> None:
        """Close every connection, finish the requests in flight (bounded) and close the store."""
        self.app.webhooks.stop()
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            self._server = None
            server.task_dispatcher.shutdown(timeout=STOP_SECONDS)  # first, so no worker pulls a closed trigger
            server.trigger.pull_trigger(lambda: _close_all(self._dispatchers))  # waitress's loop exits when empty
            thread.join(timeout=STOP_SECONDS)
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _counts(text: str) -> dict[str, int]:
    """Parse ``deals=20000,persons=500``."""
    counts = {}
    for part in filter(None, text.split(",")):
        name, _, number = part.partition("=")
        if not number.isdigit():
            raise argparse.ArgumentTypeError(f"expected TABLE=COUNT, got {part!r}")
        counts[name.strip()] = int(number)
    return counts


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def _non_negative(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
        return value

    return parse


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
    return kinds


def _client(text: str) -> tuple[str, str]:
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError("expected CLIENT_ID:CLIENT_SECRET")
    return client_id, secret


def _lifetime(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pipedrive-connect sandbox``."""
    parser.add_argument("--port", type=_port, default=8765, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--token", help="API token clients must send (default: a new random one, printed)")
    parser.add_argument("--data", type=Path, help="JSON seed file, or a .sqlite/.db file to persist the store in")
    parser.add_argument("--burst-limit", type=int, help="requests per 2-second window per token (default: none)")
    parser.add_argument("--search-limit", type=int, default=10, help="search requests per 2-second window")
    parser.add_argument("--daily-budget", type=int, help="daily token budget per token (default: unlimited)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests given a fault (0..1)")
    parser.add_argument("--fault-kinds", type=_kinds, help=f"comma list from {','.join(FAULT_KINDS)}")
    parser.add_argument("--seed", type=int, help="makes generated data and faults reproducible")
    parser.add_argument("--generate", type=_counts, help="bulk data, e.g. deals=20000,persons=500")
    parser.add_argument(
        "--search-lag",
        type=_non_negative(float),
        default=0.0,
        metavar="SECONDS",
        help="a new record is found by search only this long after it was created, as Pipedrive's index trails",
    )
    parser.add_argument(
        "--ambiguous-creates",
        type=_non_negative(int),
        default=0,
        metavar="N",
        help="the first N creates are applied, then answered with a 502 (the client cannot know they happened)",
    )
    parser.add_argument(
        "--allow-query-token", action="store_true", help="accept ?api_token= (legacy clients in benchmarks)"
    )
    parser.add_argument(
        "--oauth-client",
        type=_client,
        metavar="ID:SECRET",
        help="register an OAuth app: serve /oauth/authorize, /oauth/token and /oauth/revoke, accept its Bearer tokens",
    )
    parser.add_argument(
        "--oauth-token-ttl",
        type=_lifetime,
        default=3599.0,
        metavar="SECONDS",
        help="lifetime of the OAuth access tokens (default 3599, as Pipedrive's)",
    )
    parser.add_argument(
        "--webhook-time-scale",
        type=_scale,
        default=1.0,
        metavar="F",
        help="multiply webhook times (10 s deadline, retries after 3/30/150 s, 30-minute ban) by F; "
        "0.01 makes them 0.1 s, 0.03/0.3/1.5 s and 18 s (default 1)",
    )
    parser.add_argument(
        "--webhook-drop-rate", type=_fraction, default=0.0, metavar="F", help="fraction of webhook events never sent"
    )
    parser.add_argument(
        "--webhook-duplicate-rate",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="fraction of webhook events sent twice",
    )


def main(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; prints the base URL and token first. Exit 2 when it cannot start."""
    try:
        sandbox = Sandbox(
            token=args.token or secrets.token_hex(16),
            port=args.port,
            data=args.data,
            burst_limit=args.burst_limit,
            fault_rate=args.fault_rate,
            seed=args.seed,
            daily_budget=args.daily_budget,
            generate=args.generate,
            faults=args.fault_kinds,
            allow_query_token=args.allow_query_token,
            search_limit=args.search_limit,
            oauth_client=args.oauth_client,
            oauth_token_ttl=args.oauth_token_ttl,
            webhook_time_scale=args.webhook_time_scale,
            webhook_faults=WebhookFaults(args.webhook_drop_rate, args.webhook_duplicate_rate),
            search_lag=args.search_lag,
            ambiguous_creates=args.ambiguous_creates,
        )
    except (OSError, ValueError, sqlite3.Error) as exc:
        sys.stderr.write(f"pipedrive-connect sandbox: cannot set up the data (--data/--generate): {exc}\n")
        return 2
    try:
        sandbox.start()
    except OSError as exc:
        sandbox.store.close()
        sys.stderr.write(f"pipedrive-connect sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}\n")
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"Pipedrive sandbox listening on {sandbox.base_url}", flush=True)
    print(f"API token: {sandbox.token}", flush=True)
    if args.oauth_client:
        print(f"OAuth: {sandbox.base_url}/oauth/authorize, /oauth/token, /oauth/revoke", flush=True)
    while not stop.wait(0.5):
        pass
    sandbox.stop()
    return 0
