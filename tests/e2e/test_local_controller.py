"""The chassis agent as local SDN controller, end to end, on real Open vSwitch.

One lab for the whole module (the tests run in order and each leaves it as it found it):
three chassis namespaces, each with its own userspace ovsdb-server/ovs-vswitchd and ``br-phy``
holding its underlay IP; a real ``stateward serve`` (cloud A) with real ``stateward agent``s on
ch1 and ch2; a second ``stateward serve`` (cloud B, "another cloud") with its agent on ch3.
Networks and ports are created through the API, VM interfaces plugged as Nova/os-vif does.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, require
from tests.support.agents import AgentProcess, create_service_user, start_agent
from tests.support.ovs import Chassis, OvsLab, Vm, have_ovs, wait_until
from tests.support.server import LiveServer, start_server

pytestmark = [pytest.mark.ovs]

TYPES = ("vxlan", "geneve", "gre")
SEGMENT = {"vxlan": 1001, "geneve": 1002, "gre": 1003}
CIDR = {"vxlan": "10.21.1", "geneve": "10.21.2", "gre": "10.21.3"}
RESYNC = 3.0  # the agents' full read-back period in this lab
WAIT = 90.0  # generous: these waits are about what happens, not how fast (a busy CI machine)


@dataclass
class Cloud:
    server: LiveServer
    token: str
    http: httpx.Client
    agents: dict[str, AgentProcess] = field(default_factory=dict)
    args: dict[str, list[str]] = field(default_factory=dict)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    nets: dict[str, str] = field(default_factory=dict)
    subnets: dict[str, str] = field(default_factory=dict)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def network(self, kind: str, segment: int) -> str:
        net = self.post(
            "/networking/v2.0/networks",
            {
                "network": {
                    "name": kind,
                    "provider:network_type": kind,
                    "provider:segmentation_id": segment,
                }
            },
        )
        net_id = str(net["network"]["id"])
        sub = self.post(
            "/networking/v2.0/subnets",
            {"subnet": {"network_id": net_id, "cidr": f"{CIDR[kind]}.0/24", "name": kind}},
        )
        self.nets[kind], self.subnets[kind] = net_id, str(sub["subnet"]["id"])
        return net_id

    def port(
        self, kind: str, host: str = "", ip: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"network_id": self.nets[kind], **extra}
        if host:
            body["binding:host_id"] = host
        if ip:
            body["fixed_ips"] = [{"subnet_id": self.subnets[kind], "ip_address": ip}]
        return dict(self.post("/networking/v2.0/ports", {"port": body})["port"])

    def delete_port(self, port_id: str) -> None:
        assert self.http.delete(f"/networking/v2.0/ports/{port_id}").status_code == 204


@dataclass
class Lab:
    ovs: OvsLab
    a: Cloud
    b: Cloud
    ch: dict[str, Chassis]
    vms: dict[str, Vm]
    tmp: Path
    metrics: dict[str, int] = field(default_factory=dict)

    def start_agent(self, cloud: Cloud, name: str, types: tuple[str, ...] = TYPES) -> None:
        chassis = self.ch[name]
        self.metrics.setdefault(name, free_port())
        env = {
            "STATEWARD_AGENT__METRICS_PORT": str(self.metrics[name]),
            "STATEWARD_AGENT__OVS__ENABLED": "true",
            "STATEWARD_AGENT__OVS__DATAPATH_TYPE": "netdev",
            "STATEWARD_AGENT__OVS__OVSDB": chassis.ovsdb,
            "STATEWARD_AGENT__OVS__RESYNC_INTERVAL": str(RESYNC),
            "STATEWARD_AGENT__FEED_WAIT": "5",
            "STATEWARD_LOGGING__LEVEL": "INFO",
        }
        args = ["--tunnel-types", ",".join(types)]
        cloud.agents[name] = start_agent(
            cloud.server, self.tmp, name, chassis.ip, args=args, env=env
        )
        cloud.args[name], cloud.env[name] = args, env

    def stop_agent(self, cloud: Cloud, name: str) -> None:
        cloud.agents.pop(name).stop()


def reconciles(agent: AgentProcess) -> list[dict[str, Any]]:
    out = []
    for line in agent.log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"flows reconciled"' in line:
            out.append(json.loads(line))
    return out


def cookie_counts(chassis: Chassis) -> Counter[str]:
    return Counter(re.search(r"cookie=(0x[0-9a-f]+)", f).group(1) for f in chassis.flows())  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require(have_ovs(), "Open vSwitch (userspace), iproute2 and root for network namespaces")
    tmp = tmp_path_factory.mktemp("localctl")
    ovs = OvsLab(Path(f"/tmp/swo-{tmp.name[-12:]}"))
    clouds: list[Cloud] = []
    try:
        ovs.start_underlay()
        ch = {name: ovs.add_chassis(name) for name in ("ch1", "ch2", "ch3")}
        for cloud_dir in ("cloud-a", "cloud-b"):
            server = start_server(tmp, name=cloud_dir, timeout=120)
            create_service_user(server)
            token = server.token()
            http = httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=WAIT)
            clouds.append(Cloud(server, token, http))
        lab = Lab(ovs, clouds[0], clouds[1], ch, {}, tmp)
        lab.start_agent(lab.a, "ch1")
        lab.start_agent(lab.a, "ch2")
        lab.start_agent(lab.b, "ch3")
        for cloud, names in ((lab.a, ("ch1", "ch2")), (lab.b, ("ch3",))):
            wait_until(
                lambda c=cloud, n=names: all(
                    c.http.get(f"/v1/chassis/{x}").status_code == 200 for x in n
                ),
                WAIT,
                "agents registered",
            )
        for kind in TYPES:
            lab.a.network(kind, SEGMENT[kind])
            for i, host in ((1, "ch1"), (2, "ch2")):
                port = lab.a.port(kind, host, f"{CIDR[kind]}.{10 + i}")
                lab.vms[f"{kind}{i}"] = ovs.add_vm(
                    ch[host],
                    f"{kind[:2]}{i}",
                    port_id=port["id"],
                    mac=port["mac_address"],
                    ip=port["fixed_ips"][0]["ip_address"],
                )
        yield lab
    finally:
        for cloud in clouds:
            for agent in cloud.agents.values():
                agent.stop()
            cloud.http.close()
            cloud.server.stop()
        ovs.close()


def test_ping_between_chassis_over_each_tunnel_type(lab: Lab) -> None:
    for kind in TYPES:
        one, two = lab.vms[f"{kind}1"], lab.vms[f"{kind}2"]
        one.ping_until(two.ip, timeout=WAIT)
        assert one.ping(two.ip, count=5), f"{kind}: ping lost packets"
        # a full-size frame (1400 MTU, DF set) fits the underlay with its encapsulation
        sized = one.nsx("ping", "-c", "2", "-W", "2", "-s", "1372", "-M", "do", two.ip, check=False)
        assert sized.returncode == 0, f"{kind}: {sized.stdout}{sized.stderr}"


def test_one_tunnel_port_per_type(lab: Lab) -> None:
    for name in ("ch1", "ch2"):
        show = lab.ch[name].vsctl("show")
        ports = re.findall(
            r'Port "?([\w-]+)"?\n\s+Interface "?[\w-]+"?\n\s+type: (vxlan|geneve|gre)', show
        )
        assert sorted(ports) == sorted((f"{t}-vtp", t) for t in TYPES), show
        options = lab.ch[name].vsctl("get", "Interface", "vxlan-vtp", "options")
        assert "remote_ip=flow" in options and "key=flow" in options
        assert f'local_ip="{lab.ch[name].ip}"' in options


def test_traces_show_ingress_dispatch_and_tnl_push(lab: Lab) -> None:
    ch1, ch2 = lab.ch["ch1"], lab.ch["ch2"]
    one, two = lab.vms["vxlan1"], lab.vms["vxlan2"]
    one.ping_until(two.ip, timeout=WAIT)
    vtp = ch1.ofport("vxlan-vtp")
    # egress: from the VM's port to ch2 through the one vxlan port, VNI = segmentation id
    egress = ch1.appctl(
        "ofproto/trace",
        "br-int",
        f"in_port={ch1.ofport(one.tap)},icmp,dl_src={one.mac},dl_dst={two.mac},"
        f"nw_src={one.ip},nw_dst={two.ip}",
    )
    assert "tnl_push" in egress, egress
    assert f"vni={SEGMENT['vxlan']:#x}" in egress, egress
    assert f"dst={ch2.ip}" in egress, egress
    assert f"set_field:{ch2.ip}->tun_dst" in egress, egress
    # ingress: tun_id + in_port of the vxlan port select the network (metadata), then the VM
    ingress = ch1.appctl(
        "ofproto/trace",
        "br-int",
        f"in_port={vtp},tun_id={SEGMENT['vxlan']},tun_src={ch2.ip},tun_dst={ch1.ip},icmp,"
        f"dl_src={two.mac},dl_dst={one.mac},nw_src={two.ip},nw_dst={one.ip}",
    )
    assert f"tun_id={SEGMENT['vxlan']:#x},in_port={vtp}" in ingress, ingress
    assert re.search(r"set_field:0x[0-9a-f]+->metadata", ingress), ingress
    assert "resubmit(,100)" in ingress and f"output:{ch1.ofport(one.tap)}" in ingress, ingress


def test_agent_flows_reports_in_sync(lab: Lab) -> None:
    """``stateward agent flows`` on the chassis: desired (feed) vs installed (bridge)."""
    ch1 = lab.ch["ch1"]
    env = {**lab.a.server.env, **lab.a.env["ch1"], "STATEWARD_TOKEN": lab.a.token}
    env.pop("STATEWARD_DATABASE__URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stateward",
            "agent",
            "flows",
            "--chassis",
            "ch1",
            "--local-ip",
            ch1.ip,
            "--server",
            lab.a.server.url,
            "-f",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["add"] == [] and report["delete"] == [], report
    owners = {o["owner"]: o for o in report["owners"]}
    assert owners["pipeline"]["installed"] == 5
    assert sum(o["installed"] for o in owners.values()) == len(ch1.flows())
    # one network with two local-and-remote ports: 3 network flows, 5 + 2 port flows
    for kind in TYPES:
        net = lab.a.http.get("/v1/chassis/ch1/feed/snapshot").json()["feed"]
        key = next(o["data"]["local_key"] for o in net["objects"] if o["key"] == lab.a.nets[kind])
        assert owners[f"network:{key}"]["installed"] == 3


def test_agent_metrics(lab: Lab) -> None:
    text = httpx.get(f"http://127.0.0.1:{lab.metrics['ch1']}/metrics", timeout=10).text
    installed = re.search(r"^stateward_agent_flows_installed (\S+)$", text, re.M)
    assert installed and int(float(installed.group(1))) == len(lab.ch["ch1"].flows())
    assert 'stateward_agent_feed_resyncs_total{reason="start"} 1.0' in text
    assert 'stateward_agent_reconcile_seconds_count{kind="full"}' in text
    assert "stateward_agent_flow_changes_total" in text


def test_deleting_a_remote_port_removes_only_its_flows(lab: Lab) -> None:
    ch1 = lab.ch["ch1"]
    extra = lab.a.port("vxlan", "ch2")
    cookie = f"{(0x5357 << 48) | (2 << 40) | int(extra_key(lab, extra['id'])):#x}"
    wait_until(lambda: cookie_counts(ch1).get(cookie) == 2, WAIT, "the remote port's flows")
    before = cookie_counts(ch1)
    flows_before = set(ch1.flows())
    lab.a.delete_port(extra["id"])
    wait_until(lambda: cookie not in cookie_counts(ch1), WAIT, "its flows removed")
    after = cookie_counts(ch1)
    assert before - after == Counter({cookie: 2}) and not after - before
    # the other flows were not even rewritten
    assert flows_before - set(ch1.flows()) == {f for f in flows_before if cookie in f}


def extra_key(lab: Lab, port_id: str) -> int:
    r = lab.a.http.get("/v1/chassis/ch1/feed/snapshot")
    objects = r.json()["feed"]["objects"]
    return int(next(o["data"]["tunnel_key"] for o in objects if o["key"] == port_id))


def test_flows_deleted_behind_its_back_come_back(lab: Lab) -> None:
    ch1 = lab.ch["ch1"]
    before = cookie_counts(ch1)
    victim = next(c for c in before if before[c] == 5)  # a local port's five flows
    ch1.ofctl("del-flows", "br-int", f"cookie={victim}/-1")
    assert victim not in cookie_counts(ch1)
    wait_until(lambda: cookie_counts(ch1) == before, RESYNC + WAIT, "flows restored")


def ping_through(vm: Vm, ip: str, action: Any) -> tuple[int, int]:
    """Ping ``ip`` from ``vm`` every 10 ms from before ``action`` until after it finished;
    returns (sent, received)."""
    ping = subprocess.Popen(
        ["ip", "netns", "exec", vm.ns, "ping", "-q", "-i", "0.01", "-W", "1", ip],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(0.5)
    action()
    time.sleep(0.5)
    ping.send_signal(signal.SIGINT)  # ping prints its statistics and exits
    out, _ = ping.communicate(timeout=WAIT)
    found = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert found, out
    return int(found.group(1)), int(found.group(2))


def test_agent_restart_never_interrupts_traffic(lab: Lab) -> None:
    ch1 = lab.ch["ch1"]
    one, two = lab.vms["vxlan1"], lab.vms["vxlan2"]
    one.ping_until(two.ip, timeout=WAIT)
    flows_before = set(ch1.flows())
    seen = len(reconciles(lab.a.agents["ch1"]))  # the log file is shared by restarts

    def restart() -> None:
        lab.stop_agent(lab.a, "ch1")
        lab.start_agent(lab.a, "ch1")
        wait_until(
            lambda: len(reconciles(lab.a.agents["ch1"])) > seen, WAIT, "the new agent's reconcile"
        )

    sent, received = ping_through(one, two.ip, restart)
    assert sent > 100, "the ping did not run through the restart"
    assert sent == received, f"{sent - received} of {sent} lost during the restart"
    first = reconciles(lab.a.agents["ch1"])[seen]
    assert first["kind"] == "full" and first["added"] == 0 and first["deleted"] == 0, first
    assert set(ch1.flows()) == flows_before


def test_chassis_ip_change_rewrites_only_its_flows(lab: Lab) -> None:
    ch1, ch2 = lab.ch["ch1"], lab.ch["ch2"]
    old_ip, new_ip = ch2.ip, "10.250.1.2"
    counts_before = cookie_counts(ch1)
    flows_before = set(ch1.flows())
    touching = {f for f in flows_before if f"{old_ip}->tun_dst" in f}
    assert len(touching) == 6  # per type: ch2's VM egress flow and the network's flood flow
    seen = len(reconciles(lab.a.agents["ch1"]))

    lab.stop_agent(lab.a, "ch2")
    lab.ovs.set_chassis_ip(ch2, new_ip)
    lab.start_agent(lab.a, "ch2")  # registers again, with its new IP
    wait_until(lambda: not any(f"{old_ip}->tun_dst" in f for f in ch1.flows()), WAIT, "new IP")

    after = set(ch1.flows())
    assert cookie_counts(ch1) == counts_before
    assert flows_before - after == touching
    assert after - flows_before == {f.replace(old_ip, new_ip) for f in touching}
    changes = [r for r in reconciles(lab.a.agents["ch1"])[seen:] if r["kind"] == "incremental"]
    assert sum(r["added"] for r in changes) == len(touching)
    assert sum(r["deleted"] for r in changes) == 0
    assert "options" in ch2.vsctl("list", "Interface", "vxlan-vtp")
    assert f'local_ip="{new_ip}"' in ch2.vsctl("get", "Interface", "vxlan-vtp", "options")
    for kind in TYPES:
        lab.vms[f"{kind}1"].ping_until(lab.vms[f"{kind}2"].ip, timeout=WAIT)


def tunnel_ports(chassis: Chassis) -> list[str]:
    return sorted(p for p in chassis.vsctl("list-ports", "br-int").split() if p.endswith("-vtp"))


def test_tunnel_type_removed_then_added_on_restart(lab: Lab) -> None:
    ch1, ch2 = lab.ch["ch1"], lab.ch["ch2"]
    gre_ofport = ch1.ofport("gre-vtp")
    gre_remote = lab.vms["gre2"].port_id
    counts_before = cookie_counts(ch1)
    ch2_before = cookie_counts(ch2)
    lab.stop_agent(lab.a, "ch1")
    lab.start_agent(lab.a, "ch1", ("vxlan", "geneve"))
    wait_until(lambda: tunnel_ports(ch1) == ["geneve-vtp", "vxlan-vtp"], WAIT, "gre-vtp removed")
    wait_until(
        lambda: (
            not any(
                f"in_port={gre_ofport}," in f or f"output:{gre_ofport}" in f for f in ch1.flows()
            )
        ),
        WAIT,
        "no flow uses the gre port",
    )
    # ch1: the gre network keeps its local flows (its VM still talks locally); the remote gre
    # port's two flows and the tunnel ingress flow of the gre network are gone
    gre_key = int(extra_key(lab, gre_remote))
    remote_cookie = f"{(0x5357 << 48) | (2 << 40) | gre_key:#x}"
    wait_until(lambda: remote_cookie not in cookie_counts(ch1), WAIT, "remote gre flows gone")
    lost = counts_before - cookie_counts(ch1)
    assert lost[remote_cookie] == 2 and sum(lost.values()) == 3, lost
    # ch2 learned that ch1 has no gre any more: no egress to ch1 for gre
    wait_until(lambda: sum((ch2_before - cookie_counts(ch2)).values()) == 2, WAIT, "ch2 updated")
    assert lab.vms["vxlan1"].ping(lab.vms["vxlan2"].ip, count=2)

    lab.stop_agent(lab.a, "ch1")
    lab.start_agent(lab.a, "ch1")
    wait_until(lambda: tunnel_ports(ch1) == ["geneve-vtp", "gre-vtp", "vxlan-vtp"], WAIT, "back")
    wait_until(lambda: cookie_counts(ch1) == counts_before, WAIT, "ch1 flows back")
    wait_until(lambda: cookie_counts(ch2) == ch2_before, WAIT, "ch2 flows back")
    lab.vms["gre1"].ping_until(lab.vms["gre2"].ip, timeout=WAIT)


def test_vswitchd_restart_is_reprogrammed(lab: Lab) -> None:
    """ovs-vswitchd keeps flows in memory only: after its restart the agent notices the lost
    OpenFlow connection, reconnects, and installs the whole table again."""
    ch2 = lab.ch["ch2"]
    before = cookie_counts(ch2)
    lab.ovs.restart_vswitchd(ch2)
    wait_until(lambda: cookie_counts(ch2) == before, WAIT, "ch2's flows back")
    for kind in TYPES:
        lab.vms[f"{kind}1"].ping_until(lab.vms[f"{kind}2"].ip, timeout=WAIT)


def test_port_in_another_cloud_is_reachable(lab: Lab) -> None:
    """Cloud B's VM on ch3 and cloud A's VM on ch1 share a vxlan segment; each cloud declares
    the other's port as a remote port (binding:profile port_key/host_ip)."""
    ch1, ch3 = lab.ch["ch1"], lab.ch["ch3"]
    one = lab.vms["vxlan1"]
    lab.b.network("vxlan", SEGMENT["vxlan"])
    theirs = lab.b.port("vxlan", "ch3", f"{CIDR['vxlan']}.30")
    lab.b.port(
        "vxlan",
        ip=one.ip,
        mac_address=one.mac,
        **{"binding:profile": {"port_key": "remote_port", "host_ip": ch1.ip}},
    )
    lab.a.port(
        "vxlan",
        ip=f"{CIDR['vxlan']}.30",
        mac_address=theirs["mac_address"],
        **{"binding:profile": {"port_key": "remote_port", "host_ip": ch3.ip}},
    )
    vm3 = lab.ovs.add_vm(
        ch3, "vx3", port_id=theirs["id"], mac=theirs["mac_address"], ip=f"{CIDR['vxlan']}.30"
    )
    lab.vms["vxlan3"] = vm3
    one.ping_until(vm3.ip, timeout=WAIT)
    assert vm3.ping(one.ip, count=3)
    assert tunnel_ports(ch1) == ["geneve-vtp", "gre-vtp", "vxlan-vtp"]
