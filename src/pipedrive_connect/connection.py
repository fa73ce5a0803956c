"""How to reach one Pipedrive company: base URL plus an authenticator.

Authenticators are `requests` auth objects, so the client never needs to know which
kind it holds: the API token goes in the `x-api-token` header, OAuth 2.0 sends a
Bearer token and refreshes it (and adopts the new `api_domain`) when it expires.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
import yaml
from requests.auth import AuthBase

DEFAULT_BASE_URL = "https://api.pipedrive.com"
TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"


class ApiTokenAuth(AuthBase):
    def __init__(self, token: str):
        self.token = token

    def __call__(self, request):
        request.headers["x-api-token"] = self.token
        return request

    def secrets(self) -> list[str]:
        return [self.token]


class OAuth2Auth(AuthBase):
    """Bearer auth that refreshes the access token shortly before it expires.

    `on_refresh` receives the new token set (to persist it, api_domain included).
    """

    def __init__(self, access_token: str, refresh_token: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, expires_at: float | None = None,
                 token_url: str = TOKEN_URL, on_refresh: Callable[[dict[str, Any]], None] | None = None):
        self.access_token, self.refresh_token = access_token, refresh_token
        self.client_id, self.client_secret = client_id, client_secret
        self.expires_at, self.token_url, self.on_refresh = expires_at, token_url, on_refresh
        self.api_domain: str | None = None
        self._lock = threading.Lock()

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.access_token}"
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
            response = requests.post(
                self.token_url, auth=(self.client_id, self.client_secret), timeout=(5, 30),
                data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
            )
            if response.status_code != 200:
                from .errors import StepError

                raise StepError("connection", f"OAuth token refresh failed with HTTP {response.status_code}",
                                status=response.status_code)
            tokens = response.json()
            self.access_token = tokens["access_token"]
            self.refresh_token = tokens.get("refresh_token", self.refresh_token)
            self.expires_at = time.time() + float(tokens.get("expires_in", 3600))
            self.api_domain = tokens.get("api_domain") or self.api_domain
            if self.on_refresh:
                self.on_refresh(tokens)
            return True

    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.refresh_token, self.client_secret) if s]


@dataclass
class Connection:
    base_url: str
    auth: AuthBase
    name: str = "pipedrive"
    prefixes: dict[str, str] = field(default_factory=lambda: {"v1": "/api/v1", "v2": "/api/v2"})

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port], got {self.base_url!r}")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("plain http is only allowed for the local sandbox; Pipedrive requires https")

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
    def from_settings(cls, settings: dict[str, Any], name: str = "pipedrive") -> "Connection":
        kind = settings.get("type", "apiToken")
        base_url = settings.get("base_url") or DEFAULT_BASE_URL
        if kind == "apiToken":
            token = settings.get("api_token")
            if not token:
                raise ValueError("the apiToken connection needs api_token")
            return cls(base_url, ApiTokenAuth(str(token)), name)
        if kind == "oauth2":
            if not settings.get("access_token"):
                raise ValueError("the oauth2 connection needs access_token")
            auth = OAuth2Auth(settings["access_token"], settings.get("refresh_token"), settings.get("client_id"),
                              settings.get("client_secret"), settings.get("expires_at"),
                              settings.get("token_url", TOKEN_URL))
            return cls(settings.get("api_domain") or base_url, auth, name)
        raise ValueError(f"unknown connection type {kind!r} (apiToken or oauth2)")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Connection":
        text = Path(path).read_text(encoding="utf-8")
        settings = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        if not isinstance(settings, dict):
            raise ValueError(f"{path}: a connection file holds a mapping of settings")
        return cls.from_settings(settings, name=Path(path).stem)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Connection":
        env = os.environ if environ is None else environ
        token = env.get("PIPEDRIVE_API_TOKEN")
        if not token:
            raise ValueError("no connection: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_BASE_URL for a company "
                             "domain or the local sandbox), or pass --connection FILE")
        return cls.from_settings({"type": "apiToken", "api_token": token,
                                  "base_url": env.get("PIPEDRIVE_BASE_URL") or DEFAULT_BASE_URL})
