"""Keystone v3 at /identity: version discovery, the catalog, and tokens (issue, validate,
check, revoke). The administration APIs are in ``stateward.api.identity_admin``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from stateward.api.body import json_body
from stateward.api.deps import get_context, get_runtime
from stateward.api.errors import error_response
from stateward.api.identity_admin.views import collection, project_view
from stateward.api.urls import base_url
from stateward.domain.errors import (
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
)
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime
from stateward.services.identity import (
    AppCredMethod,
    AuthMethod,
    NameRef,
    PasswordMethod,
    TokenMethod,
)

router = APIRouter(prefix="/identity", tags=["identity"])

register(
    [
        rule(
            "identity:list_auth_projects",
            "rule:any_authenticated",
            "List the projects the caller may scope to.",
        ),
    ]
)

V3_UPDATED = "2024-01-01T00:00:00Z"


def _iso(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def v3_version(request: Request) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": V3_UPDATED,
        "links": [{"rel": "self", "href": f"{base_url(request)}/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


@router.get("", include_in_schema=False)
@router.get("/")
async def versions(request: Request) -> JSONResponse:
    """Unversioned root: 300 Multiple Choices, as Keystone answers."""
    return JSONResponse({"versions": {"values": [v3_version(request)]}}, status_code=300)


@router.get("/v3")
@router.get("/v3/", include_in_schema=False)
async def version(request: Request) -> dict[str, Any]:
    return {"version": v3_version(request)}


def catalog(request: Request, region: str) -> list[dict[str, Any]]:
    base = base_url(request)
    services = [
        ("identity", "keystone", f"{base}/identity"),
        ("network", "neutron", f"{base}/networking"),
        ("compute", "nova", f"{base}/compute/v2.1"),
        ("image", "glance", f"{base}/image"),
        ("alarming", "aodh", base),
    ]
    return [
        {
            "type": kind,
            "name": name,
            "id": f"{name}-service",
            "endpoints": [
                {
                    "id": f"{name}-{iface}",
                    "interface": iface,
                    "region": region,
                    "region_id": region,
                    "url": url,
                }
                for iface in ("public", "internal", "admin")
            ],
        }
        for kind, name, url in services
    ]


def token_body(request: Request, ctx: AuthContext, with_catalog: bool = True) -> dict[str, Any]:
    token: dict[str, Any] = {
        "methods": list(ctx.methods),
        "user": {
            "id": ctx.user_id,
            "name": ctx.user_name,
            "password_expires_at": None,
            "domain": {
                "id": ctx.user_domain_id,
                "name": ctx.extras.get("user_domain_name", ctx.user_domain_id),
            },
        },
        "audit_ids": ctx.audit_ids,
        "expires_at": _iso(ctx.expires_at),
        "issued_at": _iso(ctx.issued_at),
    }
    if ctx.project_id:
        token["project"] = {
            "id": ctx.project_id,
            "name": ctx.project_name,
            "domain": {
                "id": ctx.project_domain_id,
                "name": ctx.extras.get("project_domain_name", ""),
            },
        }
        token["is_domain"] = False
        runtime: Runtime = request.app.state.runtime
        token["roles"] = [{"id": name, "name": name} for name in ctx.roles]
        if with_catalog:
            token["catalog"] = catalog(request, runtime.settings.server.region)
    if ctx.app_cred_id:
        token["application_credential"] = {
            "id": ctx.app_cred_id,
            "name": ctx.extras.get("app_cred_name", ""),
            "restricted": ctx.extras.get("app_cred_unrestricted") != "true",
        }
    return {"token": token}


def _ref(data: Any, what: str) -> NameRef:
    if not isinstance(data, dict):
        raise InvalidInput(f"Invalid input for field '{what}': expected an object")
    domain = data.get("domain") or {}
    if not isinstance(domain, dict):
        raise InvalidInput(f"Invalid input for field '{what}.domain': expected an object")
    ref = NameRef(
        id=data.get("id"),
        name=data.get("name"),
        domain_id=domain.get("id"),
        domain_name=domain.get("name"),
    )
    if not ref.id and not ref.name:
        raise InvalidInput(f"Invalid input for field '{what}': an id or a name is required")
    for value, field in (
        (ref.id, "id"),
        (ref.name, "name"),
        (ref.domain_id, "domain.id"),
        (ref.domain_name, "domain.name"),
    ):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"Invalid input for field '{what}.{field}': expected a string")
    return ref


def parse_auth(payload: Any) -> tuple[AuthMethod, NameRef | None]:
    """Turn Keystone's auth request into one method and an optional project scope."""
    auth = payload.get("auth") if isinstance(payload, dict) else None
    if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
        raise InvalidInput("Invalid input for field 'auth': 'identity' is a required property")
    identity = auth["identity"]
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods:
        raise InvalidInput("Invalid input for field 'identity/methods': expected a non-empty list")
    method_name = methods[0]
    section = identity.get(method_name)
    if not isinstance(section, dict):
        raise InvalidInput(f"Invalid input for field 'identity/{method_name}': expected an object")
    method: AuthMethod
    if method_name == "password":
        user = section.get("user")
        password = user.get("password") if isinstance(user, dict) else None
        if not isinstance(password, str):
            raise InvalidInput("Invalid input for field 'password/user/password'")
        method = PasswordMethod(_ref(user, "password.user"), password)
    elif method_name == "token":
        if not isinstance(section.get("id"), str):
            raise InvalidInput("Invalid input for field 'token/id'")
        method = TokenMethod(section["id"])
    elif method_name == "application_credential":
        secret = section.get("secret")
        if not isinstance(secret, str):
            raise InvalidInput("Invalid input for field 'application_credential/secret'")
        user = section.get("user")
        method = AppCredMethod(
            secret=secret,
            id=section.get("id"),
            name=section.get("name"),
            user=_ref(user, "application_credential.user") if user else None,
        )
        if not method.id and not method.name:
            raise InvalidInput("application_credential needs an id or a name")
    else:
        raise NotAuthenticated(f"Unsupported authentication method: {method_name}")

    scope = auth.get("scope")
    if scope in (None, "unscoped"):
        return method, None
    if not isinstance(scope, dict):
        raise InvalidInput("Invalid input for field 'scope'")
    if "project" in scope:
        return method, _ref(scope["project"], "scope.project")
    raise InvalidInput("Only project scope is supported by this identity service")


