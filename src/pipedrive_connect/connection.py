"""How to reach one Pipedrive company: base URL plus an authenticator.

Authenticators are `requests` auth objects, so the client never needs to know which
kind it holds: the API token goes in the `x-api-token` header, OAuth 2.0 sends a
Bearer token and refreshes it (and adopts the new `api_domain`) when it expires
(`oauth.OAuth2Auth`, imported only for OAuth connections: it brings Authlib).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests.auth import AuthBase

from .bundle import yaml_problem
from .pipedrive import API_TOKEN_HEADER, DEFAULT_BASE_URL

if TYPE_CHECKING:
    from .oauth import OAuth2Auth, TokenFile

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
    def from_settings(
        cls, settings: dict[str, Any], name: str = "pipedrive", store: TokenFile | None = None
    ) -> Connection:
        """`store` is the file an OAuth connection writes its refreshed tokens back to."""
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
                raise ValueError("the oauth2 connection needs access_token (run `pipedrive-connect login`)")
            for key in ("expires_at", "expires_in"):
                if settings.get(key) is not None and not isinstance(settings[key], (int, float)):
                    raise ValueError(f"{key} must be a number of seconds")
            from .oauth import OAuth2Auth

            return cls(base_url, OAuth2Auth(settings, store), name)
        raise ValueError(f"unknown connection type {kind!r} (apiToken or oauth2)")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Connection:
        """Settings from a YAML or JSON file; every problem is a ValueError that names the file.
        An OAuth connection writes its refreshed tokens back to the file."""
        settings = read_settings(path)
        store = None
        if settings.get("type") == "oauth2":
            from .oauth import TokenFile

            store = TokenFile(path)
        try:
            return cls.from_settings(settings, name=Path(path).stem, store=store)
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


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """A connection file's settings (YAML, or JSON by its name); every problem is a ValueError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"connection file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read connection file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    import yaml  # only a connection file needs it: `run` on the environment's settings does not

    try:
        settings = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: a connection file holds a mapping of settings")
    return settings
