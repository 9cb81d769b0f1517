"""Network queries: networks with their segments, subnets, ports with their fixed IPs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stateward.domain.errors import Conflict
from stateward.domain.network import AllocationPool, FixedIP, Network, Port, Subnet
from stateward.store.db import UnitOfWork
from stateward.store.tables import network as t


def _network(row: Any, subnet_ids: list[str]) -> Network:
    return Network(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        network_type=row.network_type,
        segmentation_id=row.segmentation_id,
        physical_network=row.physical_network,
        description=row.description,
        admin_state_up=row.admin_state_up,
        status=row.status,
        shared=row.shared,
        external=row.external,
        mtu=row.mtu,
        revision_number=row.revision_number,
        created_at=row.created_at,
        updated_at=row.updated_at,
        subnet_ids=subnet_ids,
        local_key=row.local_key,
    )


def _subnet(row: Any) -> Subnet:
    return Subnet(
        id=row.id,
        project_id=row.project_id,
        network_id=row.network_id,
        name=row.name,
        ip_version=row.ip_version,
        cidr=row.cidr,
        gateway_ip=row.gateway_ip,
        allocation_pools=[AllocationPool(p["start"], p["end"]) for p in row.allocation_pools],
        enable_dhcp=row.enable_dhcp,
        dns_nameservers=list(row.dns_nameservers),
        host_routes=list(row.host_routes),
        description=row.description,
        revision_number=row.revision_number,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _port(row: Any, fixed_ips: list[FixedIP]) -> Port:
    return Port(
        id=row.id,
        project_id=row.project_id,
        network_id=row.network_id,
        mac_address=row.mac_address,
        name=row.name,
        description=row.description,
        admin_state_up=row.admin_state_up,
        status=row.status,
        device_id=row.device_id,
        device_owner=row.device_owner,
        binding_host_id=row.binding_host_id,
        binding_profile=dict(row.binding_profile),
        binding_vnic_type=row.binding_vnic_type,
        binding_vif_type=row.binding_vif_type,
        binding_vif_details=dict(row.binding_vif_details),
        data_plane_status=row.data_plane_status,
        fixed_ips=fixed_ips,
        revision_number=row.revision_number,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tunnel_key=row.tunnel_key,
    )


def _network_values(n: Network) -> dict[str, Any]:
    return dict(
        id=n.id,
        project_id=n.project_id,
        name=n.name,
        description=n.description,
        revision_number=n.revision_number,
        created_at=n.created_at,
        updated_at=n.updated_at,
        admin_state_up=n.admin_state_up,
        status=n.status,
        shared=n.shared,
        external=n.external,
        mtu=n.mtu,
        network_type=n.network_type,
        physical_network=n.physical_network,
        segmentation_id=n.segmentation_id,
    )


def _subnet_values(s: Subnet) -> dict[str, Any]:
    return dict(
        id=s.id,
        project_id=s.project_id,
        name=s.name,
        description=s.description,
        revision_number=s.revision_number,
        created_at=s.created_at,
        updated_at=s.updated_at,
        network_id=s.network_id,
        ip_version=s.ip_version,
        cidr=s.cidr,
        gateway_ip=s.gateway_ip,
        enable_dhcp=s.enable_dhcp,
        allocation_pools=[{"start": p.start, "end": p.end} for p in s.allocation_pools],
        dns_nameservers=s.dns_nameservers,
        host_routes=s.host_routes,
    )


def _port_values(p: Port) -> dict[str, Any]:
    return dict(
        id=p.id,
        project_id=p.project_id,
        name=p.name,
        description=p.description,
        revision_number=p.revision_number,
        created_at=p.created_at,
        updated_at=p.updated_at,
        network_id=p.network_id,
        mac_address=p.mac_address,
        admin_state_up=p.admin_state_up,
        status=p.status,
        device_id=p.device_id,
        device_owner=p.device_owner,
        binding_host_id=p.binding_host_id,
        binding_profile=p.binding_profile,
        binding_vnic_type=p.binding_vnic_type,
        binding_vif_type=p.binding_vif_type,
        binding_vif_details=p.binding_vif_details,
        data_plane_status=p.data_plane_status,
    )


Filters = dict[str, list[Any]]

# PostgreSQL sequences proposing pipeline keys (0010_tunnel_keys); the unique column decides.
KEY_SEQUENCES = {
    "ports.tunnel_key": "ports_tunnel_key_seq",
    "networks.local_key": "networks_local_key_seq",
}


def _apply_filters(
    query: sa.Select[Any], table: sa.Table, filters: Filters, columns: dict[str, str]
) -> sa.Select[Any]:
    """Equality filters; several values for one key mean 'any of' (Neutron's rule)."""
    for key, values in filters.items():
        column = table.c[columns.get(key, key)]
        query = (
            query.where(column.in_(values)) if len(values) > 1 else query.where(column == values[0])
        )
    return query


NETWORK_COLUMNS = {
    "provider:network_type": "network_type",
    "provider:segmentation_id": "segmentation_id",
    "provider:physical_network": "physical_network",
    "router:external": "external",
    "tenant_id": "project_id",
}
SUBNET_COLUMNS = {"tenant_id": "project_id"}
PORT_COLUMNS = {
    "binding:host_id": "binding_host_id",
    "binding:vnic_type": "binding_vnic_type",
    "binding:vif_type": "binding_vif_type",
    "tenant_id": "project_id",
}


class NetworkRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    # pipeline keys --------------------------------------------------------------------------
    async def assign_key(self, kind: str, row_id: str, maximum: int) -> int:
        """Give a port (``tunnel_key``) or network (``local_key``) its key, once.

        Compare-and-set on the unique column: the next key after the highest taken, claimed
        in a savepoint; a concurrent claim of the same key makes this one retry with the next.
        Keys are not reused while a higher one exists, so an agent that still caches a deleted
        object's flows never sees its key on another object soon after.
        """
        table, column = (t.ports, "tunnel_key") if kind == "port" else (t.networks, "local_key")
        col = table.c[column]
        for _ in range(32):
            candidate = await self._next_key(table, col)
            if candidate > maximum:
                candidate = await self._lowest_free_key(col, maximum)
            try:
                async with self.conn.begin_nested():
                    result = await self.conn.execute(
                        sa.update(table)
                        .where(table.c.id == row_id, col.is_(None))
                        .values({column: candidate})
                    )
            except IntegrityError:
                continue
            if result.rowcount:
                return candidate
            current = (await self.conn.execute(sa.select(col).where(table.c.id == row_id))).scalar()
            if current is not None:
                return int(current)
        raise Conflict(f"Could not allocate a {column} after several attempts; retry.")

    async def _next_key(self, table: sa.Table, col: sa.Column[Any]) -> int:
        """The next candidate key. PostgreSQL: a sequence, so concurrent processes never
        propose the same key (and never wait on each other's uncommitted claim); SQLite (one
        writer): the highest key + 1."""
        if self.uow.dialect == "postgresql":
            sequence = KEY_SEQUENCES[f"{table.name}.{col.name}"]
            return int((await self.conn.execute(sa.select(sa.func.nextval(sequence)))).scalar_one())
        return int((await self.conn.execute(sa.select(sa.func.max(col)))).scalar() or 0) + 1

    async def _lowest_free_key(self, col: sa.Column[Any], maximum: int) -> int:
        taken = sorted(k for k in (await self.conn.execute(sa.select(col))).scalars() if k)
        expected = 1
        for key in taken:
            if key != expected:
                break
            expected += 1
        if expected > maximum:
            raise Conflict(f"No {col.name} left (all {maximum} are in use).")
        return expected

    # networks ---------------------------------------------------------------------------
    async def add_network(self, network: Network) -> None:
        await self.conn.execute(sa.insert(t.networks).values(**_network_values(network)))

    async def reserve_segment(
        self, network_type: str, physnet: str, segmentation_id: int, network_id: str
    ) -> bool:
        """Claim a segment; False if another network holds it (the key decides races)."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    sa.insert(t.segment_allocations).values(
                        network_type=network_type,
                        physical_network=physnet,
                        segmentation_id=segmentation_id,
                        network_id=network_id,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def used_segments(self, network_type: str) -> set[tuple[str, int]]:
        c = t.segment_allocations.c
        rows = await self.conn.execute(
            sa.select(c.physical_network, c.segmentation_id).where(c.network_type == network_type)
        )
        return {(r[0], r[1]) for r in rows}

    async def release_segments(self, network_id: str) -> None:
        await self.conn.execute(
            sa.delete(t.segment_allocations).where(t.segment_allocations.c.network_id == network_id)
        )

    async def get_network(self, network_id: str) -> Network | None:
        nets = await self.list_networks({"id": [network_id]})
        return nets[0] if nets else None

    async def list_networks(
        self,
        filters: Filters | None = None,
        *,
        limit: int | None = None,
        marker: str | None = None,
        visible_to: str | None = None,
    ) -> list[Network]:
        query = sa.select(t.networks).order_by(t.networks.c.id)
        query = _apply_filters(query, t.networks, filters or {}, NETWORK_COLUMNS)
        if visible_to is not None:
            query = query.where(
                sa.or_(t.networks.c.project_id == visible_to, t.networks.c.shared.is_(True))
            )
        if marker:
            query = query.where(t.networks.c.id > marker)
        if limit:
            query = query.limit(limit)
        rows = (await self.conn.execute(query)).all()
        subnet_ids: dict[str, list[str]] = defaultdict(list)
        if rows:
            c = t.subnets.c
            for sid, nid in await self.conn.execute(
                sa.select(c.id, c.network_id)
                .where(c.network_id.in_([r.id for r in rows]))
                .order_by(c.created_at, c.id)
            ):
                subnet_ids[nid].append(sid)
        return [_network(r, subnet_ids[r.id]) for r in rows]

    async def update_network(self, network: Network) -> None:
        await self.conn.execute(
            sa.update(t.networks)
            .where(t.networks.c.id == network.id)
            .values(**_network_values(network))
        )

    async def delete_network(self, network_id: str) -> None:
        await self.conn.execute(sa.delete(t.networks).where(t.networks.c.id == network_id))

    async def network_in_use(self, network_id: str) -> bool:
        query = (
            sa.select(sa.func.count())
            .select_from(t.ports)
            .where(t.ports.c.network_id == network_id)
        )
        return bool((await self.conn.execute(query)).scalar_one())

    # subnets ----------------------------------------------------------------------------
    async def add_subnet(self, subnet: Subnet) -> None:
        await self.conn.execute(sa.insert(t.subnets).values(**_subnet_values(subnet)))

    async def get_subnet(self, subnet_id: str) -> Subnet | None:
        row = (
            await self.conn.execute(sa.select(t.subnets).where(t.subnets.c.id == subnet_id))
        ).first()
        return _subnet(row) if row else None

    async def list_subnets(
        self,
        filters: Filters | None = None,
        *,
        limit: int | None = None,
        marker: str | None = None,
        visible_to: str | None = None,
    ) -> list[Subnet]:
        query = sa.select(t.subnets).order_by(t.subnets.c.id)
        query = _apply_filters(query, t.subnets, filters or {}, SUBNET_COLUMNS)
        if visible_to is not None:
            shared = sa.select(t.networks.c.id).where(t.networks.c.shared.is_(True))
            query = query.where(
                sa.or_(t.subnets.c.project_id == visible_to, t.subnets.c.network_id.in_(shared))
            )
        if marker:
            query = query.where(t.subnets.c.id > marker)
        if limit:
            query = query.limit(limit)
        return [_subnet(r) for r in await self.conn.execute(query)]

    async def update_subnet(self, subnet: Subnet) -> None:
        await self.conn.execute(
            sa.update(t.subnets).where(t.subnets.c.id == subnet.id).values(**_subnet_values(subnet))
        )

    async def delete_subnet(self, subnet_id: str) -> None:
        await self.conn.execute(sa.delete(t.subnets).where(t.subnets.c.id == subnet_id))

    async def subnet_in_use(self, subnet_id: str) -> bool:
        query = (
            sa.select(sa.func.count())
            .select_from(t.ip_allocations)
            .where(t.ip_allocations.c.subnet_id == subnet_id)
        )
        return bool((await self.conn.execute(query)).scalar_one())

    # addresses --------------------------------------------------------------------------
    async def used_ips(self, subnet_id: str) -> set[str]:
        c = t.ip_allocations.c
        return set(
            (
                await self.conn.execute(sa.select(c.ip_address).where(c.subnet_id == subnet_id))
            ).scalars()
        )

    async def claim_ip(self, subnet_id: str, ip: str, port_id: str, network_id: str) -> bool:
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    sa.insert(t.ip_allocations).values(
                        subnet_id=subnet_id, ip_address=ip, port_id=port_id, network_id=network_id
                    )
                )
        except IntegrityError:
            return False
        return True

    async def release_ips(self, port_id: str, keep: Sequence[FixedIP] = ()) -> None:
        c = t.ip_allocations.c
        query = sa.delete(t.ip_allocations).where(c.port_id == port_id)
        for fip in keep:
            query = query.where(
                sa.not_(sa.and_(c.subnet_id == fip.subnet_id, c.ip_address == fip.ip_address))
            )
        await self.conn.execute(query)

    # ports ------------------------------------------------------------------------------
    async def add_port(self, port: Port) -> bool:
        """Insert a port; False when its MAC is already used on the network."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(sa.insert(t.ports).values(**_port_values(port)))
        except IntegrityError:
            return False
        return True

    async def get_port(self, port_id: str) -> Port | None:
        ports = await self.list_ports({"id": [port_id]})
        return ports[0] if ports else None

    async def list_ports(
        self,
        filters: Filters | None = None,
        *,
        limit: int | None = None,
        marker: str | None = None,
        visible_to: str | None = None,
        fixed_ip_filters: list[dict[str, str]] | None = None,
    ) -> list[Port]:
        query = sa.select(t.ports).order_by(t.ports.c.id)
        query = _apply_filters(query, t.ports, filters or {}, PORT_COLUMNS)
        if visible_to is not None:
            query = query.where(t.ports.c.project_id == visible_to)
        for fip in fixed_ip_filters or []:
            c = t.ip_allocations.c
            sub = sa.select(c.port_id)
            if "subnet_id" in fip:
                sub = sub.where(c.subnet_id == fip["subnet_id"])
            if "ip_address" in fip:
                sub = sub.where(c.ip_address == fip["ip_address"])
            query = query.where(t.ports.c.id.in_(sub))
        if marker:
            query = query.where(t.ports.c.id > marker)
        if limit:
            query = query.limit(limit)
        rows = (await self.conn.execute(query)).all()
        fixed: dict[str, list[FixedIP]] = defaultdict(list)
        if rows:
            c = t.ip_allocations.c
            for pid, sid, ip in await self.conn.execute(
                sa.select(c.port_id, c.subnet_id, c.ip_address).where(
                    c.port_id.in_([r.id for r in rows])
                )
            ):
                fixed[pid].append(FixedIP(sid, ip))
        return [_port(r, fixed[r.id]) for r in rows]

    async def update_port(self, port: Port) -> None:
        await self.conn.execute(
            sa.update(t.ports).where(t.ports.c.id == port.id).values(**_port_values(port))
        )

    async def delete_port(self, port_id: str) -> None:
        await self.conn.execute(
            sa.delete(t.ip_allocations).where(t.ip_allocations.c.port_id == port_id)
        )
        await self.conn.execute(sa.delete(t.ports).where(t.ports.c.id == port_id))

    async def set_host_data_plane_status(
        self, host: str, status: str | None, now: datetime
    ) -> list[tuple[Port, str | None]]:
        """Every port bound to ``host`` not already at ``status`` gets it: one UPDATE.

        Returns each changed port (after the change) with its previous data-plane status,
        which is what its ``port.update.end`` notification carries.
        """
        c = t.ports.c
        differs = (
            c.data_plane_status.is_not(None)
            if status is None
            else sa.or_(c.data_plane_status.is_(None), c.data_plane_status != status)
        )
        ids = [
            r[0]
            for r in await self.conn.execute(
                sa.select(c.id).where(c.binding_host_id == host, differs)
            )
        ]
        if not ids:
            return []
        before = await self.list_ports({"id": ids})
        await self.conn.execute(
            sa.update(t.ports)
            .where(c.id.in_(ids))
            .values(
                data_plane_status=status,
                revision_number=c.revision_number + 1,
                updated_at=now,
            )
        )
        result = []
        for port in before:
            old = port.data_plane_status
            port.data_plane_status = status
            port.revision_number += 1
            port.updated_at = now
            result.append((port, old))
        return result

    async def host_port_index(self) -> list[tuple[str, str, str]]:
        """(host, port id, project id) of every bound port: the inspector's index."""
        c = t.ports.c
        rows = await self.conn.execute(
            sa.select(c.binding_host_id, c.id, c.project_id).where(c.binding_host_id != "")
        )
        return [(r[0], r[1], r[2]) for r in rows]
