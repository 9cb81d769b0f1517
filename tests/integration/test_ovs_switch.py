"""The agent's two connections to a real (userspace) Open vSwitch: OVSDB and OpenFlow.

One chassis namespace for the module. Checks what the local controller relies on: the bridge
and tunnel ports are ensured without touching anything else; ofports arrive through the
monitor; every kind of flow the pipeline builds reads back equal to what was sent (so an
unchanged table diffs to nothing); a bundle is all or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stateward.agent.feed import FeedCache
from stateward.agent.ovs.flows import Flow, FlowDiff, diff, match
from stateward.agent.ovs.openflow import (
    DP,
    OpenFlowConnection,
    OpenFlowError,
    from_stats,
    ofp,
    parser,
)
from stateward.agent.ovs.ovsdb import OvsdbSwitch
from stateward.agent.ovs.pipeline import Pipeline, SwitchPorts
from stateward.domain.agent_feed import FeedObject
from tests.conftest import require
from tests.support.ovs import Chassis, OvsLab, have_ovs

pytestmark = [pytest.mark.ovs]


@pytest.fixture(scope="module")
def chassis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chassis]:
    require(have_ovs(), "Open vSwitch (userspace), iproute2 and root for network namespaces")
    tmp = tmp_path_factory.mktemp("ovsswitch")
    lab = OvsLab(Path(f"/tmp/swo-{tmp.name[-12:]}"))
    try:
        lab.start_underlay()
        yield lab.add_chassis("sw1")
    finally:
        lab.close()


@pytest.fixture
async def switch(chassis: Chassis) -> AsyncIterator[OvsdbSwitch]:
    sw = OvsdbSwitch(chassis.ovsdb, "br-int", datapath_type="netdev")
    await sw.start()
    await sw.ensure_bridge()
    yield sw
    await sw.stop()


@pytest.fixture
async def openflow(chassis: Chassis, switch: OvsdbSwitch) -> AsyncIterator[OpenFlowConnection]:
    conn = OpenFlowConnection(f"{chassis.dir}/br-int.mgmt")
    for _ in range(50):
        try:
            await conn.connect()
            break
        except OSError:
            await asyncio.sleep(0.1)
    yield conn
    await conn.close()


async def wait_ports(switch: OvsdbSwitch, check: object, timeout: float = 60) -> SwitchPorts:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ports = switch.ports()
        if callable(check) and check(ports):
            return ports
        if loop.time() > deadline:
            raise AssertionError(f"ports never matched: {ports}")
        switch.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(switch.changed.wait(), 0.5)


async def test_bridge_and_tunnel_ports_touch_nothing_else(
    chassis: Chassis, switch: OvsdbSwitch
) -> None:
    assert chassis.vsctl("get", "Bridge", "br-int", "fail_mode").strip() == "secure"
    assert "OpenFlow14" in chassis.vsctl("get", "Bridge", "br-int", "protocols")
    # somebody else's ports: an internal port and an (unmarked) tunnel of their own
    chassis.vsctl(
        "add-port", "br-int", "other0", "--", "set", "Interface", "other0", "type=internal"
    )
    chassis.vsctl(
        "add-port",
        "br-int",
        "theirs-gre",
        "--",
        "set",
        "Interface",
        "theirs-gre",
        "type=gre",
        "options:remote_ip=10.250.9.9",
    )

    def tunnels() -> list[str]:
        return sorted(p for p in chassis.vsctl("list-ports", "br-int").split() if "vtp" in p)

    report = await switch.ensure_tunnel_ports(["vxlan", "geneve"], chassis.ip)
    assert sorted(report.added) == ["geneve-vtp", "vxlan-vtp"]
    assert tunnels() == ["geneve-vtp", "vxlan-vtp"]
    ports = await wait_ports(switch, lambda p: set(p.tunnels) == {"vxlan", "geneve"})
    assert all(ofport > 0 for ofport in ports.tunnels.values())
    again = await switch.ensure_tunnel_ports(["vxlan", "geneve"], chassis.ip)
    assert again.added == again.updated == again.removed == []  # idempotent
    report = await switch.ensure_tunnel_ports(["vxlan", "gre"], "10.250.0.77")
    assert report.added == ["gre-vtp"] and report.removed == ["geneve-vtp"]
    assert report.updated == ["vxlan-vtp"]  # local_ip moved
    assert tunnels() == ["gre-vtp", "vxlan-vtp"]
    assert 'local_ip="10.250.0.77"' in chassis.vsctl("get", "Interface", "vxlan-vtp", "options")
    listed = chassis.vsctl("list-ports", "br-int").split()
    assert "other0" in listed and "theirs-gre" in listed
    chassis.vsctl("del-port", "br-int", "other0")
    chassis.vsctl("del-port", "br-int", "theirs-gre")


async def test_vm_ofports_arrive_through_the_monitor(chassis: Chassis, switch: OvsdbSwitch) -> None:
    def plug(ofport: int) -> None:
        chassis.vsctl(
            "add-port",
            "br-int",
            "tapvm1",
            "--",
            "set",
            "Interface",
            "tapvm1",
            "type=internal",
            f"ofport_request={ofport}",
            "external_ids:iface-id=port-1",
        )

    plug(40)
    ports = await wait_ports(switch, lambda p: p.interfaces.get("port-1") == 40)
    assert "port-1" in ports.interfaces
    # a re-plug on another ofport is seen as a change of that port
    chassis.vsctl("del-port", "br-int", "tapvm1")
    plug(41)
    await wait_ports(switch, lambda p: p.interfaces.get("port-1") == 41)
    chassis.vsctl("del-port", "br-int", "tapvm1")
    await wait_ports(switch, lambda p: "port-1" not in p.interfaces)


def sample_cache() -> FeedCache:
    cache = FeedCache()
    net = {
        "id": "n1",
        "local_key": 7,
        "network_type": "vxlan",
        "segmentation_id": 1001,
        "mtu": 1450,
    }
    ports = [
        {
            "id": "p-local",
            "network_id": "n1",
            "mac": "fa:16:3e:00:00:01",
            "tunnel_key": 11,
            "chassis": "sw1",
            "remote_ip": None,
            "ips": [],
            "admin_state_up": True,
        },
        {
            "id": "p-remote",
            "network_id": "n1",
            "mac": "fa:16:3e:00:00:02",
            "tunnel_key": 12,
            "chassis": "sw2",
            "remote_ip": None,
            "ips": [],
            "admin_state_up": True,
        },
        {
            "id": "p-far",
            "network_id": "n1",
            "mac": "fa:16:3e:00:00:03",
            "tunnel_key": 13,
            "chassis": None,
            "remote_ip": "10.99.0.3",
            "ips": [],
            "admin_state_up": True,
        },
    ]
    chassis = [{"name": "sw2", "ip": "10.250.0.2", "tunnel_types": ["vxlan"]}]
    cache.load(
        "e",
        1,
        [FeedObject("network", "n1", net)]
        + [FeedObject("port", p["id"], p) for p in ports]
        + [FeedObject("chassis", c["name"], c) for c in chassis],
    )
    return cache


async def test_pipeline_flows_read_back_equal(openflow: OpenFlowConnection) -> None:
    pipeline = Pipeline("sw1", "10.250.0.1")
    switch_ports = SwitchPorts(tunnels={"vxlan": 3}, interfaces={"p-local": 5})
    desired = [f for fs in pipeline.compute(sample_cache(), switch_ports).values() for f in fs]
    installed = await openflow.dump_flows()
    await openflow.apply(diff(desired, installed))
    back = await openflow.dump_flows()
    assert not diff(desired, back), diff(desired, back)
    assert len(back) == len(desired) == 5 + 5 + 2 + 2 + 3  # defaults, local, 2 remote, network


async def test_a_bundle_is_all_or_nothing(openflow: OpenFlowConnection) -> None:
    before = await openflow.dump_flows()
    good = Flow(55, 7, match(metadata=99, eth_dst="fa:16:3e:00:00:99"), (("resubmit", 75),), 1)
    # setting an IPv4 field on a flow that does not match IPv4: the switch refuses it
    bad = Flow(55, 1, match(reg7=1), (("set_field", "ipv4_dst", "10.0.0.1"),), 1)
    with pytest.raises(OpenFlowError):
        await openflow.apply(FlowDiff(add=[good, bad], delete=[]))
    assert sorted(map(Flow.text, await openflow.dump_flows())) == sorted(map(Flow.text, before))
    # the connection is still usable afterwards
    await openflow.apply(FlowDiff(add=[good], delete=[]))
    await openflow.apply(FlowDiff(add=[], delete=[good]))
    assert len(await openflow.dump_flows()) == len(before)


async def test_fast_read_back_equals_os_ken(chassis: Chassis, openflow: OpenFlowConnection) -> None:
    """Installed flows decoded by the agent's codec equal os-ken's decoding, including a flow
    outside the pipeline's vocabulary (which the codec hands to os-ken)."""
    pipeline = Pipeline("sw1", "10.250.0.1")
    desired = [
        f
        for fs in pipeline.compute(
            sample_cache(), SwitchPorts({"vxlan": 3}, {"p-local": 5})
        ).values()
        for f in fs
    ]
    await openflow.apply(diff(desired, await openflow.dump_flows()))
    chassis.ofctl("add-flow", "br-int", "table=3,priority=9,ip,nw_dst=10.0.0.1,actions=drop")
    fast = await openflow.dump_flows()
    replies = await openflow.request(
        parser.OFPFlowStatsRequest(
            DP, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0, parser.OFPMatch()
        )
    )
    slow = [from_stats(stats) for reply in replies for stats in reply.body]
    assert sorted(fast, key=Flow.text) == sorted(slow, key=Flow.text)
    assert any(f.table == 3 for f in fast)
    chassis.ofctl("del-flows", "br-int", "table=3")
