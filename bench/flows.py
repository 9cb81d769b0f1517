"""The local controller's flow programming on a real (userspace) Open vSwitch, each figure next
to a baseline measured in the same run:

1. N remote ports converged (default 10,000): the agent's reconcile - compute every flow from
   the cache, read the table back, apply the difference in one atomic bundle - vs one
   flow-mod per port (each remote port's flows sent on their own, the next port once the
   switch confirmed with a barrier: the per-port-event install of a naive controller).
2. A chassis IP change with M ports on that chassis (default 1,000): the agent's incremental
   reconcile (only the changed chassis' ports and the floods of their networks) vs a full
   reconcile of the same change (read back and compare the whole table).
3. The seed's claim, at 100 and 500 chassis: the old design (one tunnel port per remote
   chassis, ``options:remote_ip=<ip>``) vs virtual tunnel ports (one per type,
   ``remote_ip=flow``): OVS ports on the bridge, and the time for a new chassis to be usable
   (old: add its tunnel port, wait for its ofport, install its ports' flows; new: install its
   ports' flows).

Needs root, iproute2 and Open vSwitch (no kernel module: the userspace datapath runs in a
namespace this program creates and removes).

    PYTHONPATH=. python bench/flows.py [--ports 10000] [--chassis-ports 1000] [--sizes 100,500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stateward.agent.client import Credentials, ServerClient  # noqa: E402
from stateward.agent.feed import FeedClient, FeedUpdate  # noqa: E402
from stateward.agent.ovs.controller import Dirty, LocalController  # noqa: E402
from stateward.agent.ovs.flows import Flow, FlowDiff, diff  # noqa: E402
from stateward.agent.ovs.openflow import DP, OpenFlowConnection, flow_mod, ofp, parser  # noqa: E402
from stateward.agent.ovs.ovsdb import OvsdbSwitch  # noqa: E402
from stateward.domain.agent_feed import PUT, Change, FeedObject  # noqa: E402
from tests.support.ovs import Chassis, OvsLab, have_ovs  # noqa: E402

ME = "bench-1"


def load() -> str:
    """The machine's load average (1, 5, 15 min): figures measured on a busy machine say so."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def mac(i: int) -> str:
    return f"fa:16:3e:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"


def objects(
    ports: int, chassis: int, *, moving: str | None = None, moving_ports: int = 0
) -> list[FeedObject]:
    """One vxlan network: one local port, ``ports`` remote ports over ``chassis`` chassis
    (plus ``moving_ports`` on chassis ``moving``)."""
    net = {
        "id": "n1",
        "local_key": 1,
        "network_type": "vxlan",
        "segmentation_id": 5001,
        "mtu": 1450,
    }
    out = [FeedObject("network", "n1", net)]
    hosts = [f"ch-{i}" for i in range(chassis)] + ([moving] if moving else [])
    for i, host in enumerate(hosts):
        ip = f"10.{100 + i // 250}.{i % 250}.2"
        out.append(FeedObject("chassis", host, {"name": host, "ip": ip, "tunnel_types": ["vxlan"]}))
    specs = [("local", ME)] + [(f"r{i}", hosts[i % chassis]) for i in range(ports)]
    specs += [(f"m{i}", moving) for i in range(moving_ports)] if moving else []
    for key, (port_id, host) in enumerate(specs, start=1):
        out.append(
            FeedObject(
                "port",
                port_id,
                {
                    "id": port_id,
                    "network_id": "n1",
                    "mac": mac(key),
                    "tunnel_key": key,
                    "chassis": host,
                    "remote_ip": None,
                    "ips": [],
                    "admin_state_up": True,
                },
            )
        )
    return out


def controller(
    chassis: Chassis, switch: OvsdbSwitch, openflow: OpenFlowConnection
) -> LocalController:
    feed = FeedClient(ServerClient(["http://127.0.0.1:9"], Credentials(token="unused")), ME)
    ctl = LocalController(
        chassis=ME,
        local_ip=chassis.ip,
        tunnel_types=["vxlan"],
        feed=feed,
        switch=switch,
        openflow=openflow,
    )
    ctl.ports = switch.ports()
    ctl.dirty.take()  # the benchmark drives reconciles itself (a new controller starts "full")
    return ctl


async def clear(openflow: OpenFlowConnection) -> None:
    await openflow.apply(FlowDiff(add=[], delete=await openflow.dump_flows()))


async def barrier(openflow: OpenFlowConnection) -> None:
    await openflow.request(parser.OFPBarrierRequest(DP))


async def one_flow_mod_per_port(openflow: OpenFlowConnection, groups: list[list[Flow]]) -> None:
    """The baseline: each port's flows as plain FLOW_MODs, confirmed before the next port."""
    assert openflow._writer is not None
    for flows in groups:
        for flow in flows:
            message = flow_mod(flow, ofp.OFPFC_ADD)
            openflow._send(message)
        await barrier(openflow)


