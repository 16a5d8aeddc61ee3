"""A thin client of Metabase's REST API: authentication, JSON calls and errors that say what to fix.

Authentication is an API key (`x-api-key` header, Metabase 0.47+) or a session from
`POST /api/session` (`X-Metabase-Session` header). Only the routes the provisioning needs are
used; request and response shapes follow Metabase's API (`/api/docs` on any instance).
"""

from __future__ import annotations

from typing import Any

import httpx


class MetabaseError(RuntimeError):
    """Something the person running the provisioning has to fix; the message says what."""


class MetabaseUnreachable(MetabaseError):
    pass


class AuthenticationFailed(MetabaseError):
    pass


class NotFound(MetabaseError):
    pass


def _detail(response: httpx.Response) -> str:
    """Metabase's own explanation: `message`, `errors` or the plain-text body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        if body.get("errors"):
            errors = body["errors"]
            if isinstance(errors, dict):
                return "; ".join(f"{k}: {v}" for k, v in errors.items())
            return str(errors)
        if body.get("message"):
            return str(body["message"])
    return str(body)[:300]


class MetabaseClient:
    def __init__(
        self, url: str, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ):
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MetabaseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise MetabaseUnreachable(
                f"cannot reach Metabase at {self.url} ({type(exc).__name__}: {exc}); "
                "check MB_URL (for example http://localhost:3000) and that Metabase is running"
            ) from None

    def request(self, method: str, path: str, **kw: Any) -> Any:
        response = self._send(method, path, **kw)
        if response.status_code == 401:
            raise AuthenticationFailed(
                f"Metabase refused {method} {path} as unauthenticated ({_detail(response)}); "
                "check MB_API_KEY, or MB_USER and MB_PASSWORD"
            )
        if response.status_code == 403:
            raise AuthenticationFailed(
                f"Metabase refused {method} {path}: the account lacks permission "
                f"({_detail(response)}); provisioning needs an admin account or API key"
            )
        if response.status_code == 404:
            raise NotFound(f"{method} {path}: not found ({_detail(response)})")
        if response.status_code >= 400:
            raise MetabaseError(
                f"{method} {path} failed with HTTP {response.status_code}: {_detail(response)}"
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PUT", path, json=body)

    # --- connection and authentication -----------------------------------------------------

    def check_metabase(self) -> None:
        """`GET /api/health` answers `{"status": "ok"}` on every Metabase, without login."""
        response = self._send("GET", "/api/health")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and "status" in body):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise MetabaseUnreachable(
                f"{self.url} does not answer like Metabase (GET /api/health returned HTTP "
                f"{response.status_code}, {kind}); MB_URL must be Metabase's root URL, "
                "for example http://localhost:3000"
            )
        if body["status"] != "ok":
            raise MetabaseUnreachable(
                f"Metabase at {self.url} is not ready (health: {body['status']}); try again shortly"
            )

    def use_api_key(self, api_key: str) -> None:
        self._http.headers["x-api-key"] = api_key
        try:
            self.get("/api/user/current")
        except AuthenticationFailed:
            raise AuthenticationFailed(
                f"Metabase at {self.url} rejected the API key in MB_API_KEY; "
                "create one in Admin settings > Authentication > API keys"
            ) from None

    def login(self, username: str, password: str) -> None:
        response = self._send(
            "POST", "/api/session", json={"username": username, "password": password}
        )
        if response.status_code in (400, 401):
            raise AuthenticationFailed(
                f"Metabase at {self.url} rejected the login of {username!r} "
                f"({_detail(response)}); check MB_USER and MB_PASSWORD"
            )
        if response.status_code >= 400:
            raise MetabaseError(
                f"POST /api/session failed with HTTP {response.status_code}: {_detail(response)}"
            )
        self._http.headers["X-Metabase-Session"] = response.json()["id"]
