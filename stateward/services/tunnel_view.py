"""The agent feed's ``tunnels`` view: what a chassis' local controller programs its switch from.

A chassis' view holds (Dragonflow's local cache, seed "virtual tunnel port"):

* ``network`` - every network it has a port bound to (its local key, type, segmentation id);
* ``port`` - every located port on those networks: its own ports, ports bound to other
  chassis, and ports in another cloud (``binding:profile`` ``remote_port`` + ``host_ip``);
* ``chassis`` - every chassis those ports are bound to (its IP and tunnel types), so a chassis
  IP change is one entry per agent that shares a network with it.

Routing: a port change goes to the chassis subscribed to its network (interest ``net:<id>``);
a chassis whose set of networks changes gets the whole network, or its removal; a chassis
change goes to the chassis that reference it (interest ``chassis:<name>``). Object forms are
compared with their last recorded forms first, so the many ``port.update.end`` of a host fault
(status, data-plane status) cost one read and route nothing.
"""

from __future__ import annotations

from typing import Any

from stateward.domain.agent_feed import FeedObject
from stateward.domain.events import Envelope
from stateward.domain.tunnels import chassis_form, network_form_from_view, port_form_from_view
from stateward.services.agent_feed import BaseView, FeedTransaction
from stateward.store.db import UnitOfWork
from stateward.store.repositories.tunnels import TunnelViewRepository

VIEW = "tunnels"
PORT, NETWORK, CHASSIS = "port", "network", "chassis"
NET_SCOPE, CHASSIS_SCOPE = "net:", "chassis:"

Form = dict[str, Any]
Diff = dict[str, tuple[Form | None, Form | None]]


