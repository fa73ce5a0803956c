"""OAuth 2.0 with Pipedrive: sign in, keep the tokens fresh, share them between processes.

Authlib speaks the protocol (the authorization URL and its `state`, the token requests with the
client's credentials as HTTP Basic, revocation). What is ours is Pipedrive's shape of it and the
safety around it:

- `authorization_url`, `code_from_callback` and `exchange_code` are the three steps of the
  authorization-code flow. They hold no server of their own, so any callback can use them: the
  loopback one of `login` (the `login` command) or a web service's own route.
- The token endpoint's answer is only used when it is a 200: a redirect is never followed (it would
  carry the code or the refresh token elsewhere), and a refusal says what to do in one line.
- `OAuth2Auth` refreshes shortly before expiry (and once after a 401) and writes every new token back
  to the connection file, atomically and under a lock on a sidecar file. Under that lock it first
  re-reads the file: a token another process got meanwhile is used instead of refreshing again.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
import yaml
from authlib.integrations.requests_client import OAuth2Session
from requests.auth import AuthBase

from .connection import check_url, read_settings
from .errors import StepError
from .jobs import write_atomic
from .pipedrive import OAUTH_HEADER, bearer

OAUTH_BASE = "https://oauth.pipedrive.com"
TOKEN_URL = f"{OAUTH_BASE}/oauth/token"
TIMEOUT = (5.0, 30.0)  # seconds to connect to the OAuth server, then to get its answer
LEEWAY = 60.0  # refresh this long before expiry (at most a quarter of the token's lifetime)
LOCK_WAIT = 30.0  # longest wait for another process's refresh to finish
TOKEN_KEYS = ("access_token", "refresh_token", "expires_at", "expires_in", "api_domain", "scope")
RELOGIN = "run `pipedrive-connect login` again"


def endpoint(oauth_base: str, name: str) -> str:
    """`/oauth/authorize`, `/oauth/token` or `/oauth/revoke` on the OAuth server (https, or loopback)."""
    return f"{check_url(oauth_base, '--oauth-base')}/oauth/{name}"


def revoke_url(token_url: str) -> str:
    """Pipedrive's revocation endpoint sits beside its token endpoint."""
    return urljoin(token_url, "revoke")


class _Refused(Exception):
    def __init__(self, status: int, error: str | None):
        self.status, self.error = status, error


def _only_200(response: requests.Response) -> requests.Response:
    """Authlib hook on every token answer: anything but a 200 is a refusal we describe ourselves."""
    if response.status_code == 200:
        return response
    error = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        error = code if code.replace("_", "").isalnum() and len(code) <= 40 else None  # a code, never free text
    raise _Refused(response.status_code, error)


def _session(client_id: str, client_secret: str | None = None, **options: Any) -> OAuth2Session:
    session = OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
        **options,
    )
    for hook in ("access_token_response", "refresh_token_response"):
        session.register_compliance_hook(hook, _only_200)
    return session


def _token_call(what: str, call: Callable[[], Any]) -> dict[str, Any]:
    """Run one token request; every failure is a StepError that names no secret."""
    try:
        tokens = call()
    except _Refused as refused:
        status, error = refused.status, refused.error
        if 300 <= status < 400:
            message = (
                f"The OAuth token endpoint answered the {what} with a redirect (HTTP {status}); it is not followed, "
                "so no code or token leaves for another host."
            )
            raise StepError("connection", message, status=status) from None
        if status >= 500:
            raise StepError(
                "server", f"The OAuth token endpoint failed the {what} (HTTP {status}).", status, retryable=True
            ) from None
        reason = f"{error}, HTTP {status}" if error else f"HTTP {status}"
        if error == "invalid_grant" and what == "refresh":
            message = (
                f"Pipedrive no longer accepts the refresh token ({reason}): the app was uninstalled or the token "
                f"went unused for 60 days; {RELOGIN}."
            )
        elif error == "invalid_client":
            message = f"Pipedrive refused the client id or secret ({reason}); check them and {RELOGIN}."
        else:
            message = f"The OAuth token endpoint refused the {what} ({reason}); {RELOGIN}."
        raise StepError("connection", message, status=status, pipedrive_error=error) from None
    except requests.RequestException as exc:
        raise StepError(
            "network",
            f"Could not reach the OAuth token endpoint for the {what} ({type(exc).__name__}).",
            retryable=True,
        ) from None
    except (ValueError, TypeError):  # a 200 Authlib cannot read: not JSON, or an expires_in that is no number
        tokens = None
    if not isinstance(tokens, Mapping) or not tokens.get("access_token"):
        raise StepError(
            "connection",
            f"The OAuth token endpoint's answer to the {what} is unusable (not JSON, no access token, "
            "or a field of the wrong type).",
        )
    return dict(tokens)


