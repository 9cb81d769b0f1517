"""The local controller's pipeline and flow diff (pure): which flows each object gets."""

from __future__ import annotations

from typing import Any

from stateward.agent.ovs.flows import Flow, Owner, cookie, cookie_owner, diff, match
from stateward.agent.ovs.pipeline import (
    CLASSIFICATION,
    EGRESS,
    INGRESS_DESTINATION,
    L2_LOOKUP,
    LOCAL_DELIVERY,
    PIPELINE_COOKIE,
    Pipeline,
    SwitchPorts,
)
from stateward.domain.agent_feed import FeedCache, FeedObject

ME = Pipeline("ch1", "10.0.0.1")
PORTS = SwitchPorts(tunnels={"vxlan": 10, "gre": 12}, interfaces={"local": 5})


def port(key: int, chassis: str | None = "ch2", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"p{key}",
        "network_id": "n1",
        "mac": f"fa:16:3e:00:00:{key:02x}",
        "tunnel_key": key,
        "chassis": chassis,
        "remote_ip": None,
        "ips": [],
        "admin_state_up": True,
        **extra,
    }


def cache(*ports: dict[str, Any], net_type: str = "vxlan", **chassis_ips: str) -> FeedCache:
    c = FeedCache()
    net = {
        "id": "n1",
        "local_key": 7,
        "network_type": net_type,
        "segmentation_id": 100,
        "mtu": 1450,
    }
    hosts = {"ch2": "10.0.0.2", "ch3": "10.0.0.3", **chassis_ips}
    c.load(
        "e",
        1,
        [FeedObject("network", "n1", net)]
        + [FeedObject("port", p["id"], p) for p in ports]
        + [
            FeedObject("chassis", n, {"name": n, "ip": ip, "tunnel_types": ["vxlan", "geneve"]})
            for n, ip in hosts.items()
        ],
    )
    return c


def flows_of(c: FeedCache, key: int, kind: Owner = Owner.PORT) -> list[Flow]:
    return ME.compute(c, PORTS).get(cookie(kind, key), [])


def test_a_local_port_gets_classification_lookup_and_delivery() -> None:
    local = port(1, "ch1", id="local")
    flows = {f.table: f for f in flows_of(cache(local), 1)}
    assert sorted(flows) == [CLASSIFICATION, L2_LOOKUP, EGRESS, INGRESS_DESTINATION, LOCAL_DELIVERY]
    assert flows[CLASSIFICATION].match == match(in_port=5)
    assert flows[CLASSIFICATION].actions == (
        ("set_field", "reg6", 1),
        ("set_field", "metadata", 7),
        ("resubmit", L2_LOOKUP),
    )
    assert flows[LOCAL_DELIVERY].actions == (("output", 5),)
    assert flows[INGRESS_DESTINATION].match == match(metadata=7, eth_dst="fa:16:3e:00:00:01")
    # not plugged yet, or administratively down: no flows at all
    assert flows_of(cache(port(1, "ch1", id="elsewhere")), 1) == []
    assert flows_of(cache(port(1, "ch1", id="local", admin_state_up=False)), 1) == []


def test_a_remote_port_gets_lookup_and_egress_through_the_one_tunnel_port() -> None:
    flows = {f.table: f for f in flows_of(cache(port(2)), 2)}
    assert sorted(flows) == [L2_LOOKUP, EGRESS]
    assert flows[EGRESS].match == match(reg7=2)
    assert flows[EGRESS].actions == (
        ("set_field", "tunnel_id", 100),
        ("set_field", "tun_ipv4_dst", "10.0.0.2"),
        ("output", 10),
    )
    # in another cloud: the host IP from its binding profile
    far = port(3, None, remote_ip="192.168.7.7")
    egress = [f for f in flows_of(cache(far), 3) if f.table == EGRESS]
    assert ("set_field", "tun_ipv4_dst", "192.168.7.7") in egress[0].actions