class TunnelView(BaseView):
    name = VIEW
    kinds: tuple[str, ...] = (NETWORK, PORT, CHASSIS)
    patterns: tuple[str, ...] = (
        "port.create.end",
        "port.update.end",
        "port.delete.end",
        "network.create.end",
        "network.update.end",
        "network.delete.end",
        "chassis.create",
        "chassis.update",
        "chassis.delete",
    )

    # snapshot ----------------------------------------------------------------------------
    async def snapshot(self, uow: UnitOfWork, chassis: str) -> list[FeedObject]:
        repo = TunnelViewRepository(uow)
        nets = await repo.networks_of(chassis)
        if not await repo.chassis_forms([chassis]):
            nets = set()  # an unregistered host has no view
        objects = [FeedObject(NETWORK, k, v) for k, v in (await repo.network_forms(nets)).items()]
        port_forms = await repo.port_forms(network_ids=nets)
        objects += [FeedObject(PORT, k, v) for k, v in port_forms.items()]
        hosts = {f["chassis"] for f in port_forms.values() if f["chassis"]}
        objects += [FeedObject(CHASSIS, k, v) for k, v in (await repo.chassis_forms(hosts)).items()]
        return objects

    async def sync_interest(self, tx: FeedTransaction, chassis: str) -> None:
        repo = TunnelViewRepository(tx.uow)
        registered = bool(await repo.chassis_forms([chassis]))
        nets = await repo.networks_of(chassis) if registered else set()
        want = {NET_SCOPE + n for n in nets}
        want |= {CHASSIS_SCOPE + h for h in await repo.hosts_on(nets)}
        have = await tx.repo.scopes(chassis, VIEW)
        await tx.repo.add_interest(chassis, VIEW, want - have)
        await tx.repo.remove_interest(chassis, VIEW, have - want)

    # changes -----------------------------------------------------------------------------
    async def record(self, tx: FeedTransaction, events: list[Envelope]) -> None:
        ports, nets, chassis = _latest(events)
        repo = TunnelViewRepository(tx.uow)
        port_diff = await self._port_diff(tx, repo, ports)
        net_diff = await self._network_diff(tx, repo, nets)
        chassis_diff = await tx.changed(CHASSIS, chassis)
        if not (port_diff or net_diff or chassis_diff):
            return
        touched_nets = set(net_diff)
        for old, new in port_diff.values():
            touched_nets.update(f["network_id"] for f in (old, new) if f)
        for name, (old, new) in chassis_diff.items():
            if (old is None) != (new is None):  # registered or deleted: its networks move
                touched_nets |= await repo.networks_of(name)
        recheck_refs: set[str] = set()
        for network_id in sorted(touched_nets):
            recheck_refs |= await self._route_network(tx, repo, network_id, port_diff, net_diff)
        for name, (_, new) in chassis_diff.items():
            holders = (await tx.repo.subscribers(VIEW, [CHASSIS_SCOPE + name])).get(
                CHASSIS_SCOPE + name, set()
            )
            for holder in sorted(holders):
                if new is None:
                    tx.delete(holder, CHASSIS, name)
                else:
                    tx.put(holder, CHASSIS, name, new)
        for holder in sorted(recheck_refs):
            await self._reconcile_refs(tx, repo, holder)

    async def _port_diff(
        self, tx: FeedTransaction, repo: TunnelViewRepository, ports: dict[str, Form | None]
    ) -> Diff:
        """Forms from the payloads; the key (not in Neutron's representation) from the last
        recorded form, or the store for a port never recorded."""
        if not ports:
            return {}
        stored = await tx.repo.forms(PORT, ports)
        missing = [k for k, view in ports.items() if view is not None and k not in stored]
        keys = await repo.tunnel_keys(missing) if missing else {}
        candidates: dict[str, Form | None] = {}
        for port_id, view in ports.items():
            if view is None:
                candidates[port_id] = None
                continue
            key = stored[port_id]["tunnel_key"] if port_id in stored else keys.get(port_id)
            candidates[port_id] = port_form_from_view(view, key)
        return await tx.changed(PORT, candidates, stored=stored)

    async def _network_diff(
        self, tx: FeedTransaction, repo: TunnelViewRepository, nets: dict[str, Form | None]
    ) -> Diff:
        if not nets:
            return {}
        stored = await tx.repo.forms(NETWORK, nets)
        missing = [k for k, view in nets.items() if view is not None and k not in stored]
        fresh = await repo.network_forms(missing) if missing else {}
        candidates: dict[str, Form | None] = {}
        for network_id, view in nets.items():
            if view is None:
                candidates[network_id] = None
            elif network_id in stored:
                candidates[network_id] = network_form_from_view(
                    view, stored[network_id]["local_key"]
                )
            else:
                candidates[network_id] = fresh.get(network_id)
        return await tx.changed(NETWORK, candidates, stored=stored)

    async def _route_network(
        self,
        tx: FeedTransaction,
        repo: TunnelViewRepository,
        network_id: str,
        port_diff: Diff,
        net_diff: Diff,
    ) -> set[str]:
        """Send what changed on one network to the chassis concerned; returns the chassis
        whose chassis references may have changed."""
        scope = NET_SCOPE + network_id
        before = (await tx.repo.subscribers(VIEW, [scope])).get(scope, set())
        after = await repo.local_chassis(network_id)
        changed_ports = {
            k: new
            for k, (old, new) in port_diff.items()
            if (new or old or {}).get("network_id") == network_id
        }
        moved = any(
            (old or {}).get("chassis") != (new or {}).get("chassis")
            for k, (old, new) in port_diff.items()
            if k in changed_ports
        )
        recheck: set[str] = set()
        joining, leaving = after - before, before - after
        if joining or leaving:
            net = (await repo.network_forms([network_id])).get(network_id)
            members = await repo.port_forms(network_ids=[network_id])
        for holder in sorted(joining):
            await tx.repo.add_interest(holder, VIEW, [scope])
            if net is not None:
                tx.put(holder, NETWORK, network_id, net)
            for port_id, member in members.items():
                tx.put(holder, PORT, port_id, member)
            recheck.add(holder)
        for holder in sorted(leaving):
            await tx.repo.remove_interest(holder, VIEW, [scope])
            for port_id in sorted(set(members) | set(changed_ports)):
                tx.delete(holder, PORT, port_id)
            tx.delete(holder, NETWORK, network_id)
            recheck.add(holder)
        for holder in sorted(before & after):
            if network_id in net_diff:
                new_net = net_diff[network_id][1]
                if new_net is None:
                    tx.delete(holder, NETWORK, network_id)
                else:
                    tx.put(holder, NETWORK, network_id, new_net)
            for port_id, form in sorted(changed_ports.items()):
                if form is None:
                    tx.delete(holder, PORT, port_id)
                else:
                    tx.put(holder, PORT, port_id, form)
            if moved:
                recheck.add(holder)
        return recheck

    async def _reconcile_refs(
        self, tx: FeedTransaction, repo: TunnelViewRepository, holder: str
    ) -> None:
        """The chassis objects a holder has: those its networks' ports are bound to."""
        nets = {s[len(NET_SCOPE) :] for s in await tx.repo.scopes(holder, VIEW, NET_SCOPE)}
        want = await repo.hosts_on(nets) if nets else set()
        have = {s[len(CHASSIS_SCOPE) :] for s in await tx.repo.scopes(holder, VIEW, CHASSIS_SCOPE)}
        added, removed = want - have, have - want
        await tx.repo.add_interest(holder, VIEW, {CHASSIS_SCOPE + h for h in added})
        await tx.repo.remove_interest(holder, VIEW, {CHASSIS_SCOPE + h for h in removed})
        for name, form in sorted((await repo.chassis_forms(added)).items()):
            tx.put(holder, CHASSIS, name, form)
        for name in sorted(removed):
            tx.delete(holder, CHASSIS, name)


def _latest(
    events: list[Envelope],
) -> tuple[dict[str, Form | None], dict[str, Form | None], dict[str, Form | None]]:
    """The last word on each port, network and chassis in the transaction's events: its
    Neutron representation (ports, networks), its form (chassis), or None when deleted."""
    ports: dict[str, Form | None] = {}
    nets: dict[str, Form | None] = {}
    chassis: dict[str, Form | None] = {}
    for event in events:
        kind, _, rest = event.event_type.partition(".")
        action = rest.removesuffix(".end")
        body = event.payload.get(kind)
        if not isinstance(body, dict):
            continue
        if kind == "port" and body.get("id"):
            ports[str(body["id"])] = None if action == "delete" else body
        elif kind == "network" and body.get("id"):
            nets[str(body["id"])] = None if action == "delete" else body
        elif kind == "chassis" and body.get("name"):
            name = str(body["name"])
            chassis[name] = (
                None
                if action == "delete"
                else chassis_form(name, str(body.get("ip", "")), body.get("tunnel_types") or [])
            )
    return ports, nets, chassis