AUTH_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["auth"],
                    "properties": {
                        "auth": {
                            "type": "object",
                            "properties": {"identity": {"type": "object"}, "scope": {}},
                        }
                    },
                }
            }
        },
    }
}


@router.post("/v3/auth/tokens", status_code=201, openapi_extra=AUTH_SCHEMA)
async def issue_token(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    method, scope = parse_auth(await json_body(request))
    address = request.client.host if request.client else None
    try:
        token_id, ctx = await runtime.identity.authenticate(method, scope, address=address)
    except TooManyRequests as exc:
        response = error_response(request, 429, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    nocatalog = "nocatalog" in request.query_params
    return JSONResponse(
        token_body(request, ctx, with_catalog=not nocatalog),
        status_code=201,
        headers={"X-Subject-Token": token_id},
    )


def _subject(request: Request) -> str:
    subject = request.headers.get("x-subject-token")
    if not subject:
        raise InvalidInput("X-Subject-Token header is required")
    return subject


@router.get("/v3/auth/tokens")
async def validate_token(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    subject_id = _subject(request)
    subject = await _validate_subject(runtime, subject_id)
    if subject.user_id != ctx.user_id and not runtime.policy.allowed("admin_or_service", ctx):
        raise Forbidden("You are not authorized to validate other users' tokens.")
    nocatalog = "nocatalog" in request.query_params
    return JSONResponse(
        token_body(request, subject, with_catalog=not nocatalog),
        headers={"X-Subject-Token": subject_id},
    )


async def _validate_subject(runtime: Runtime, subject_id: str) -> AuthContext:
    try:
        return await runtime.identity.validate(subject_id)
    except NotAuthenticated:
        raise NotFound("Could not find token.")


@router.head("/v3/auth/tokens", status_code=200)
async def check_token(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    subject = await _validate_subject(runtime, _subject(request))
    if subject.user_id != ctx.user_id and not runtime.policy.allowed("admin_or_service", ctx):
        raise Forbidden("You are not authorized to validate other users' tokens.")
    return Response(status_code=200)


@router.delete("/v3/auth/tokens", status_code=204)
async def revoke_token(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    subject_id = _subject(request)
    subject = await _validate_subject(runtime, subject_id)
    if subject.user_id != ctx.user_id and not runtime.policy.allowed("admin", ctx):
        raise Forbidden("You are not authorized to revoke other users' tokens.")
    await runtime.identity.revoke(subject_id)
    return Response(status_code=204)


@router.get("/v3/auth/catalog")
async def get_catalog(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    return {"catalog": catalog(request, runtime.settings.server.region)}


@router.get("/v3/auth/projects")
async def auth_projects(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    """The projects the caller holds a role on (what keystoneauth offers to scope to)."""
    runtime.policy.enforce("identity:list_auth_projects", ctx)
    projects = await runtime.identity.principals.user_projects(ctx.user_id)
    return collection(request, "projects", [project_view(request, p) for p in projects])
