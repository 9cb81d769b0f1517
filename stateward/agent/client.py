"""The agent's async HTTP client for Stateward's own API.

It authenticates against ``/identity/v3/auth/tokens`` with a password (a service user) or an
application credential, and renews the token before it expires; a fixed ``--token`` is used as
is. Several server URLs may be given: a request that cannot connect moves on to the next one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from stateward.config import AgentConfig
from stateward.identity.client_auth import (
    app_cred_request,
    domain_ref,
    find_cloud,
    password_request,
)

log = logging.getLogger(__name__)


class AuthError(Exception):
    """The server refused the credentials (not retried)."""


@dataclass
class Credentials:
    token: str | None = None
    username: str | None = None
    password: str | None = None
    project: str = "service"
    user_domain: str = "Default"
    project_domain: str = "Default"
    app_cred_id: str | None = None
    app_cred_secret: str | None = None
    auth_url: str | None = None  # from clouds.yaml: .../identity

    def describe(self) -> str:
        if self.token:
            return "token"
        if self.app_cred_id:
            return "application credential"
        return f"user {self.username}"

    def body(self) -> dict[str, Any]:
        if self.app_cred_id:
            return app_cred_request(self.app_cred_id, self.app_cred_secret)
        return password_request(
            self.username,
            self.password,
            domain_ref(self.user_domain),
            self.project,
            domain_ref(self.project_domain),
        )


def load_cloud(name: str) -> dict[str, Any]:
    """One entry of clouds.yaml, found where openstacksdk looks."""
    entry = find_cloud(name)
    if entry is None:
        raise AuthError(f"cloud {name!r} not found in clouds.yaml")
    return entry


def credentials_from(token: str | None, cloud: str | None, config: AgentConfig) -> Credentials:
    """--token wins, then a clouds.yaml entry, then the [agent] section of the config."""
    if token:
        return Credentials(token=token)
    cloud = cloud or config.cloud
    if cloud:
        entry = load_cloud(cloud)
        auth = dict(entry.get("auth") or {})
        auth_type = str(entry.get("auth_type") or "password")
        if auth_type in ("v3applicationcredential", "applicationcredential"):
            return Credentials(
                app_cred_id=auth.get("application_credential_id"),
                app_cred_secret=auth.get("application_credential_secret"),
                auth_url=auth.get("auth_url"),
            )
        if auth_type in ("admin_token", "token"):
            return Credentials(token=auth.get("token"), auth_url=auth.get("auth_url"))
        return Credentials(
            username=auth.get("username"),
            password=auth.get("password"),
            project=auth.get("project_name") or "service",
            user_domain=auth.get("user_domain_name") or "Default",
            project_domain=auth.get("project_domain_name") or "Default",
            auth_url=auth.get("auth_url"),
        )
    if config.application_credential_id:
        secret = config.application_credential_secret
        return Credentials(
            app_cred_id=config.application_credential_id,
            app_cred_secret=secret.get_secret_value() if secret else None,
        )
    if config.username:
        return Credentials(
            username=config.username,
            password=config.password.get_secret_value() if config.password else None,
            project=config.project,
            user_domain=config.user_domain,
            project_domain=config.project_domain,
        )
    raise AuthError(
        "no credentials: give --token/STATEWARD_TOKEN, --os-cloud, or [agent] username/password "
        "or application_credential_id/secret (STATEWARD_AGENT__USERNAME, ...)"
    )


class ServerClient:
    """Authenticated requests to one of several server URLs, renewing the token in time."""

    def __init__(self, urls: list[str], credentials: Credentials, *, timeout: float = 5.0):
        if not urls and credentials.auth_url:
            urls = [credentials.auth_url.rstrip("/").removesuffix("/identity")]
        if not urls:
            raise AuthError("no server URL: give --server or STATEWARD_URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.credentials = credentials
        self._http = httpx.AsyncClient(timeout=timeout)
        self._token: str | None = credentials.token
        self._expires: datetime | None = None
        self._margin = timedelta()
        self._current = 0
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return self.urls[self._current]

    async def close(self) -> None:
        await self._http.aclose()

    def _needs_renewal(self) -> bool:
        if self.credentials.token:
            return False
        if self._token is None or self._expires is None:
            return True
        # renew once 80% of the token's lifetime is gone
        return datetime.now(UTC) >= self._expires - self._margin

    async def _authenticate(self) -> None:
        response = await self._send("POST", "/identity/v3/auth/tokens", self.credentials.body())
        if response.status_code in (401, 403):
            raise AuthError(f"authentication as {self.credentials.describe()} refused")
        response.raise_for_status()
        self._token = response.headers["X-Subject-Token"]
        token = response.json()["token"]
        self._expires = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
        issued = datetime.fromisoformat(token["issued_at"].replace("Z", "+00:00"))
        lifetime = self._expires - issued
        self._margin = lifetime * 0.2
        log.info("authenticated", extra={"as": self.credentials.describe()})

    async def token(self) -> str:
        async with self._lock:
            if self._needs_renewal():
                await self._authenticate()
            assert self._token is not None
            return self._token

    async def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Try each URL once, starting with the one that worked last."""
        last: Exception | None = None
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        for i in range(len(self.urls)):
            index = (self._current + i) % len(self.urls)
            try:
                response = await self._http.request(
                    method, self.urls[index] + path, json=body, headers=headers, **extra
                )
            except httpx.TransportError as exc:
                last = exc
                continue
            if response.status_code in (502, 503) and i < len(self.urls) - 1:
                continue
            self._current = index
            return response
        assert last is not None
        raise last

    async def request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> httpx.Response:
        """An authenticated request; a 401 (token revoked or expired) re-authenticates once.
        ``timeout`` overrides the client's (a long-poll holds the request on purpose)."""
        for attempt in (1, 2):
            token = await self.token()
            response = await self._send(method, path, body, {"X-Auth-Token": token}, timeout)
            if response.status_code == 401 and attempt == 1 and not self.credentials.token:
                self._token = None
                continue
            return response
        return response
