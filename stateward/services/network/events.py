"""The notifications Neutron resources emit: ``<resource>.<action>.end`` with flat traits."""

from __future__ import annotations

from typing import Any

from stateward.domain.events import Envelope
from stateward.domain.network import Port

PUBLISHER = "network.stateward"


def resource_event(
    kind: str, action: str, project_id: str, resource_id: str, view: dict[str, Any], **traits: Any
) -> Envelope:
    """``<kind>.<action>.end`` carrying the resource's view (the SDN journal records it)."""
    return Envelope(
        event_type=f"{kind}.{action}.end",
        publisher_id=PUBLISHER,
        project_id=project_id,
        resource_id=resource_id,
        payload={kind: view},
        traits={
            "tenant_id": project_id,
            "project_id": project_id,
            f"{kind}_id": resource_id,
            **traits,
        },
    )


def port_traits(p: Port) -> dict[str, Any]:
    return {
        "network_id": p.network_id,
        "host": p.binding_host_id,
        "status": p.status,
        "device_id": p.device_id,
        "data_plane_status": p.data_plane_status,
    }
