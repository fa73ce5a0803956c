"""A small client for tests that talk to a sandbox over loopback HTTP."""

from __future__ import annotations

import requests

from pipedrive_connect.sandbox import Sandbox

TOKEN = "secret-token"


class Api:
    """requests.Session bound to a sandbox: ``api.get("/api/v2/deals")``."""

    def __init__(self, sandbox: Sandbox, token: str = TOKEN):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers["x-api-token"] = token

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.sandbox.base_url + path, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def data(self, method: str, path: str, status: int = 200, **kw):
        """Call and return ``data``, asserting the status and the success envelope."""
        response = self.request(method, path, **kw)
        assert response.status_code == status, response.text
        body = response.json()
        assert body["success"] is True
        return body["data"]