async def converge(
    chassis: Chassis, switch: OvsdbSwitch, openflow: OpenFlowConnection, n: int
) -> None:
    ctl = controller(chassis, switch, openflow)
    cache_objects = objects(n, 100)
    ctl.feed.cache.load("e", 1, cache_objects)
    await clear(openflow)
    started = time.perf_counter()
    applied = await ctl.reconcile(Dirty(full=True))
    ours = time.perf_counter() - started
    assert not diff(
        [f for fs in ctl.pipeline.compute(ctl.feed.cache, ctl.ports).values() for f in fs],
        await openflow.dump_flows(),
    )
    groups = list(ctl.pipeline.compute(ctl.feed.cache, ctl.ports).values())
    await clear(openflow)
    started = time.perf_counter()
    await one_flow_mod_per_port(openflow, groups)
    baseline = time.perf_counter() - started
    assert len(await openflow.dump_flows()) == len(applied.add)
    print(f"\n1. {n:,} remote ports converged ({len(applied.add):,} flows)  load {load()}")
    print(f"   agent reconcile (one bundle):   {ours * 1000:8.1f} ms")
    ratio = baseline / ours
    print(f"   one flow-mod per port:          {baseline * 1000:8.1f} ms   ({ratio:.1f}x slower)")
    print(f"   target < 1 s: {'met' if ours < 1 else 'MISSED'}")


async def ip_change(
    chassis: Chassis, switch: OvsdbSwitch, openflow: OpenFlowConnection, m: int
) -> None:
    ctl = controller(chassis, switch, openflow)
    ctl.feed.cache.load("e", 1, objects(9000, 100, moving="mover", moving_ports=m))
    await clear(openflow)
    await ctl.reconcile(Dirty(full=True))
    runs: list[float] = []
    fulls: list[float] = []
    touched = 0
    for attempt in range(6):
        ip = f"10.200.{attempt}.9"
        change = Change(
            ctl.feed.cache.seq + 1,
            "chassis",
            "mover",
            PUT,
            {"name": "mover", "ip": ip, "tunnel_types": ["vxlan"]},
        )
        started = time.perf_counter()
        ctl.feed.cache.apply("e", [change])
        await ctl.on_feed(FeedUpdate(ctl.feed.cache, [change]))
        applied = await ctl.reconcile(ctl.dirty.take())
        runs.append(time.perf_counter() - started)
        touched = applied.size
        # baseline: the same kind of change through a full reconcile (read back, compare all)
        change = Change(
            ctl.feed.cache.seq + 1,
            "chassis",
            "mover",
            PUT,
            {"name": "mover", "ip": f"10.201.{attempt}.9", "tunnel_types": ["vxlan"]},
        )
        started = time.perf_counter()
        ctl.feed.cache.apply("e", [change])
        ctl.dirty.take()
        await ctl.reconcile(Dirty(full=True))
        fulls.append(time.perf_counter() - started)
    ours, baseline = statistics.median(runs), statistics.median(fulls)
    total, ratio = len(ctl.installed.flows), baseline / ours
    print(f"\n2. chassis IP change, {m:,} ports on it, {total:,} flows installed  load {load()}")
    print(
        f"   incremental reconcile:          {ours * 1000:8.1f} ms (median of 6; {touched} flows)"
    )
    print(f"   full reconcile of the change:   {baseline * 1000:8.1f} ms   ({ratio:.1f}x slower)")
    print(f"   target < 100 ms: {'met' if ours < 0.1 else 'MISSED'}")


