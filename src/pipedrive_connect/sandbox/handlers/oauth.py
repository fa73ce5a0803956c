"""The sandbox's OAuth 2.0 server: what oauth.pipedrive.com does, served beside the API.

One registered app (client id and secret). ``/oauth/authorize`` approves at once (``refuse=1`` in
its query makes it refuse, as a person clicking Cancel would) and sends the browser back to the
``redirect_uri`` with a code and the ``state``; ``/oauth/token`` trades a code or a refresh token for
an access token that lives ``ttl`` seconds, with the sandbox's own URL as ``api_domain``;
``/oauth/revoke`` ends a grant. Tokens live in memory: a restarted sandbox has forgotten them.
Where this is simpler than Pipedrive is listed in docs/sandbox.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

CODE_TTL = 300.0  # Pipedrive's authorization codes last five minutes
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Grant:
    """One app installation: its refresh token and the access tokens issued under it."""

    refresh_token: str
    scope: str
    access: set[str] = field(default_factory=set)
    revoked: bool = False


def _json(status: int, payload: dict) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error(status: int, error: str, description: str) -> Response:
    return _json(status, {"error": error, "error_description": description})


class OAuthServer:
    def __init__(self, client_id: str, client_secret: str, ttl: float = 3599.0, scope: str = "base"):
        self.client_id, self.client_secret, self.ttl, self.scope = client_id, client_secret, ttl, scope
        self.lock = threading.Lock()
        self.codes: dict[str, tuple[str, float]] = {}  # code -> (redirect_uri, expires at)
        self.grants: dict[str, Grant] = {}  # refresh token -> grant
        self.access: dict[str, tuple[Grant, float]] = {}  # access token -> (grant, expires at)
        self.counts: Counter = Counter()  # token grants by type, revocations

    def __call__(self, request: Request) -> Response:
        routes = {
            ("GET", "/oauth/authorize"): self.authorize,
            ("POST", "/oauth/token"): self.token,
            ("POST", "/oauth/revoke"): self.revoke,
        }
        handler = routes.get((request.method, request.path.rstrip("/")))
        if handler is None:
            return _error(404, "not_found", "Unknown OAuth endpoint.")
        return handler(request)

    # -- the API side ---------------------------------------------------------------------------------
    def bearer_status(self, token: str) -> str | None:
        """ "valid", "expired" or "revoked" for an access token this server issued; None for any other."""
        with self.lock:
            issued = self.access.get(token)
        if issued is None:
            return None
        grant, expires_at = issued
        if grant.revoked:
            return "revoked"
        return "valid" if time.time() < expires_at else "expired"

    def stats(self) -> dict:
        with self.lock:
            return dict(self.counts)

    # -- endpoints ------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id:
            return _error(400, "invalid_client", "Unknown client_id.")
        target = urlsplit(redirect_uri)
        if target.scheme != "http" or target.hostname not in LOOPBACK:  # no registered callback: loopback only
            return _error(400, "invalid_request", "redirect_uri must be an http://127.0.0.1 address here.")
        answer: dict[str, str] = {}
        if args.get("refuse"):
            answer["error"] = "user_denied"
        else:
            code = secrets.token_urlsafe(24)
            with self.lock:
                self.codes[code] = (redirect_uri, time.time() + CODE_TTL)
            answer["code"] = code
        if "state" in args:
            answer["state"] = args["state"]
        join = "&" if target.query else "?"
        return Response(status=302, headers={"Location": f"{redirect_uri}{join}{urlencode(answer)}"})

    def _client_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header[:6].lower() != "basic ":
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), self.client_id.encode()) and hmac.compare_digest(
            password.encode(), self.client_secret.encode()
        )

    def token(self, request: Request) -> Response:
        if not self._client_ok(request):
            return _error(401, "invalid_client", "Client authentication failed (HTTP Basic with id and secret).")
        form = request.form
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                issued = self.codes.pop(form.get("code", ""), None)  # a code is used once
                if issued is None or issued[1] < time.time() or issued[0] != form.get("redirect_uri"):
                    return _error(
                        400, "invalid_grant", "The code is unknown, used, expired or for another redirect_uri."
                    )
                grant = Grant(secrets.token_urlsafe(32), self.scope)
                self.grants[grant.refresh_token] = grant
            elif grant_type == "refresh_token":
                found = self.grants.get(form.get("refresh_token", ""))
                if found is None or found.revoked:
                    return _error(400, "invalid_grant", "The refresh token is unknown or revoked.")
                grant = found
            else:
                return _error(400, "unsupported_grant_type", "Use authorization_code or refresh_token.")
            access = secrets.token_urlsafe(32)
            grant.access.add(access)
            self.access[access] = (grant, time.time() + self.ttl)
            self.counts[grant_type] += 1
        return _json(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "refresh_token": grant.refresh_token,  # Pipedrive hands back the same refresh token
                "scope": grant.scope,
                "expires_in": self.ttl,
                "api_domain": request.host_url.rstrip("/"),
            },
        )

    def revoke(self, request: Request) -> Response:
        if not self._client_ok(request):
            return _error(401, "invalid_client", "Client authentication failed (HTTP Basic with id and secret).")
        token = request.form.get("token", "")
        with self.lock:
            grant = self.grants.get(token) or (self.access.get(token) or (None, 0.0))[0]
            if grant is not None:
                grant.revoked = True  # the whole installation: its refresh and access tokens
                self.counts["revoked"] += 1
        return _json(200, {})  # RFC 7009: the same answer for an unknown token
