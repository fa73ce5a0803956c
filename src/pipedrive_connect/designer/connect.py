"""Connect to Pipedrive from the designer: OAuth's authorization-code flow with the callback on the service.

The three steps are `oauth`'s; what is here is the service's side of them: the `state` of each sign-in
kept in memory (single use, expiring, a bounded number pending), the tokens written to the connection
file the other commands read, the runtime switched to them, and what the page shows of the account.

The callback is a plain browser redirect from Pipedrive: it carries no designer token and, coming from
another site, no Origin of ours. What makes it trustworthy is the `state`: unguessable, handed out only
by a start that passed the designer's checks, used once, and forgotten after `STATE_TTL`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import oauth
from ..client import RetrySettings
from ..connection import Connection
from ..errors import StepError
from ..runtime import Runtime

STATE_TTL = 600.0  # seconds a started sign-in may take to come back
MAX_PENDING = 32  # sign-ins started and not yet back; the oldest is dropped beyond this
ME_TIMEOUT = (3.0, 5.0)  # seconds to connect, then to answer, when reading who is connected


class CallbackRefused(Exception):
    """The callback itself is refused (consent refused, a state that is not ours, no code): the browser's
    answer, not Pipedrive's token endpoint, is at fault."""


@dataclass
class OAuthApp:
    """The Pipedrive app the designer signs in with, and the connection file it writes."""

    client_id: str
    client_secret: str
    connection_file: Path
    oauth_base: str = oauth.OAUTH_BASE
    scope: str | None = None


class Connector:
    """The sign-ins in progress and the account the runtime is connected to."""

    def __init__(self, runtime: Runtime, app: OAuthApp | None):
        self.runtime, self.app = runtime, app
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, float]] = {}  # state -> (redirect_uri, monotonic expiry)
        self._account: tuple[Connection, dict[str, Any]] | None = None  # /users/me of that connection

    def start(self, redirect_uri: str) -> str:
        """The authorization URL to send the browser to; its state is remembered for the callback."""
        if self.app is None:
            raise LookupError("this designer has no OAuth app: start it with --oauth-client-id (or --sandbox)")
        url, state = oauth.authorization_url(
            self.app.client_id, redirect_uri, oauth_base=self.app.oauth_base, scope=self.app.scope
        )
        now = time.monotonic()
        with self._lock:
            self._pending = {s: v for s, v in self._pending.items() if v[1] > now}
            while len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[state] = (redirect_uri, now + STATE_TTL)
        return url

    def finish(self, params: dict[str, str]) -> None:
        """The callback: check the state (used up either way), take the code, exchange it, write the file,
        switch the runtime. A failure writes nothing: CallbackRefused for the browser's answer, StepError
        for the token exchange, OSError for the file."""
        assert self.app is not None
        state = str(params.get("state", ""))
        with self._lock:
            pending = self._pending.pop(state, None) if state else None
        if pending is None or pending[1] < time.monotonic():
            raise CallbackRefused(
                "This answer does not belong to a sign-in this designer started (a stale, used or forged state); "
                "nothing was saved."
            )
        redirect_uri = pending[0]
        try:
            code = oauth.code_from_callback(params, state)
        except StepError as exc:
            raise CallbackRefused(exc.message) from None
        app = self.app
        settings = oauth.exchange_code(app.client_id, app.client_secret, code, redirect_uri, oauth_base=app.oauth_base)
        store = oauth.TokenFile(app.connection_file)
        try:
            connection = Connection.from_settings(settings, name=app.connection_file.stem, store=store)
        except ValueError as exc:
            raise StepError("connection", f"The tokens Pipedrive gave cannot be used: {exc}") from None
        with store.locked():  # a runner refreshing from the same file re-reads it under this lock
            store.write(settings)
        self.runtime.reconnect(connection)

    def account(self) -> dict[str, Any]:
        """Who the runtime is connected as: user, company, api_domain, type, token expiry; never a token."""
        connection = self.runtime.connection
        about: dict[str, Any] = {"connected": connection is not None, "can_connect": self.app is not None}
        if connection is None:
            return about
        auth = connection.auth
        about.update(type="apiToken", api_domain=connection.current_base_url)
        if isinstance(auth, oauth.OAuth2Auth):
            about.update(type="oauth2", scopes=auth.scope)
            if auth.expires_at is not None:
                about["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(auth.expires_at))
        cached = self._account
        if cached is None or cached[0] is not connection:
            try:
                me = self.runtime.client.send(
                    "GET", "v1", "/users/me", cost=2, retry=RetrySettings.none(), timeout=ME_TIMEOUT
                ).data
            except StepError as exc:
                return {**about, "error": exc.to_dict()}  # asked again next time
            me = me if isinstance(me, dict) else {}
            cached = self._account = (connection, {"user": me.get("name"), "company": me.get("company_name")})
        return {**about, **cached[1]}
