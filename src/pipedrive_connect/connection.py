"""How to reach one Pipedrive company: base URL plus an authenticator.

Authenticators are `requests` auth objects, so the client never needs to know which
kind it holds: the API token goes in the `x-api-token` header, OAuth 2.0 sends a
Bearer token and refreshes it (and adopts the new `api_domain`) when it expires.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml
from requests.auth import AuthBase

from .bundle import yaml_problem
from .errors import StepError
from .pipedrive import API_TOKEN_HEADER, DEFAULT_BASE_URL, OAUTH_HEADER, bearer

TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class NoConnection(ValueError):
    """Nothing configured at all, as opposed to settings that are wrong."""


def check_url(url: Any, what: str, path_allowed: bool = False) -> str:
    """`url` without its trailing slash, or a ValueError saying what is wrong with it.

    The message never repeats the URL: its user info, path or query may hold a secret.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"{what} must be a URL such as https://COMPANY.pipedrive.com")
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{what} must start with https:// (for example https://COMPANY.pipedrive.com)")
    if "@" in parts.netloc:
        raise ValueError(
            f"{what} must not hold a user name or password; the token goes in PIPEDRIVE_API_TOKEN or api_token"
        )
    if parts.query:
        raise ValueError(f"{what} must not have a query string; the token goes in PIPEDRIVE_API_TOKEN or api_token")
    if parts.fragment:
        raise ValueError(f"{what} must not have a fragment (#...)")
    if parts.path and not path_allowed:
        raise ValueError(f"{what} must not have a path: give only https://HOST (the API paths are added)")
    host = parts.hostname or ""
    if not (_HOST_NAME.match(host) or _is_ip(host)):
        raise ValueError(f"{what} has no valid host name (expected https://COMPANY.pipedrive.com)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError(f"{what} has an invalid port (expected a number from 1 to 65535)") from None
    if parts.scheme == "http" and host not in LOOPBACK:
        raise ValueError(
            f"{what}: plain http is only allowed for the local sandbox (127.0.0.1, localhost); Pipedrive requires https"
        )
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ApiTokenAuth(AuthBase):
    def __init__(self, token: str):
        self.token = token

    def __call__(self, request):
        request.headers[API_TOKEN_HEADER] = self.token
        return request

    def secrets(self) -> list[str]:
        return [self.token]


class OAuth2Auth(AuthBase):
    """Bearer auth that refreshes the access token shortly before it expires.

    `on_refresh` receives the new token set (to persist it, api_domain included).
    """

    def __init__(
        self,
        access_token: str,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        expires_at: float | None = None,
        token_url: str = TOKEN_URL,
        on_refresh: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.access_token, self.refresh_token = access_token, refresh_token
        self.client_id, self.client_secret = client_id, client_secret
        self.expires_at, self.on_refresh = expires_at, on_refresh
        self.token_url = check_url(token_url, "token_url", path_allowed=True)
        self.api_domain: str | None = None
        self.retired: set[str] = set()  # tokens a refresh replaced may still be valid: keep redacting them
        self._lock = threading.Lock()

    def __call__(self, request):
        request.headers[OAUTH_HEADER] = bearer(self.access_token)
        return request

    def ensure_fresh(self) -> None:
        """Called by the client before it builds a URL, since a refresh may move the api_domain."""
        if self.expires_at is not None and time.time() > self.expires_at - 60:
            self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Get a new access token; False when this connection cannot refresh."""
        if not (self.refresh_token and self.client_id and self.client_secret):
            return False
        with self._lock:
            if not force and self.expires_at is not None and time.time() <= self.expires_at - 60:
                return True  # another thread refreshed meanwhile
            tokens = self._request_tokens()
            api_domain = tokens.get("api_domain")
            if api_domain:
                try:
                    api_domain = check_url(api_domain, "the api_domain it returned")
                except ValueError as exc:
                    raise StepError("connection", f"OAuth token refresh refused: {exc}.") from None
            self.retired.update((self.access_token, self.refresh_token))
            self.access_token = str(tokens["access_token"])
            self.refresh_token = str(tokens.get("refresh_token") or self.refresh_token)
            self.expires_at = time.time() + float(tokens.get("expires_in", 3600))
            self.api_domain = api_domain or self.api_domain
            if self.on_refresh:
                self.on_refresh(tokens)
            return True

    def _request_tokens(self) -> dict[str, Any]:
        """POST the refresh grant; never follow a redirect, which would carry the refresh token elsewhere."""
        try:
            response = requests.post(
                self.token_url,
                auth=(self.client_id or "", self.client_secret or ""),  # refresh() checked both
                timeout=(5, 30),
                allow_redirects=False,
                data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
            )
        except requests.RequestException as exc:
            raise StepError(
                "network",
                f"Could not reach the OAuth token endpoint ({type(exc).__name__}); the access token was not refreshed.",
                retryable=True,
            ) from None
        status = response.status_code
        if 300 <= status < 400:
            raise StepError(
                "connection",
                f"The OAuth token endpoint answered with a redirect (HTTP {status}); "
                "it is not followed, so the refresh token never leaves for another host.",
                status=status,
            )
        if status != 200:
            raise StepError("connection", f"OAuth token refresh failed with HTTP {status}", status=status)
        try:
            tokens = response.json()
        except ValueError:
            tokens = None
        if not isinstance(tokens, dict) or not tokens.get("access_token"):
            raise StepError(
                "connection",
                "The OAuth token endpoint answered without an access token; reconnect OAuth.",
                status=status,
            )
        return tokens

    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.refresh_token, self.client_secret, *self.retired) if s]


@dataclass
class Connection:
    base_url: str
    auth: ApiTokenAuth | OAuth2Auth
    name: str = "pipedrive"

    def __post_init__(self) -> None:
        self.base_url = check_url(self.base_url, "base URL")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def current_base_url(self) -> str:
        """OAuth may move us to the api_domain returned with the latest token."""
        domain = getattr(self.auth, "api_domain", None)
        return domain.rstrip("/") if domain else self.base_url

    def secrets(self) -> list[str]:
        return self.auth.secrets()

    @classmethod
    def from_settings(cls, settings: dict[str, Any], name: str = "pipedrive") -> Connection:
        kind = settings.get("type", "apiToken")
        url_key = "api_domain" if kind == "oauth2" and settings.get("api_domain") else "base_url"
        base_url = check_url(settings.get(url_key) or DEFAULT_BASE_URL, url_key)
        if kind == "apiToken":
            token = settings.get("api_token")
            if not token:
                raise ValueError("the apiToken connection needs api_token")
            return cls(base_url, ApiTokenAuth(str(token)), name)
        if kind == "oauth2":
            if not settings.get("access_token"):
                raise ValueError("the oauth2 connection needs access_token")
            expires_at = settings.get("expires_at")
            if expires_at is not None and not isinstance(expires_at, (int, float)):
                raise ValueError("expires_at must be a number (seconds since the epoch)")
            auth = OAuth2Auth(
                str(settings["access_token"]),
                settings.get("refresh_token"),
                settings.get("client_id"),
                settings.get("client_secret"),
                expires_at,
                settings.get("token_url", TOKEN_URL),
            )
            return cls(base_url, auth, name)
        raise ValueError(f"unknown connection type {kind!r} (apiToken or oauth2)")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Connection:
        """Settings from a YAML or JSON file; every problem is a ValueError that names the file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"connection file not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read connection file {path}: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            settings = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(settings, dict):
            raise ValueError(f"{path}: a connection file holds a mapping of settings")
        try:
            return cls.from_settings(settings, name=Path(path).stem)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Connection:
        env = os.environ if environ is None else environ
        token = env.get("PIPEDRIVE_API_TOKEN")
        if not token:
            raise NoConnection(
                "no connection: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_BASE_URL for a company "
                "domain or the local sandbox), or pass --connection FILE"
            )
        base_url = check_url(env.get("PIPEDRIVE_BASE_URL") or DEFAULT_BASE_URL, "PIPEDRIVE_BASE_URL")
        return cls.from_settings({"type": "apiToken", "api_token": token, "base_url": base_url})
