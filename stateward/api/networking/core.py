"""Networks, subnets and ports on the generic controller: their maps, views and few rules."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from stateward.api.networking.attributes import NETWORK, PORT, SUBNET
from stateward.api.networking.resource import Controller, CrossProject, Resource
from stateward.domain.identity import AuthContext
from stateward.runtime import Runtime
from stateward.services.network import network_view, port_view, subnet_view

NETWORKS = Controller(
    Resource(
        name="network",
        collection="networks",
        label="Network",
        attributes=NETWORK,
        use_cases=lambda runtime: runtime.network.networks,
        view=network_view,
        shared=lambda net: bool(net.shared),
    )
)


def _on_network(allow_shared: bool) -> Any:
    """A subnet or port goes on a network the caller sees and owns (or a shared one, for a
    port); an admin may put one on any network."""

    async def check(
        runtime: Runtime, ctx: AuthContext, project: str, attrs: dict[str, Any]
    ) -> None:
        net = await NETWORKS.visible(runtime, ctx, attrs["network_id"])
        if net.project_id != project and not ctx.is_admin and not (allow_shared and net.shared):
            raise NETWORKS.not_found(net.id)

    return check


SUBNETS = Controller(
    Resource(
        name="subnet",
        collection="subnets",
        label="Subnet",
        attributes=SUBNET,
        use_cases=lambda runtime: runtime.network.subnets,
        view=subnet_view,
        check_create=_on_network(allow_shared=False),
    )
)


def _fixed_ip_filters(request: Request) -> dict[str, Any]:
    """Neutron's ``fixed_ips=subnet_id=X&fixed_ips=ip_address=Y`` list filter."""
    result = []
    for raw in request.query_params.getlist("fixed_ips"):
        item = {}
        for part in raw.split("&"):
            key, _, value = part.partition("=")
            if key in ("subnet_id", "ip_address") and value:
                item[key] = value
        if item:
            result.append(item)
    return {"fixed_ip_filters": result}


PORTS = Controller(
    Resource(
        name="port",
        collection="ports",
        label="Port",
        attributes=PORT,
        use_cases=lambda runtime: runtime.network.ports,
        view=port_view,
        check_create=_on_network(allow_shared=True),
        # A controller or integrator from another project may only report status.
        cross_project=CrossProject(
            roles=("service", "data_plane_integrator"),
            attributes=frozenset({"status", "data_plane_status"}),
        ),
        list_extras=_fixed_ip_filters,
        ignored_filters=("fixed_ips",),
    )
)

CORE = (NETWORKS, SUBNETS, PORTS)