async def old_vs_virtual(
    chassis: Chassis,
    switch: OvsdbSwitch,
    openflow: OpenFlowConnection,
    size: int,
    ports_per_chassis: int = 10,
) -> None:
    """Old design on bridge br-old: one tunnel port per remote chassis."""
    api = switch.api
    old = "br-old"

    def run(*commands: Any) -> None:
        with api.transaction(check_error=True) as txn:
            for command in commands:
                txn.add(command)

    await asyncio.to_thread(
        run,
        api.add_br(old, datapath_type="netdev"),
        api.db_set("Bridge", old, ("fail_mode", "secure")),
    )
    started = time.perf_counter()
    await asyncio.to_thread(
        run,
        *[
            api.add_port(
                old,
                f"t{i}",
                type="vxlan",
                options={
                    "remote_ip": f"10.{100 + i // 250}.{i % 250}.2",
                    "key": "flow",
                    "local_ip": chassis.ip,
                },
            )
            for i in range(size)
        ],
    )
    setup = time.perf_counter() - started
    old_ports = len(chassis.vsctl("list-ports", old).split())
    new_ports = len(
        [p for p in chassis.vsctl("list-ports", "br-int").split() if p.endswith("-vtp")]
    )

    old_conn = OpenFlowConnection(f"{chassis.dir}/{old}.mgmt")
    await old_conn.connect()
    old_runs, new_runs = [], []
    ctl = controller(chassis, switch, openflow)
    ctl.feed.cache.load("e", 1, objects(size * ports_per_chassis, size))
    await clear(openflow)
    await ctl.reconcile(Dirty(full=True))
    for attempt in range(5):
        name = f"new{attempt}"
        ip = f"10.210.{attempt}.2"
        # old: a tunnel port for the new chassis, its ofport, then its ports' flows
        started = time.perf_counter()
        await asyncio.to_thread(
            run,
            api.add_port(
                old,
                name,
                type="vxlan",
                options={"remote_ip": ip, "key": "flow", "local_ip": chassis.ip},
            ),
        )
        while True:
            ofport = chassis.vsctl("get", "Interface", name, "ofport").strip()
            if ofport.isdigit() and int(ofport) > 0:
                break
            await asyncio.sleep(0.001)
        flows = [
            Flow(
                75,
                100,
                (("reg7", 900_000 + attempt * 100 + p),),
                (("set_field", "tunnel_id", 5001), ("output", int(ofport))),
                1,
            )
            for p in range(ports_per_chassis)
        ]
        await old_conn.apply(FlowDiff(add=flows, delete=[]))
        old_runs.append(time.perf_counter() - started)
        # new: the chassis and its ports arrive in the feed; its flows in one bundle
        started = time.perf_counter()
        base = ctl.feed.cache.seq
        changes = [
            Change(
                base + 1, "chassis", name, PUT, {"name": name, "ip": ip, "tunnel_types": ["vxlan"]}
            )
        ]
        for p in range(ports_per_chassis):
            key = 900_000 + attempt * 100 + p
            changes.append(
                Change(
                    base + 2 + p,
                    "port",
                    f"n{key}",
                    PUT,
                    {
                        "id": f"n{key}",
                        "network_id": "n1",
                        "mac": mac(key),
                        "tunnel_key": key,
                        "chassis": name,
                        "remote_ip": None,
                        "ips": [],
                        "admin_state_up": True,
                    },
                )
            )
        ctl.feed.cache.apply("e", changes)
        await ctl.on_feed(FeedUpdate(ctl.feed.cache, changes))
        await ctl.reconcile(ctl.dirty.take())
        new_runs.append(time.perf_counter() - started)
    await old_conn.close()
    await asyncio.to_thread(run, api.del_br(old))
    ours, baseline = statistics.median(new_runs), statistics.median(old_runs)
    print(f"\n3. {size} chassis ({size * ports_per_chassis:,} remote ports)  load {load()}")
    print(
        f"   OVS tunnel ports on the bridge:  old design {old_ports:,} (+1 per chassis; created in "
        f"{setup:.1f} s)  virtual tunnel ports {new_ports}"
    )
    print(
        f"   new chassis usable:             virtual {ours * 1000:7.1f} ms   "
        f"old {baseline * 1000:7.1f} ms   ({baseline / ours:.1f}x slower; median of 5, "
        f"{ports_per_chassis} ports each)"
    )


async def main(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="swb-", dir="/tmp"))
    lab = OvsLab(base, suffix=uuid.uuid4().hex[:6])
    try:
        lab.start_underlay()
        chassis = lab.add_chassis(ME)
        switch = OvsdbSwitch(chassis.ovsdb, "br-int", datapath_type="netdev")
        await switch.start()
        await switch.ensure_bridge()
        await switch.ensure_tunnel_ports(["vxlan", "geneve", "gre"], chassis.ip)
        for _ in range(100):
            if len(switch.ports().tunnels) == 3:
                break
            await asyncio.sleep(0.05)
        openflow = OpenFlowConnection(f"{chassis.dir}/br-int.mgmt")
        await openflow.connect()
        print(
            f"Open vSwitch {chassis.vsctl('--version').split()[3]} userspace datapath; "
            f"{os.cpu_count()} CPUs"
        )
        await converge(chassis, switch, openflow, args.ports)
        await ip_change(chassis, switch, openflow, args.chassis_ports)
        for size in args.sizes:
            await old_vs_virtual(chassis, switch, openflow, size)
        await openflow.close()
        await switch.stop()
    finally:
        lab.close()


if __name__ == "__main__":
    if not have_ovs():
        sys.exit("needs root, iproute2 and Open vSwitch (ovsdb-server, ovs-vswitchd)")
    parser_ = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser_.add_argument("--ports", type=int, default=10_000)
    parser_.add_argument("--chassis-ports", type=int, default=1_000)
    parser_.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500]
    )
    asyncio.run(main(parser_.parse_args()))
