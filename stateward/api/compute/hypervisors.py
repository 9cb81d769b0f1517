"""Nova's os-hypervisors: one compute node per chassis (list, detail, show).

Ids are the compute service's uuid from 2.53 and its integer id before, as os-services gives
them. Capacity is what the chassis reports (0 when it reports none); usage is what its servers
take.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from stateward.api.compute.common import bad
from stateward.api.compute.versions import Microversion, requested_microversion
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain import compute as rules
from stateward.domain.errors import NotFound
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime
from stateward.services.hypervisors import Hypervisor

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:os-hypervisors:list", "rule:admin", "List compute nodes."),
        rule("os_compute_api:os-hypervisors:list-detail", "rule:admin"),
        rule("os_compute_api:os-hypervisors:show", "rule:admin"),
    ]
)


def _id(h: Hypervisor, mv: Microversion) -> Any:
    return (
        rules.service_uuid(h.state.host)
        if mv.at_least("2.53")
        else rules.service_int_id(h.state.host)
    )


def hypervisor_view(h: Hypervisor, mv: Microversion, *, detail: bool) -> dict[str, Any]:
    s = h.state
    view: dict[str, Any] = {
        "id": _id(h, mv),
        "hypervisor_hostname": s.host,
        "state": "up" if s.up else "down",
        "status": "enabled" if s.enabled else "disabled",
    }
    if not detail:
        return view
    capacity = s.capacity
    view.update(
        {
            "host_ip": h.host_ip,
            "hypervisor_type": "QEMU",
            "hypervisor_version": 8002000,
            "service": {
                "host": s.host,
                "id": rules.service_uuid(s.host)
                if mv.at_least("2.53")
                else rules.service_int_id(s.host),
                "disabled_reason": None,
            },
            "vcpus": capacity.vcpus if capacity else 0,
            "memory_mb": capacity.memory_mb if capacity else 0,
            "local_gb": capacity.disk_gb if capacity else 0,
            "vcpus_used": s.used.vcpus,
            "memory_mb_used": s.used.memory_mb,
            "local_gb_used": s.used.disk_gb,
            "free_ram_mb": (capacity.memory_mb if capacity else 0) - s.used.memory_mb,
            "free_disk_gb": (capacity.disk_gb if capacity else 0) - s.used.disk_gb,
            "running_vms": s.servers,
            "current_workload": 0,
            "disk_available_least": capacity.disk_gb - s.used.disk_gb if capacity else 0,
            "cpu_info": "{}",
        }
    )
    return view


async def _all(runtime: Runtime, request: Request) -> list[Hypervisor]:
    hypervisors = await runtime.hypervisors.list()
    pattern = request.query_params.get("hypervisor_hostname_pattern")
    if pattern is not None:
        hypervisors = [h for h in hypervisors if pattern in h.state.host]
    return hypervisors


@router.get("/os-hypervisors")
async def list_hypervisors(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-hypervisors:list", ctx, target(ctx.project_id))
    return {
        "hypervisors": [hypervisor_view(h, mv, detail=False) for h in await _all(runtime, request)]
    }


@router.get("/os-hypervisors/detail")
async def list_hypervisors_detail(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-hypervisors:list-detail", ctx, target(ctx.project_id))
    return {
        "hypervisors": [hypervisor_view(h, mv, detail=True) for h in await _all(runtime, request)]
    }


@router.get("/os-hypervisors/{hypervisor_id}")
async def show_hypervisor(
    hypervisor_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-hypervisors:show", ctx, target(ctx.project_id))
    if mv.at_least("2.53"):
        try:
            hypervisor_id = str(uuid.UUID(hypervisor_id))
        except ValueError:
            raise bad(f"Invalid uuid {hypervisor_id}")
    for h in await runtime.hypervisors.list():
        if str(_id(h, mv)) == hypervisor_id:
            return {"hypervisor": hypervisor_view(h, mv, detail=True)}
    raise NotFound(f"Hypervisor with ID {hypervisor_id} could not be found.")
