"""Nova's quotas: os-quota-sets (per project, per user), os-quota-class-sets and limits.

The values come from the one quota engine Neutron's and Aodh's quotas use too. Which resources
a response shows depends on the microversion: the network proxies (fixed_ips, floating_ips,
security_groups, security_group_rules) go at 2.36 (quota classes: 2.50, which adds the server
group ones), the injected files at 2.57.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.compute.common import bad, body, object_body
from stateward.api.compute.versions import Microversion, requested_microversion
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain.errors import Forbidden
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime
from stateward.services.quota_resources import NOVA_INJECTED_FILES, NOVA_NETWORK_PROXIES

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:os-quota-sets:show", "rule:admin_or_reader", "Show a project's."),
        rule("os_compute_api:os-quota-sets:detail", "rule:admin_or_reader", "With usage."),
        rule("os_compute_api:os-quota-sets:defaults", "rule:any_authenticated"),
        rule("os_compute_api:os-quota-sets:update", "rule:admin", "Set a project's limits."),
        rule("os_compute_api:os-quota-sets:delete", "rule:admin", "Back to the defaults."),
        rule("os_compute_api:os-quota-class-sets:show", "rule:admin"),
        rule("os_compute_api:os-quota-class-sets:update", "rule:admin"),
        rule("os_compute_api:limits", "rule:any_authenticated", "Show own limits and usage."),
    ]
)

SERVER_GROUPS = ("server_groups", "server_group_members")


def shown(names: list[str], mv: Microversion, *, classes: bool = False) -> list[str]:
    """The resources a quota set (or class set) has at this microversion."""
    hidden: set[str] = set()
    if mv.at_least("2.50" if classes else "2.36"):
        hidden |= set(NOVA_NETWORK_PROXIES)
    elif classes:
        hidden |= set(SERVER_GROUPS)
    if mv.at_least("2.57"):
        hidden |= set(NOVA_INJECTED_FILES)
    return [n for n in names if n not in hidden]


def _user(request: Request) -> str | None:
    user = request.query_params.get("user_id")
    if user is not None and not 1 <= len(user) <= 255:
        raise bad("Invalid user_id.")
    return user


def _target(tenant_id: str, user_id: str | None = None) -> dict[str, Any]:
    return target(tenant_id, user_id=user_id)


def _values(runtime: Runtime, payload: Any, key: str, allowed: list[str]) -> dict[str, Any]:
    values = object_body(payload, key)
    extras = {"force"} if key == "quota_set" else set()
    unknown = sorted(set(values) - set(allowed) - extras)
    if unknown:
        raise bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    return values


def _force(values: dict[str, Any]) -> bool:
    force = values.pop("force", False)
    if isinstance(force, str) and force.lower() in ("true", "false"):
        return force.lower() == "true"
    if not isinstance(force, bool):
        raise bad(f"Invalid input for field/attribute force. Value: {force}.")
    return force


@router.get("/os-quota-sets/{tenant_id}")
async def show_quota_set(
    tenant_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    user = _user(request)
    runtime.policy.enforce("os_compute_api:os-quota-sets:show", ctx, _target(tenant_id, user))
    limits = await runtime.quotas.limits("compute", tenant_id, user_id=user)
    names = shown(list(limits), mv)
    return {"quota_set": {"id": tenant_id, **{n: limits[n] for n in names}}}


@router.get("/os-quota-sets/{tenant_id}/detail")
async def show_quota_set_detail(
    tenant_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    user = _user(request)
    runtime.policy.enforce("os_compute_api:os-quota-sets:detail", ctx, _target(tenant_id, user))
    usage = await runtime.quotas.usage("compute", tenant_id, user_id=user)
    names = shown(list(usage), mv)
    detail = {n: {"limit": usage[n][0], "in_use": usage[n][1], "reserved": 0} for n in names}
    return {"quota_set": {"id": tenant_id, **detail}}


@router.get("/os-quota-sets/{tenant_id}/defaults")
async def show_quota_defaults(
    tenant_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-quota-sets:defaults", ctx, _target(tenant_id))
    defaults = await runtime.quotas.defaults("compute")
    return {"quota_set": {"id": tenant_id, **{n: defaults[n] for n in shown(list(defaults), mv)}}}


@router.put("/os-quota-sets/{tenant_id}")
async def update_quota_set(
    tenant_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    user = _user(request)
    names = shown([r.name for r in runtime.quotas.resources("compute")], mv)
    values = _values(runtime, await body(request), "quota_set", names)
    force = _force(values)
    runtime.policy.enforce("os_compute_api:os-quota-sets:update", ctx, _target(tenant_id, user))
    limits = await runtime.quotas.update(
        "compute", tenant_id, runtime.quotas.parse("compute", values), user_id=user, force=force
    )
    return {"quota_set": {n: limits[n] for n in names}}


@router.delete("/os-quota-sets/{tenant_id}", status_code=202)
async def delete_quota_set(
    tenant_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    user = _user(request)
    runtime.policy.enforce("os_compute_api:os-quota-sets:delete", ctx, _target(tenant_id, user))
    await runtime.quotas.reset("compute", tenant_id, user_id=user)
    return Response(status_code=202)


# quota classes ---------------------------------------------------------------------------------


def _class_name(name: str) -> str:
    if not 1 <= len(name) <= 255:
        raise bad("Invalid quota class name.")
    return name


@router.get("/os-quota-class-sets/{class_name}")
async def show_quota_class(
    class_name: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-quota-class-sets:show", ctx, target(ctx.project_id))
    limits = await runtime.quotas.class_limits("compute", _class_name(class_name))
    names = shown(list(limits), mv, classes=True)
    return {"quota_class_set": {"id": class_name, **{n: limits[n] for n in names}}}


@router.put("/os-quota-class-sets/{class_name}")
async def update_quota_class(
    class_name: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    names = shown([r.name for r in runtime.quotas.resources("compute")], mv, classes=True)
    values = _values(runtime, await body(request), "quota_class_set", names)
    runtime.policy.enforce("os_compute_api:os-quota-class-sets:update", ctx, target(ctx.project_id))
    limits = await runtime.quotas.update_class(
        "compute", _class_name(class_name), runtime.quotas.parse("compute", values)
    )
    return {"quota_class_set": {n: limits[n] for n in names}}


# limits ----------------------------------------------------------------------------------------

ABSOLUTE = (
    ("maxTotalInstances", "instances"),
    ("maxTotalCores", "cores"),
    ("maxTotalRAMSize", "ram"),
    ("maxServerMeta", "metadata_items"),
    ("maxTotalKeypairs", "key_pairs"),
    ("maxServerGroups", "server_groups"),
    ("maxServerGroupMembers", "server_group_members"),
    ("maxPersonality", "injected_files"),
    ("maxPersonalitySize", "injected_file_content_bytes"),
    ("maxSecurityGroups", "security_groups"),
    ("maxSecurityGroupRules", "security_group_rules"),
    ("maxTotalFloatingIps", "floating_ips"),
)
USED = (("totalInstancesUsed", "instances"), ("totalCoresUsed", "cores"), ("totalRAMUsed", "ram"))


@router.get("/limits")
async def limits(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    project = ctx.project_id
    asked = request.query_params.get("tenant_id")
    if asked and asked != project:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow os_compute_api:limits:other_project.")
        project = asked
    runtime.policy.enforce("os_compute_api:limits", ctx, target(project))
    assert project is not None
    usage = await runtime.quotas.usage("compute", project)
    names = set(shown(list(usage), mv))
    absolute = {key: usage[name][0] for key, name in ABSOLUTE if name in names}
    absolute.update({key: usage[name][1] for key, name in USED})
    if not mv.at_least("2.36"):
        absolute.update(totalSecurityGroupsUsed=0, totalFloatingIpsUsed=0)
    absolute["totalServerGroupsUsed"] = 0
    return {"limits": {"rate": [], "absolute": absolute}}
