"""The OpenFlow pipeline of a chassis' integration bridge, computed from its feed (pure).

Tables, in Dragonflow's shape and (where Dragonflow had them) numbers::

    0   CLASSIFICATION        local port:  in_port=P -> reg6=port key, metadata=network key,
                                           resubmit(,55)
                              tunnel in:   tun_id=T,in_port=<vtp of the type> ->
                                           metadata=network key, resubmit(,100)
                                           (Dragonflow's ingress classification dispatch)
    55  L2_LOOKUP             metadata=N,dl_dst=MAC -> reg7=port key, resubmit(,75)
                              metadata=N (broadcast, unknown) -> every local port of N, then
                              tun_id=T and, per chassis with a port on N, tun_dst=IP, output:vtp
    75  EGRESS                reg7=remote port -> tun_id=T, tun_dst=its chassis' IP, output:vtp
                              reg7=local port -> resubmit(,115)
    100 INGRESS_DESTINATION   metadata=N,dl_dst=MAC of a local port -> reg7, resubmit(,115)
                              metadata=N (broadcast, unknown from a tunnel) -> local ports only
    115 LOCAL_DELIVERY        reg7=local port -> output:its ofport

Registers: reg6 the source port's key, reg7 the destination port's key, metadata the network's
local key; ``tun_id`` on the wire is the network's segmentation id, and the virtual tunnel port
of the network's type (``options:remote_ip=flow,key=flow``) is the only tunnel port used, its
destination set per flow. Every flow's cookie names the object it belongs to (a port by its
tunnel key, a network by its local key, or the pipeline's defaults), so an object's flows are
found, counted and replaced together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from stateward.agent.ovs.flows import Action, Flow, Owner, cookie, match
from stateward.domain.agent_feed import FeedCache
from stateward.domain.network import TUNNEL_TYPES

CLASSIFICATION = 0
L2_LOOKUP = 55
EGRESS = 75
INGRESS_DESTINATION = 100
LOCAL_DELIVERY = 115
TABLES = {
    CLASSIFICATION: "classification (local ports, ingress dispatch by tun_id + in_port)",
    L2_LOOKUP: "destination lookup (metadata + dl_dst -> reg7), flooding",
    EGRESS: "egress (reg7 -> tunnel to the port's chassis, or local delivery)",
    INGRESS_DESTINATION: "ingress destination lookup (from tunnels)",
    LOCAL_DELIVERY: "local delivery (reg7 -> ofport)",
}

HIGH, FLOOD, DEFAULT = 100, 50, 0

Port = dict[str, Any]
Network = dict[str, Any]


@dataclass
class SwitchPorts:
    """What the switch tells: ofports of the virtual tunnel ports and of local VM interfaces."""

    tunnels: dict[str, int] = field(default_factory=dict)  # tunnel type -> ofport
    interfaces: dict[str, int] = field(default_factory=dict)  # iface-id (port id) -> ofport


def port_cookie(port: Port) -> int:
    return cookie(Owner.PORT, int(port["tunnel_key"]))


def network_cookie(network: Network) -> int:
    return cookie(Owner.NETWORK, int(network["local_key"]))


PIPELINE_COOKIE = cookie(Owner.PIPELINE)


@lru_cache(maxsize=4096)
def _egress_actions(segment: int, vtp: int, destination: str) -> tuple[Action, ...]:
    """Shared by every port of a chassis on a network (and so is its encoding)."""
    return (
        ("set_field", "tunnel_id", segment),
        ("set_field", "tun_ipv4_dst", destination),
        ("output", vtp),
    )


class Pipeline:
    """Desired flows, grouped by cookie, for the chassis named ``chassis``."""

    def __init__(self, chassis: str, local_ip: str) -> None:
        self.chassis = chassis
        self.local_ip = local_ip

    def defaults(self) -> list[Flow]:
        return [Flow(t, DEFAULT, (), (), PIPELINE_COOKIE) for t in TABLES]

    def compute(
        self,
        cache: FeedCache,
        switch: SwitchPorts,
        *,
        ports: Iterable[str] | None = None,
        networks: Iterable[str] | None = None,
        owners: dict[int, tuple[str, str]] | None = None,
    ) -> dict[int, list[Flow]]:
        """Flows by cookie: of everything, or of the given ports and networks only (a port or
        network no longer in the cache simply has no cookie in the answer). ``owners``, if
        given, learns which object each cookie belongs to."""
        nets = cache.of("network")
        all_ports = cache.of("port")
        chassis = cache.of("chassis")
        by_network: dict[str, list[Port]] = defaultdict(list)
        for member in all_ports.values():
            by_network[member["network_id"]].append(member)
        out: dict[int, list[Flow]] = {}
        if ports is None and networks is None:
            out[PIPELINE_COOKIE] = self.defaults()
            wanted_ports: Iterable[str] = all_ports
            wanted_nets: Iterable[str] = nets
        else:
            wanted_ports, wanted_nets = ports or (), networks or ()
        for network_id in wanted_nets:
            net = nets.get(network_id)
            if net is not None and net.get("local_key"):
                out[network_cookie(net)] = self._network(
                    net, by_network.get(network_id, []), chassis, switch
                )
                if owners is not None:
                    owners[network_cookie(net)] = ("network", network_id)
        for port_id in wanted_ports:
            port = all_ports.get(port_id)
            home = nets.get(port["network_id"]) if port else None
            if port is not None and home is not None and home.get("local_key"):
                out[port_cookie(port)] = self._port(port, home, chassis, switch)
                if owners is not None:
                    owners[port_cookie(port)] = ("port", port_id)
        return out

    # one object's flows ------------------------------------------------------------------
    def _is_local(self, port: Port) -> bool:
        return port.get("chassis") == self.chassis and not port.get("remote_ip")

    def _destination(self, port: Port, net: Network, chassis: dict[str, Any]) -> str | None:
        """The tunnel endpoint a remote port is reached at, if this chassis can reach it."""
        kind = net["network_type"]
        if port.get("remote_ip"):
            ip = str(port["remote_ip"])
        else:
            host = chassis.get(port.get("chassis") or "")
            if host is None or kind not in host.get("tunnel_types", ()):
                return None
            ip = str(host["ip"])
        return ip if ip != self.local_ip else None

    def _tunnel(self, net: Network, switch: SwitchPorts) -> tuple[int, int] | None:
        """(segmentation id, ofport of the virtual tunnel port) of a tunnel network."""
        kind = net["network_type"]
        ofport = switch.tunnels.get(kind)
        if kind not in TUNNEL_TYPES or not ofport or net.get("segmentation_id") is None:
            return None
        return int(net["segmentation_id"]), ofport

    def _port(
        self, port: Port, net: Network, chassis: dict[str, Any], switch: SwitchPorts
    ) -> list[Flow]:
        key, mac, c = int(port["tunnel_key"]), str(port["mac"]), port_cookie(port)
        meta = int(net["local_key"])
        to_port: tuple[Action, ...] = (("set_field", "reg7", key), ("resubmit", EGRESS))
        # matches written out in canonical (sorted) order: this runs per port, ten thousand times
        by_mac = (("eth_dst", mac), ("metadata", meta))
        by_key = (("reg7", key),)
        if self._is_local(port):
            ofport = switch.interfaces.get(str(port["id"]))
            if not ofport or not port.get("admin_state_up", True):
                return []
            return [
                Flow(
                    CLASSIFICATION,
                    HIGH,
                    match(in_port=ofport),
                    (
                        ("set_field", "reg6", key),
                        ("set_field", "metadata", meta),
                        ("resubmit", L2_LOOKUP),
                    ),
                    c,
                ),
                Flow(L2_LOOKUP, HIGH, by_mac, to_port, c),
                Flow(EGRESS, HIGH, by_key, (("resubmit", LOCAL_DELIVERY),), c),
                Flow(
                    INGRESS_DESTINATION,
                    HIGH,
                    by_mac,
                    (("set_field", "reg7", key), ("resubmit", LOCAL_DELIVERY)),
                    c,
                ),
                Flow(LOCAL_DELIVERY, HIGH, by_key, (("output", ofport),), c),
            ]
        tunnel = self._tunnel(net, switch)
        destination = self._destination(port, net, chassis)
        if tunnel is None or destination is None:
            return []
        return [
            Flow(L2_LOOKUP, HIGH, by_mac, to_port, c),
            Flow(EGRESS, HIGH, by_key, _egress_actions(*tunnel, destination), c),
        ]

    def _network(
        self, net: Network, members: list[Port], chassis: dict[str, Any], switch: SwitchPorts
    ) -> list[Flow]:
        meta, c = int(net["local_key"]), network_cookie(net)
        local: list[int] = sorted(
            switch.interfaces[str(p["id"])]
            for p in members
            if self._is_local(p)
            and p.get("admin_state_up", True)
            and switch.interfaces.get(str(p["id"]))
        )
        outputs: list[Action] = [("output", ofport) for ofport in local]
        flows: list[Flow] = []
        tunnel = self._tunnel(net, switch)
        if tunnel is not None:
            segment, vtp = tunnel
            flows.append(
                Flow(
                    CLASSIFICATION,
                    HIGH,
                    match(in_port=vtp, tunnel_id=segment),
                    (("set_field", "metadata", meta), ("resubmit", INGRESS_DESTINATION)),
                    c,
                )
            )
            destinations = sorted(
                {
                    d
                    for p in members
                    if not self._is_local(p)
                    and (d := self._destination(p, net, chassis)) is not None
                }
            )
            flood = list(outputs)
            if destinations:
                flood.append(("set_field", "tunnel_id", segment))
                for ip in destinations:
                    flood += [("set_field", "tun_ipv4_dst", ip), ("output", vtp)]
            flows.append(Flow(L2_LOOKUP, FLOOD, match(metadata=meta), tuple(flood), c))
        else:
            flows.append(Flow(L2_LOOKUP, FLOOD, match(metadata=meta), tuple(outputs), c))
        flows.append(Flow(INGRESS_DESTINATION, FLOOD, match(metadata=meta), tuple(outputs), c))
        return flows
