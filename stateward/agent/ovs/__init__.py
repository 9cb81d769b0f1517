"""The chassis agent as local SDN controller (Dragonflow's virtual tunnel port spec).

``build_controller`` composes it from the agent's settings; ``flows_report`` is what
``stateward agent flows`` prints: desired flows (from the feed and the switch's ports),
installed flows (read back from the bridge), and the difference the agent would apply (``add``:
missing or different, ``delete``: not wanted).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stateward.agent.client import ServerClient
from stateward.agent.feed import FeedClient
from stateward.agent.ovs.controller import LocalController
from stateward.agent.ovs.flows import Flow, Owner, cookie_owner, diff
from stateward.agent.ovs.openflow import OpenFlowConnection
from stateward.agent.ovs.ovsdb import OvsdbSwitch
from stateward.agent.ovs.pipeline import Pipeline
from stateward.bus.base import Bus
from stateward.config import AgentConfig

__all__ = ["LocalController", "build_controller", "flows_report"]


def build_controller(
    config: AgentConfig,
    *,
    client: ServerClient,
    chassis: str,
    local_ip: str,
    tunnel_types: list[str],
    bus: Bus | None = None,
    feed: FeedClient | None = None,
) -> LocalController:
    """The local controller. Without ``feed`` it follows its own feed; with one (shared with
    another role, e.g. the L3 agent's) the caller runs ``feed.run()``."""
    ovs = config.ovs
    return LocalController(
        run_feed=feed is None,
        chassis=chassis,
        local_ip=local_ip,
        tunnel_types=tunnel_types,
        feed=feed
        or FeedClient(
            client,
            chassis,
            bus=bus,
            wait=config.feed_wait,
            check_interval=config.feed_check_interval,
            max_backoff=config.max_backoff,
        ),
        switch=OvsdbSwitch(ovs.ovsdb, ovs.bridge, datapath_type=ovs.datapath_type),
        openflow=OpenFlowConnection(ovs.openflow_socket()),
        resync_interval=ovs.resync_interval,
    )


def _owner(flow: Flow) -> str:
    owner = cookie_owner(flow.cookie)
    if owner is None:
        return "foreign"
    kind, ident = owner
    return "pipeline" if kind is Owner.PIPELINE else f"{kind.name.lower()}:{ident}"


async def flows_report(
    config: AgentConfig, *, client: ServerClient, chassis: str, local_ip: str
) -> dict[str, Any]:
    """Desired vs installed flows of this chassis' bridge, without changing anything."""
    feed = FeedClient(client, chassis)
    await feed.resync("flows report")
    switch = OvsdbSwitch(
        config.ovs.ovsdb, config.ovs.bridge, datapath_type=config.ovs.datapath_type
    )
    await switch.start()
    openflow = OpenFlowConnection(config.ovs.openflow_socket())
    try:
        ports = switch.ports()
        await openflow.connect()
        installed = await openflow.dump_flows()
    finally:
        await openflow.close()
        await switch.stop()
    desired = [
        f
        for flows in Pipeline(chassis, local_ip).compute(feed.cache, ports).values()
        for f in flows
    ]
    changes = diff(desired, installed)
    per_owner: dict[str, Counter[str]] = {}
    for label, flows in (
        ("desired", desired),
        ("installed", installed),
        ("add", changes.add),
        ("delete", changes.delete),
    ):
        for flow in flows:
            per_owner.setdefault(_owner(flow), Counter())[label] += 1
    return {
        "chassis": chassis,
        "feed_seq": feed.cache.seq,
        "tunnel_ports": ports.tunnels,
        "desired": sorted(f.text() for f in desired),
        "installed": sorted(f.text() for f in installed),
        "add": sorted(f.text() for f in changes.add),
        "delete": sorted(f.text() for f in changes.delete),
        "owners": [
            {
                "owner": owner,
                **{k: counts.get(k, 0) for k in ("desired", "installed", "add", "delete")},
            }
            for owner, counts in sorted(per_owner.items())
        ],
    }
