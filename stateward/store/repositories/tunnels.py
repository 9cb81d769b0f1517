"""Queries of the agent feed's ``tunnels`` view: ports, networks and chassis as agents see them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from stateward.domain.tunnels import chassis_form, network_form, port_form
from stateward.store.db import UnitOfWork
from stateward.store.tables.chassis import chassis as chassis_t
from stateward.store.tables.network import ip_allocations, networks, ports

CHUNK = 1000


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


class TunnelViewRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.conn = uow.conn

    async def port_forms(
        self, *, port_ids: Iterable[str] = (), network_ids: Iterable[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Forms of the located ports among ``port_ids`` / on ``network_ids``."""
        c = ports.c
        rows: list[Any] = []
        for column, values in ((c.id, port_ids), (c.network_id, network_ids)):
            for chunk in _chunks(values):
                rows += (
                    await self.conn.execute(
                        sa.select(
                            c.id,
                            c.network_id,
                            c.mac_address,
                            c.tunnel_key,
                            c.binding_host_id,
                            c.binding_profile,
                            c.admin_state_up,
                        ).where(column.in_(chunk))
                    )
                ).all()
        ips: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks(r.id for r in rows):
            a = ip_allocations.c
            for port_id, ip in await self.conn.execute(
                sa.select(a.port_id, a.ip_address).where(a.port_id.in_(chunk))
            ):
                ips[port_id].append(ip)
        forms = {}
        for r in rows:
            form = port_form(
                port_id=r.id,
                network_id=r.network_id,
                mac_address=r.mac_address,
                tunnel_key=r.tunnel_key,
                host=r.binding_host_id,
                profile=dict(r.binding_profile or {}),
                ips=ips.get(r.id, []),
                admin_state_up=r.admin_state_up,
            )
            if form is not None:
                forms[r.id] = form
        return forms

    async def tunnel_keys(self, port_ids: Iterable[str]) -> dict[str, int | None]:
        c = ports.c
        out: dict[str, int | None] = {}
        for chunk in _chunks(port_ids):
            for port_id, key in await self.conn.execute(
                sa.select(c.id, c.tunnel_key).where(c.id.in_(chunk))
            ):
                out[port_id] = key
        return out

    async def network_forms(self, network_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        c = networks.c
        out = {}
        for chunk in _chunks(network_ids):
            for r in await self.conn.execute(
                sa.select(c.id, c.local_key, c.network_type, c.segmentation_id, c.mtu).where(
                    c.id.in_(chunk)
                )
            ):
                out[r.id] = network_form(
                    network_id=r.id,
                    local_key=r.local_key,
                    network_type=r.network_type,
                    segmentation_id=r.segmentation_id,
                    mtu=r.mtu,
                )
        return out

    async def chassis_forms(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        c = chassis_t.c
        out = {}
        for chunk in _chunks(names):
            for r in await self.conn.execute(
                sa.select(c.name, c.ip, c.tunnel_types).where(c.name.in_(chunk))
            ):
                out[r.name] = chassis_form(r.name, r.ip, r.tunnel_types or [])
        return out

    async def local_chassis(self, network_id: str) -> set[str]:
        """Registered chassis with a port bound to them on the network."""
        c = ports.c
        rows = await self.conn.execute(
            sa.select(c.binding_host_id)
            .distinct()
            .join(chassis_t, chassis_t.c.name == c.binding_host_id)
            .where(c.network_id == network_id)
        )
        return set(rows.scalars())

    async def networks_of(self, chassis: str) -> set[str]:
        """Networks on which ports are bound to the chassis."""
        c = ports.c
        rows = await self.conn.execute(
            sa.select(c.network_id).distinct().where(c.binding_host_id == chassis)
        )
        return set(rows.scalars())

    async def hosts_on(self, network_ids: Iterable[str]) -> set[str]:
        """Hosts that ports on these networks are bound to."""
        c = ports.c
        out: set[str] = set()
        for chunk in _chunks(network_ids):
            rows = await self.conn.execute(
                sa.select(c.binding_host_id)
                .distinct()
                .where(c.network_id.in_(chunk), c.binding_host_id != "")
            )
            out.update(rows.scalars())
        return out

    async def tunnel_types(self) -> set[str] | None:
        """Every tunnel type some registered chassis has (None: no chassis registered)."""
        rows = (await self.conn.execute(sa.select(chassis_t.c.tunnel_types))).scalars().all()
        if not rows:
            return None
        return {t for types in rows for t in (types or [])}