def token_settings(tokens: Mapping[str, Any], refresh_token: str | None = None) -> dict[str, Any]:
    """The connection settings a token answer gives; its `api_domain` must be https (loopback excepted)."""
    settings: dict[str, Any] = {"access_token": str(tokens["access_token"])}
    settings["refresh_token"] = str(tokens.get("refresh_token") or refresh_token or "") or None
    try:
        lifetime = float(tokens.get("expires_in") or 3600)
    except (TypeError, ValueError):
        raise StepError("connection", "The OAuth token answer was refused: its expires_in is not a number.") from None
    settings["expires_in"] = lifetime
    settings["expires_at"] = round(time.time() + lifetime, 3)
    if tokens.get("api_domain"):
        try:
            settings["api_domain"] = check_url(tokens["api_domain"], "the api_domain it returned")
        except ValueError as exc:
            raise StepError("connection", f"The OAuth token answer was refused: {exc}.") from None
    if tokens.get("scope"):
        settings["scope"] = str(tokens["scope"])
    return {k: v for k, v in settings.items() if v is not None}


# ---- the authorization-code flow: usable with any callback ------------------------------------
def authorization_url(
    client_id: str, redirect_uri: str, *, oauth_base: str = OAUTH_BASE, scope: str | None = None
) -> tuple[str, str]:
    """Where to send the person to grant access, and the fresh `state` its callback must bring back."""
    session = _session(client_id, redirect_uri=redirect_uri, scope=scope)
    url, state = session.create_authorization_url(endpoint(oauth_base, "authorize"))
    return url, state


def code_from_callback(params: Mapping[str, str], state: str) -> str:
    """The authorization code from the callback's query, once its `state` is the one we sent."""
    if params.get("error"):
        error = str(params["error"])
        shown = error if error.replace("_", "").isalnum() and len(error) <= 40 else "an error"
        raise StepError("connection", f"Pipedrive did not grant access ({shown}); nothing was saved.")
    if not hmac.compare_digest(str(params.get("state", "")).encode(), state.encode()):
        raise StepError(
            "connection",
            "The callback's state does not match this login (a stale or forged answer); nothing was saved.",
        )
    if not params.get("code"):
        raise StepError("connection", "The callback brought no authorization code; nothing was saved.")
    return str(params["code"])


def exchange_code(
    client_id: str, client_secret: str, code: str, redirect_uri: str, *, oauth_base: str = OAUTH_BASE
) -> dict[str, Any]:
    """Trade the code for tokens: the complete settings of an oauth2 connection."""
    token_url = endpoint(oauth_base, "token")
    session = _session(client_id, client_secret)
    tokens = _token_call(
        "code exchange",
        lambda: session.fetch_token(
            token_url,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            timeout=TIMEOUT,
            allow_redirects=False,
        ),
    )
    settings = token_settings(tokens)
    return {
        "type": "oauth2",
        **settings,
        "client_id": client_id,
        "client_secret": client_secret,
        "token_url": token_url,
    }


def refresh(settings: Mapping[str, Any]) -> dict[str, Any]:
    """New token settings from the refresh token in `settings`."""
    session = _session(str(settings["client_id"]), str(settings["client_secret"]))
    old = str(settings["refresh_token"])
    tokens = _token_call(
        "refresh",
        lambda: session.refresh_token(
            str(settings.get("token_url") or TOKEN_URL), refresh_token=old, timeout=TIMEOUT, allow_redirects=False
        ),
    )
    return token_settings(tokens, refresh_token=old)