def test_unreachable_remote_ports_get_nothing() -> None:
    # the remote chassis does not speak gre / this chassis has no geneve port / same IP / unknown
    assert flows_of(cache(port(2), net_type="gre"), 2) == []
    assert flows_of(cache(port(2), net_type="geneve"), 2) == []
    assert flows_of(cache(port(2), ch2="10.0.0.1"), 2) == []
    assert flows_of(cache(port(2, "ch9")), 2) == []


def test_network_flows_flood_to_local_ports_and_every_remote_chassis_once() -> None:
    c = cache(
        port(1, "ch1", id="local"),
        port(2),
        port(3, "ch2"),
        port(4, "ch3"),
        port(5, None, remote_ip="10.0.0.9"),
    )
    flows = {(f.table, f.priority): f for f in flows_of(c, 7, Owner.NETWORK)}
    ingress = flows[(CLASSIFICATION, 100)]
    assert ingress.match == match(in_port=10, tunnel_id=100)
    assert ingress.actions == (("set_field", "metadata", 7), ("resubmit", INGRESS_DESTINATION))
    flood = flows[(L2_LOOKUP, 50)].actions
    assert flood[0] == ("output", 5) and flood[1] == ("set_field", "tunnel_id", 100)
    destinations = [a[2] for a in flood if a[:2] == ("set_field", "tun_ipv4_dst")]
    assert destinations == ["10.0.0.2", "10.0.0.3", "10.0.0.9"]  # ch2 once for two ports
    assert flows[(INGRESS_DESTINATION, 50)].actions == (("output", 5),)  # never back to tunnels


def test_a_chassis_ip_change_changes_only_its_ports_and_the_flood() -> None:
    ports = [port(1, "ch1", id="local"), port(2), port(3, "ch3")]
    before = [f for fs in ME.compute(cache(*ports), PORTS).values() for f in fs]
    after = [f for fs in ME.compute(cache(*ports, ch2="10.0.0.22"), PORTS).values() for f in fs]
    changes = diff(after, before)
    assert not changes.delete
    assert {cookie_owner(f.cookie) for f in changes.add} == {(Owner.PORT, 2), (Owner.NETWORK, 7)}
    assert len(changes.add) == 2  # port 2's egress and the network's flood


def test_partial_compute_and_defaults() -> None:
    c = cache(port(1, "ch1", id="local"), port(2))
    part = ME.compute(c, PORTS, ports=["p2"], networks=[])
    assert list(part) == [cookie(Owner.PORT, 2)]
    owners: dict[int, tuple[str, str]] = {}
    full = ME.compute(c, PORTS, owners=owners)
    assert {f.table for f in full[PIPELINE_COOKIE]} == {0, 55, 75, 100, 115}
    assert all(f.actions == () for f in full[PIPELINE_COOKIE])
    assert owners[cookie(Owner.NETWORK, 7)] == ("network", "n1")
    assert owners[cookie(Owner.PORT, 2)] == ("port", "p2")


def test_cookies_text_and_diff() -> None:
    value = cookie(Owner.PORT, 42)
    assert hex(value) == "0x535702000000002a"
    assert cookie_owner(value) == (Owner.PORT, 42)
    assert cookie_owner(0x1234) is None
    f = Flow(
        75,
        100,
        match(reg7=42),
        (
            ("set_field", "tunnel_id", 100),
            ("set_field", "tun_ipv4_dst", "10.0.0.2"),
            ("output", 10),
        ),
        value,
    )
    assert f.text() == (
        "cookie=0x535702000000002a, table=75, priority=100,reg7=0x2a "
        "actions=set_field:0x64->tun_id,set_field:10.0.0.2->tun_dst,output:10"
    )
    moved = Flow(75, 100, f.match, (("output", 11),), value)
    gone = Flow(55, 100, match(metadata=1), (), value)
    changes = diff([moved], [f, gone])
    assert changes.add == [moved] and changes.delete == [gone] and changes.size == 2
    assert not diff([f], [f])
