"""The hand encoder of flow-mods produces os-ken's exact bytes for the pipeline's vocabulary."""

from __future__ import annotations

import pytest

from stateward.agent.ovs import codec as encode
from stateward.agent.ovs.flows import Flow, match
from stateward.agent.ovs.openflow import BUNDLE_FLAGS, DP, flow_mod, ofp, parser
from stateward.agent.ovs.pipeline import Pipeline, SwitchPorts
from tests.unit.test_ovs_pipeline import cache, port

SAMPLES = [
    Flow(
        0,
        100,
        match(in_port=5),
        (("set_field", "reg6", 1), ("set_field", "metadata", 7), ("resubmit", 55)),
        0x5357020000000001,
    ),
    Flow(
        0,
        100,
        match(in_port=10, tunnel_id=2**24 - 1),
        (("set_field", "metadata", 2**40), ("resubmit", 100)),
        3,
    ),
    Flow(
        55,
        100,
        match(metadata=7, eth_dst="fa:16:3e:ab:cd:ef"),
        (("set_field", "reg7", 2**31 - 1), ("resubmit", 75)),
        4,
    ),
    Flow(
        55,
        50,
        match(metadata=7, eth_dst=("01:00:00:00:00:00", "01:00:00:00:00:00")),
        (
            ("output", 5),
            ("set_field", "tunnel_id", 100),
            ("set_field", "tun_ipv4_dst", "10.250.0.2"),
            ("output", 10),
        ),
        5,
    ),
    Flow(
        75,
        100,
        match(reg7=9),
        (
            ("set_field", "tunnel_id", 2**32 - 1),
            ("set_field", "tun_ipv4_dst", "192.168.255.1"),
            ("output", 65000),
        ),
        2**64 - 1,
    ),
    Flow(115, 0, (), (), 1),
    Flow(100, 100, match(reg6=3, reg7=4, metadata=1), (("output", 1),), 0),
]


def oskens(flow: Flow, command: int, xid: int = 77) -> bytes:
    msg = parser.OFPBundleAddMsg(DP, 9, BUNDLE_FLAGS, flow_mod(flow, command), [])
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


@pytest.mark.parametrize("flow", SAMPLES, ids=range(len(SAMPLES)))
@pytest.mark.parametrize("command", [ofp.OFPFC_ADD, ofp.OFPFC_DELETE_STRICT])
def test_same_bytes_as_os_ken(flow: Flow, command: int) -> None:
    assert encode.bundle_add(77, 9, BUNDLE_FLAGS, flow, command) == oskens(flow, command)


def test_every_pipeline_flow() -> None:
    c = cache(port(1, "ch1", id="local"), port(2), port(3, None, remote_ip="10.9.9.9"))
    switch = SwitchPorts(tunnels={"vxlan": 10}, interfaces={"local": 5})
    flows = [f for fs in Pipeline("ch1", "10.0.0.1").compute(c, switch).values() for f in fs]
    assert len(flows) > 15
    for i, flow in enumerate(flows):
        assert encode.bundle_add(i, 9, BUNDLE_FLAGS, flow, 0) == oskens(flow, 0, i)


def test_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(encode.Unsupported):
        encode.bundle_add(1, 1, 0, Flow(0, 1, match(ipv4_dst="10.0.0.1"), (), 0), 0)
    with pytest.raises(encode.Unsupported):
        encode.bundle_add(1, 1, 0, Flow(0, 1, (), (("goto", 3),), 0), 0)