def revoke(settings: Mapping[str, Any]) -> None:
    """Revoke the refresh token (and with it the access Pipedrive granted) at the revocation endpoint."""
    session = _session(str(settings["client_id"]), str(settings["client_secret"]))
    url = revoke_url(check_url(settings.get("token_url") or TOKEN_URL, "token_url", path_allowed=True))
    try:
        response = session.revoke_token(
            url,
            token=str(settings["refresh_token"]),
            token_type_hint="refresh_token",
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise StepError(
            "network", f"Could not reach the OAuth revocation endpoint ({type(exc).__name__}).", retryable=True
        ) from None
    if response.status_code != 200:
        raise StepError(
            "connection", f"The OAuth revocation endpoint refused (HTTP {response.status_code}).", response.status_code
        )


# ---- the loopback login ------------------------------------------------------------------------
PAGE = "<!doctype html><title>pipedrive-connect</title><p>{}</p>"


class _Callback(BaseHTTPRequestHandler):
    timeout = 10  # a client that connects and sends nothing holds the wait no longer
    server: _CallbackServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self._answer(404, "Not the sign-in callback.")
            return
        self.server.params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self._answer(200, "Done: you can close this window and return to the terminal.")

    def _answer(self, status: int, text: str) -> None:
        body = PAGE.format(text).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never logged
        pass


class _CallbackServer(HTTPServer):
    params: dict[str, str] | None = None

    def wait(self, seconds: float) -> dict[str, str]:
        deadline = time.monotonic() + seconds
        while self.params is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepError("connection", f"No answer from the sign-in within {seconds:.0f} s; nothing was saved.")
            self.timeout = left
            self.handle_request()
        return self.params


def login(
    client_id: str,
    client_secret: str,
    *,
    port: int,
    oauth_base: str = OAUTH_BASE,
    scope: str | None = None,
    timeout: float = 300.0,
    announce: Callable[[str], None] = print,
    open_browser: bool = True,
) -> dict[str, Any]:
    """The whole flow with a callback on 127.0.0.1:`port`; returns the connection settings."""
    endpoint(oauth_base, "token")  # a bad --oauth-base fails before anything listens
    try:
        server = _CallbackServer(("127.0.0.1", port), _Callback)
    except OSError as exc:
        raise StepError("connection", f"Cannot listen on 127.0.0.1:{port} for the callback ({exc.strerror}).") from None
    with server:
        redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
        url, state = authorization_url(client_id, redirect_uri, oauth_base=oauth_base, scope=scope)
        announce(url)
        if open_browser:
            webbrowser.open(url)
        code = code_from_callback(server.wait(timeout), state)
    return exchange_code(client_id, client_secret, code, redirect_uri, oauth_base=oauth_base)


# ---- the connection file, shared by every process that uses it ----------------------------------
class TokenFile:
    """A connection file whose tokens change: read and written whole, under a lock on `FILE.lock`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def locked(self, wait: float = LOCK_WAIT) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StepError(
                            "network",
                            f"The connection file stayed locked by another process for {wait:.0f} s.",
                            retryable=True,
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def read(self) -> dict[str, Any]:
        return read_settings(self.path)

    def write(self, settings: Mapping[str, Any]) -> None:
        """Atomically, readable by the owner only; YAML unless the name ends in .json."""
        if self.path.suffix == ".json":
            text = json.dumps(dict(settings), indent=2) + "\n"
        else:
            text = yaml.safe_dump(dict(settings), sort_keys=False)
        write_atomic(self.path, text.encode(), mode=0o600)


class OAuth2Auth(AuthBase):
    """Bearer auth that keeps its token fresh, persisting each refresh when it has a `TokenFile`."""

    def __init__(self, settings: Mapping[str, Any], store: TokenFile | None = None):
        self.client_id, self.client_secret = settings.get("client_id"), settings.get("client_secret")
        self.token_url = check_url(settings.get("token_url") or TOKEN_URL, "token_url", path_allowed=True)
        self.store = store
        self.retired: set[str] = set()  # tokens a refresh replaced may still be valid: keep redacting them
        self._lock = threading.Lock()
        self._sent = threading.local()  # the token this thread last sent, to know which one a 401 refused
        self._take(settings)

    def _take(self, settings: Mapping[str, Any]) -> None:
        for name in ("access_token", "refresh_token"):
            old = getattr(self, name, None)
            if old and old != settings.get(name):
                self.retired.add(old)
        self.access_token: str = str(settings["access_token"])
        self.refresh_token: str | None = settings.get("refresh_token")
        self.expires_at: float | None = settings.get("expires_at")
        self.expires_in: float | None = settings.get("expires_in")
        self.scope: str | None = settings.get("scope")
        domain = settings.get("api_domain")
        self.api_domain: str | None = check_url(domain, "api_domain") if domain else getattr(self, "api_domain", None)

    def __call__(self, request):
        token = self.access_token
        self._sent.token = token
        request.headers[OAUTH_HEADER] = bearer(token)
        return request

    def expiring(self) -> bool:
        if self.expires_at is None:
            return False
        leeway = min(LEEWAY, (self.expires_in or 4 * LEEWAY) / 4)
        return time.time() > self.expires_at - leeway

    def ensure_fresh(self) -> None:
        """Called by the client before it builds a URL, since a refresh may move the api_domain."""
        if self.expiring():
            self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """A fresh access token (forced: the one this thread sent was refused); False when it cannot refresh."""
        if not (self.refresh_token and self.client_id and self.client_secret):
            return False
        refused = getattr(self._sent, "token", None) if force else None
        with self._lock:
            if (self.access_token != refused) if force else not self.expiring():
                return True  # another thread refreshed meanwhile
            if self.store is None:
                self._take(refresh(self._settings()))
                return True
            with self.store.locked():
                on_file = self._read_file()
                if on_file.get("access_token") not in (self.access_token, refused):
                    self._take(on_file)  # another process refreshed: use its token
                    if not self.expiring():
                        return True
                fresh = refresh({**self._settings(), **on_file})
                self.store.write({**on_file, **fresh})
                self._take(fresh)
            return True

    def _read_file(self) -> dict[str, Any]:
        try:
            on_file = self.store.read() if self.store else {}
            if on_file.get("api_domain"):
                check_url(on_file["api_domain"], "api_domain")
        except ValueError as exc:
            raise StepError("connection", f"Cannot re-read the connection file to refresh the token: {exc}") from None
        if on_file.get("type") != "oauth2" or not on_file.get("refresh_token"):
            raise StepError(
                "connection", f"The connection file holds no OAuth tokens any more (logged out); {RELOGIN}."
            )
        return on_file

    def _settings(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_url": self.token_url,
            "refresh_token": self.refresh_token,
        }

    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.refresh_token, self.client_secret, *self.retired) if s]
