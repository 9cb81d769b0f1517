"""A small HTTP client for CLI commands that talk to a running server.

The server is found, like the ``openstack`` CLI finds a cloud, from ``--server``/``STATEWARD_URL``,
else the ``auth_url`` of the clouds.yaml entry named by ``--os-cloud``/``OS_CLOUD``, else
``OS_AUTH_URL``. Authentication, first match wins:

- ``--token``/``STATEWARD_TOKEN`` (or ``OS_TOKEN``): used as is;
- an application credential (clouds.yaml, or ``OS_APPLICATION_CREDENTIAL_ID``/``_SECRET``);
- a password (``--username``/``--password``/``--project``, env ``STATEWARD_USERNAME``,
  ``STATEWARD_PASSWORD``, ``STATEWARD_PROJECT``, clouds.yaml, or ``OS_USERNAME``,
  ``OS_PASSWORD``, ``OS_PROJECT_NAME`` as in an openrc file).

Tokens obtained from credentials are renewed a minute before they expire, and once more on a
401 (a server restart with a new signing key, a revoked token).
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import typer

from stateward.identity.client_auth import app_cred_request, find_cloud, password_request

RENEW_BEFORE = timedelta(seconds=60)

ServerOption = typer.Option(
    None, "--server", envvar="STATEWARD_URL", help="Stateward's URL, e.g. http://127.0.0.1:9696."
)
TokenOption = typer.Option(None, "--token", envvar="STATEWARD_TOKEN", help="An auth token.")
UsernameOption = typer.Option(None, "--username", envvar="STATEWARD_USERNAME")
PasswordOption = typer.Option(None, "--password", envvar="STATEWARD_PASSWORD")
ProjectOption = typer.Option(None, "--project", envvar="STATEWARD_PROJECT")
# For commands whose subject has its own --password/--project (``user create``), as in the
# openstack CLI.
OsPasswordOption = typer.Option(
    None, "--os-password", envvar="STATEWARD_PASSWORD", help="Your own password."
)
OsProjectOption = typer.Option(
    None, "--os-project", envvar="STATEWARD_PROJECT", help="The project to authenticate in."
)
OsCloudOption = typer.Option(
    None, "--os-cloud", envvar="OS_CLOUD", help="A clouds.yaml entry to take URL and auth from."
)


class ClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Credentials:
    token: str | None = None
    username: str | None = None
    password: str | None = None
    project: str | None = None
    user_domain: dict[str, str] = field(default_factory=lambda: {"id": "default"})
    project_domain: dict[str, str] = field(default_factory=lambda: {"id": "default"})
    app_cred_id: str | None = None
    app_cred_secret: str | None = None

    def can_authenticate(self) -> bool:
        return bool(self.token or (self.app_cred_id and self.app_cred_secret) or self.password)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return str(body["message"])
    return str(body)


class ServerClient:
    def __init__(self, url: str, credentials: Credentials, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.credentials = credentials
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        self._token = credentials.token
        self._expires: datetime | None = None
        self._user_id: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _auth_body(self) -> dict[str, Any]:
        c = self.credentials
        if c.app_cred_id and c.app_cred_secret:
            return app_cred_request(c.app_cred_id, c.app_cred_secret)
        if not c.username or not c.password:
            raise ClientError(401, "no credentials: give --token, or --username and --password")
        return password_request(c.username, c.password, c.user_domain, c.project, c.project_domain)

    def authenticate(self) -> str:
        response = self._http.post("/identity/v3/auth/tokens", json=self._auth_body())
        if response.status_code >= 400:
            raise ClientError(response.status_code, _error_message(response))
        self._token = response.headers["X-Subject-Token"]
        body = response.json().get("token", {})
        self._user_id = body.get("user", {}).get("id")
        expires = body.get("expires_at")
        self._expires = datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None
        return self._token

    def _fresh_token(self) -> str:
        from_credentials = self.credentials.token is None
        if self._token is None or (
            from_credentials
            and self._expires is not None
            and datetime.now(UTC) > self._expires - RENEW_BEFORE
        ):
            return self.authenticate()
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["X-Auth-Token"] = self._fresh_token()
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and self.credentials.token is None:
                headers["X-Auth-Token"] = self.authenticate()
                response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(0, f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ClientError(response.status_code, _error_message(response))
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def post_json(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body).json()

    def patch_json(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body).json()

    def delete(self, path: str, **params: Any) -> None:
        self.request("DELETE", path, params=params or None)

    def user_id(self) -> str:
        """The id of the user this client authenticates as."""
        if self.credentials.token is not None:
            token = self._fresh_token()
            body = self.get_json_headers("/identity/v3/auth/tokens", {"X-Subject-Token": token})
            return str(body["token"]["user"]["id"])
        if self._user_id is None:
            self.authenticate()
        assert self._user_id is not None
        return self._user_id

    def get_json_headers(self, path: str, headers: dict[str, str]) -> Any:
        return self.request("GET", path, headers=headers).json()


def _domain(auth: dict[str, Any], kind: str) -> dict[str, str]:
    if auth.get(f"{kind}_domain_id"):
        return {"id": str(auth[f"{kind}_domain_id"])}
    if auth.get(f"{kind}_domain_name"):
        return {"name": str(auth[f"{kind}_domain_name"])}
    return {"id": "default"}


def _base_url(auth_url: str | None) -> str | None:
    """Stateward's base URL from a Keystone auth_url (``.../identity`` or ``.../identity/v3``)."""
    if not auth_url:
        return None
    url = auth_url.rstrip("/")
    for suffix in ("/v3", "/identity"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def _entry_credentials(auth: dict[str, Any]) -> tuple[str | None, Credentials]:
    return _base_url(auth.get("auth_url")), Credentials(
        token=auth.get("token"),
        username=auth.get("username"),
        password=auth.get("password"),
        project=auth.get("project_name"),
        user_domain=_domain(auth, "user"),
        project_domain=_domain(auth, "project"),
        app_cred_id=auth.get("application_credential_id"),
        app_cred_secret=auth.get("application_credential_secret"),
    )


def cloud_entry(name: str) -> tuple[str | None, Credentials]:
    """URL and credentials of a clouds.yaml entry (Stateward's base URL from its auth_url)."""
    entry = find_cloud(name)
    if entry is None:
        raise ClientError(0, f"cloud {name!r} not found in any clouds.yaml")
    return _entry_credentials(entry.get("auth", {}) or {})


def _from_os_environment() -> tuple[str | None, Credentials]:
    """An openrc file's variables (``OS_AUTH_URL``, ``OS_USERNAME``, ...)."""
    env = os.environ
    auth = {
        "auth_url": env.get("OS_AUTH_URL"),
        "token": env.get("OS_TOKEN"),
        "username": env.get("OS_USERNAME"),
        "password": env.get("OS_PASSWORD"),
        "project_name": env.get("OS_PROJECT_NAME"),
        "user_domain_id": env.get("OS_USER_DOMAIN_ID"),
        "user_domain_name": env.get("OS_USER_DOMAIN_NAME"),
        "project_domain_id": env.get("OS_PROJECT_DOMAIN_ID"),
        "project_domain_name": env.get("OS_PROJECT_DOMAIN_NAME"),
        "application_credential_id": env.get("OS_APPLICATION_CREDENTIAL_ID"),
        "application_credential_secret": env.get("OS_APPLICATION_CREDENTIAL_SECRET"),
    }
    return _entry_credentials(auth)


def make_client(
    server: str | None,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    project: str | None = None,
    os_cloud: str | None = None,
) -> ServerClient:
    """A client from the command's options; exits with a message when something is missing."""
    try:
        if os_cloud:
            url, credentials = cloud_entry(os_cloud)
        else:
            url, credentials = _from_os_environment()
    except ClientError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    url = server or url
    if token:
        credentials = Credentials(token=token)
    else:
        credentials.username = username or credentials.username
        credentials.password = password or credentials.password
        credentials.project = (
            project or credentials.project or ("admin" if credentials.username == "admin" else None)
        )
    if not url:
        typer.secho(
            "error: no server: give --server or set STATEWARD_URL, or use a cloud "
            "(--os-cloud / OS_CLOUD, e.g. the clouds.yaml `stateward serve` wrote at its first "
            "start)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    if not credentials.can_authenticate():
        typer.secho(
            "error: no credentials: give --token (STATEWARD_TOKEN) or --username/--password, "
            "or use a cloud (--os-cloud / OS_CLOUD)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    return ServerClient(url, credentials)


@contextmanager
def connected(
    server: str | None,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    project: str | None = None,
    os_cloud: str | None = None,
) -> Iterator[ServerClient]:
    """A client for one command; an API error becomes ``error: <message>`` and exit code 1."""
    with make_client(server, token, username, password, project, os_cloud) as client:
        try:
            yield client
        except ClientError as exc:
            typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)


KEYWORD = inspect.Parameter.KEYWORD_ONLY
_CONNECTION = ("server", "token", "username", "password", "project", "os_cloud")


def api_command(
    *, password: Any = PasswordOption, project: Any = ProjectOption
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the usual connection options (``--server``, ``--token``, ``--username``,
    ``--password``, ``--project``, ``--os-cloud``) and call it with ``client``, a connected
    ``ServerClient`` whose API errors become ``error: <message>``, exit code 1.

    A command whose subject has its own ``--password``/``--project`` (``user create``) takes
    ``OsPasswordOption``/``OsProjectOption`` for the caller's, as the openstack CLI does.
    """
    options = {
        "server": ServerOption,
        "token": TokenOption,
        "username": UsernameOption,
        "password": password,
        "project": project,
        "os_cloud": OsCloudOption,
    }

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn)
        own = [p for p in inspect.signature(fn).parameters.values() if p.name != "client"]
        added = [
            inspect.Parameter(
                f"_conn_{name}",
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=str | None,
            )
            for name, option in options.items()
        ]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            conn = [kwargs.pop(f"_conn_{name}") for name in _CONNECTION]
            with connected(*conn) as client:
                return fn(client=client, **kwargs)

        params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in own]
        command.__signature__ = inspect.Signature([*params, *added])  # type: ignore[attr-defined]
        command.__annotations__ = {
            **{p.name: p.annotation for p in params},
            **{p.name: p.annotation for p in added},
        }
        del command.__wrapped__  # typer must see the new signature, not fn's
        return command

    return decorate
