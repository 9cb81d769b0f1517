"""A server's ports: Nova's network allocation, done in the server's own transaction.

``networks`` of a server create are resolved first (each network visible to the project, each
port free), then, once the scheduler chose a host, a port is created on each requested network
and each given port is bound (``binding:host_id``, ``device_id``, ``device_owner``). Deleting
the server deletes the ports it created and unbinds the ones it was given, as Nova does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stateward.domain import network as net_rules
from stateward.domain.compute import NetworkRequest
from stateward.domain.errors import Conflict, InvalidInput
from stateward.domain.network import Network, Port
from stateward.services.network import NetworkService
from stateward.services.network.ports import Ports
from stateward.store.db import UnitOfWork
from stateward.store.repositories.network import NetworkRepository


@dataclass(frozen=True)
class Wanted:
    """One resolved request: a network to create a port on, or a port to bind."""

    network: Network
    port: Port | None = None
    fixed_ip: str | None = None


def bound(port: Port) -> bool:
    return port.binding_vif_type not in (net_rules.VIF_UNBOUND, net_rules.VIF_BINDING_FAILED)


class ServerPorts:
    def __init__(self, network: NetworkService) -> None:
        self.network = network

    async def resolve(
        self,
        uow: UnitOfWork,
        project_id: str,
        requests: list[NetworkRequest] | str | None,
        *,
        admin: bool,
    ) -> list[Wanted]:
        """Check what the client asked for; Nova's 400/409 answers, nothing created yet."""
        repo = NetworkRepository(uow)
        if requests in (None, "none"):
            return []
        if requests == "auto":
            usable = [
                n
                for n in await repo.list_networks({}, visible_to=None if admin else project_id)
                if not n.external and (n.project_id == project_id or n.shared)
            ]
            if len(usable) > 1:
                raise Conflict(
                    "Multiple possible networks found, use a Network ID to be more specific.",
                    kind="NetworkAmbiguous",
                )
            return [Wanted(usable[0])] if usable else []
        assert isinstance(requests, list)
        wanted: list[Wanted] = []
        for request in requests:
            if request.port_id:
                port = await repo.get_port(request.port_id)
                if port is None or (not admin and port.project_id != project_id):
                    raise InvalidInput(
                        f"Port {request.port_id} could not be found.", kind="PortNotFound"
                    )
                if port.device_id:
                    raise Conflict(f"Port {port.id} is still in use.", kind="PortInUse")
                network = await repo.get_network(port.network_id)
                assert network is not None
                wanted.append(Wanted(network, port))
                continue
            assert request.network_id is not None
            network = await repo.get_network(request.network_id)
            if network is None or not (admin or network.project_id == project_id or network.shared):
                raise InvalidInput(
                    f"Network {request.network_id} could not be found.", kind="NetworkNotFound"
                )
            wanted.append(Wanted(network, None, request.fixed_ip))
        return wanted

    async def allocate(
        self,
        uow: UnitOfWork,
        server_id: str,
        project_id: str,
        host: str,
        zone: str,
        wanted: list[Wanted],
    ) -> list[tuple[Port, bool]]:
        """Create or bind each port on ``host``; returns (port, created by the server)."""
        owner = f"compute:{zone}"
        result = []
        for item in wanted:
            if item.port is None:
                attrs: dict[str, Any] = {
                    "network_id": item.network.id,
                    "device_id": server_id,
                    "device_owner": owner,
                    "binding:host_id": host,
                }
                if item.fixed_ip:
                    attrs["fixed_ips"] = [{"ip_address": item.fixed_ip}]
                result.append((await self._create(uow, project_id, attrs), True))
            else:
                changes = {"device_id": server_id, "device_owner": owner, "binding:host_id": host}
                result.append((await self._update(uow, item.port, changes), False))
        return result

    async def release(self, uow: UnitOfWork, server_id: str, created: set[str]) -> None:
        """Server deleted: its own ports go, the ones it was given are unbound and kept."""
        repo = NetworkRepository(uow)
        for port in await repo.list_ports({"device_id": [server_id]}):
            if port.id in created:
                await self._delete(uow, port)
            else:
                await self._update(
                    uow, port, {"device_id": "", "device_owner": "", "binding:host_id": ""}
                )

    async def addresses(
        self, uow: UnitOfWork, server_ids: list[str]
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Nova's ``addresses``: per server, per network name, its fixed IPs."""
        if not server_ids:
            return {}
        repo = NetworkRepository(uow)
        ports = await repo.list_ports({"device_id": list(server_ids)})
        names: dict[str, str] = {}
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for port in ports:
            if port.network_id not in names:
                network = await repo.get_network(port.network_id)
                names[port.network_id] = network.name if network else port.network_id
            entries = out.setdefault(port.device_id, {}).setdefault(names[port.network_id], [])
            for fixed in port.fixed_ips:
                entries.append(
                    {
                        "version": 6 if ":" in fixed.ip_address else 4,
                        "addr": fixed.ip_address,
                        "OS-EXT-IPS:type": "fixed",
                        "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                    }
                )
        return out

    # the network service's steps, in the server's transaction ----------------------------
    async def _create(self, uow: UnitOfWork, project_id: str, attrs: dict[str, Any]) -> Port:
        return await self.network.ports.add(uow, project_id, attrs)

    async def _update(self, uow: UnitOfWork, port: Port, changes: dict[str, Any]) -> Port:
        return await self.network.ports.change(uow, port, changes)

    async def _delete(self, uow: UnitOfWork, port: Port) -> None:
        await Ports.remove(uow, port)
