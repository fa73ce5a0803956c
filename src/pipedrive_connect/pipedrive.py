"""Pipedrive's wire rules in one place: the API roots, where credentials go, the rate-limit
headers, the two paging styles and the answer envelope.

The client, the limiter, the connection and the runtime apply these rules; none of them
spells a Pipedrive header, envelope key or paging parameter of its own. The API roots are
read from `connector.yaml`'s `api` block (`Api.from_manifest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ---- API roots (connector.yaml `api`) ---------------------------------------------------
DEFAULT_BASE_URL = "https://api.pipedrive.com"
DEFAULT_PREFIXES = {"v1": "/api/v1", "v2": "/api/v2"}
ALIASES = {"/v1": "v1"}  # v1 also answers without /api


@dataclass(frozen=True)
class Api:
    """Where each API version lives below a company's base URL."""

    base_url: str = DEFAULT_BASE_URL
    prefixes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PREFIXES))

    @classmethod
    def from_manifest(cls, block: dict[str, Any] | None) -> Api:
        """The bundle manifest's `api` block (already validated against manifest.schema.json)."""
        block = block or {}
        return cls(
            str(block.get("base_url") or DEFAULT_BASE_URL).rstrip("/"), dict(block.get("prefixes") or DEFAULT_PREFIXES)
        )

    def locate(self, path: str) -> tuple[str, str] | None:
        """(API version, path below its root) for a path that starts with an API root (or a v1 alias)."""
        roots = [(prefix, api) for api, prefix in self.prefixes.items()] + list(ALIASES.items())
        for prefix, api in roots:
            if path.startswith(prefix.rstrip("/") + "/"):
                return api, path[len(prefix.rstrip("/")) :]
        return None


# ---- credentials --------------------------------------------------------------------------
API_TOKEN_HEADER = "x-api-token"  # an API token travels only in this header, never in the query
OAUTH_HEADER = "Authorization"  # OAuth 2.0: "Bearer <access token>"
AUTH_HEADERS = frozenset({API_TOKEN_HEADER, OAUTH_HEADER.lower()})


def bearer(access_token: str) -> str:
    return f"Bearer {access_token}"


# ---- rate limits --------------------------------------------------------------------------
RATE_LIMIT = "x-ratelimit-limit"  # requests allowed per window
RATE_REMAINING = "x-ratelimit-remaining"  # "0" (or "-1") when the window is used up
RATE_RESET = "x-ratelimit-reset"  # seconds until the window resets
RETRY_HINTS = ("Retry-After", RATE_RESET)  # waits the server asks for, in order of preference
RATE_WINDOW = 2.0  # Pipedrive counts requests per token over a rolling 2-second window
SEARCH_LIMIT = 10  # search endpoints allow 10 requests per window on every plan
_BUDGET_WORDS = ("daily", "budget", "quota")


def budget_spent(error_text: str | None) -> bool:
    """A 429 that is the company's daily token budget, not the burst window."""
    lowered = (error_text or "").lower()
    return any(word in lowered for word in _BUDGET_WORDS)


# ---- paging -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Paging:
    """One of Pipedrive's two paging styles: v2's cursors and v1's offsets."""

    style: str  # "cursor" | "offset"
    param: str  # the query parameter that asks for a page

    def hint(self, additional_data: dict[str, Any]) -> Any:
        """The next page's cursor or offset as the answer gives it (None on the last page)."""
        if self.style == "cursor":
            return additional_data.get("next_cursor")
        return (additional_data.get("pagination") or {}).get("next_start")

    def step(self, additional_data: dict[str, Any], at: Any, count: int) -> tuple[bool, Any]:
        """(more pages follow, where the next one starts) after a page of `count` items read at `at`."""
        if self.style == "cursor":
            nxt = additional_data.get("next_cursor")
            return bool(nxt), nxt
        pagination = additional_data.get("pagination") or {}
        nxt = pagination.get("next_start")
        if nxt is None:  # the spec's own examples omit next_start: go on after this page's items
            nxt = (at or 0) + count
        return bool(pagination.get("more_items_in_collection")), nxt


PAGING = {"cursor": Paging("cursor", "cursor"), "offset": Paging("offset", "start")}


def paging(style: str) -> Paging:
    return PAGING["cursor" if style == "cursor" else "offset"]


# ---- the answer envelope --------------------------------------------------------------------
ERROR_KEYS = ("error", "error_info")


def data(body: Any) -> Any:
    return body.get("data") if isinstance(body, dict) else body


def additional_data(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("additional_data"), dict):
        return body["additional_data"]
    return {}


def error_text(body: Any) -> str | None:
    """What an error answer says, from its `error` and `error_info`."""
    if not isinstance(body, dict):
        return None
    parts = [str(body[k]) for k in ERROR_KEYS if body.get(k)]
    return " - ".join(parts) or None


def refused(body: Any) -> bool:
    """A 2xx answer that says `"success": false`: the request was not carried out."""
    return isinstance(body, dict) and body.get("success") is False


def envelope(data: Any, additional: dict[str, Any] | None = None) -> dict[str, Any]:
    """A successful answer as Pipedrive shapes it."""
    out: dict[str, Any] = {"success": True, "data": data}
    if additional:
        out["additional_data"] = additional
    return out
