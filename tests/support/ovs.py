"""A lab of real Open vSwitch chassis for tests: namespaces, userspace OVS, VMs plugged as Nova.

Each chassis is a network namespace running its own ``ovsdb-server`` and ``ovs-vswitchd``
(userspace datapath, ``--disable-system``: no kernel module needed) with every socket, pid and
log under a private directory. The chassis reach each other over an underlay: a Linux bridge
in a namespace of its own, a veth to each chassis, and on each chassis ``br-phy`` owning the
tunnel endpoint IP (Open vSwitch's "userspace tunneling" layout). VMs are namespaces with a
veth whose other end is plugged into ``br-int`` the way os-vif does it (``external_ids:
iface-id``, ``attached-mac``, ``iface-status``, ``vm-uuid``).

Everything carries a random suffix and is removed afterwards; only processes started here
(found by our own pid files) are ever stopped. Addresses stay inside the namespaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
UNDERLAY = "10.250.{n}.0/16"


def have_ovs() -> bool:
    return (
        os.geteuid() == 0
        and all(shutil.which(b) for b in ("ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ip"))
        and SCHEMA.exists()
    )


def run(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def wait_until(check: object, timeout: float = 20.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check() if callable(check) else check
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _kill_pidfile(path: Path) -> None:
    if not path.exists():
        return
    with contextlib.suppress(ValueError, OSError):
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)


@dataclass
class Chassis:
    """One chassis: its namespace and its private Open vSwitch."""

    name: str
    ns: str
    ip: str
    dir: Path
    index: int

    @property
    def ovsdb(self) -> str:
        return f"unix:{self.dir}/db.sock"

    @property
    def env(self) -> dict[str, str]:
        d = str(self.dir)
        return {"OVS_RUNDIR": d, "OVS_DBDIR": d, "OVS_LOGDIR": d, "OVS_SYSCONFDIR": d}

    def nsx(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.ns, *args, check=check)

    def vsctl(self, *args: str, check: bool = True) -> str:
        return run("ovs-vsctl", f"--db={self.ovsdb}", "--timeout=10", *args, check=check).stdout

    def ofctl(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["ovs-ofctl", "-O", "OpenFlow14", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **self.env},
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"ovs-ofctl {' '.join(args)}: {result.stderr}")
        return result.stdout

    def appctl(self, *args: str) -> str:
        return run("ovs-appctl", "-t", f"{self.dir}/ovs-vswitchd.ctl", *args).stdout

    def flows(self, bridge: str = "br-int") -> list[str]:
        """Flows as ``ovs-ofctl dump-flows --no-stats`` prints them, one per line."""
        out = self.ofctl("dump-flows", bridge, "--no-stats")
        return [line.strip() for line in out.splitlines() if "actions=" in line]

    def start_vswitchd(self) -> None:
        d = self.dir
        self.nsx(
            "env",
            *(f"{k}={v}" for k, v in self.env.items()),
            "ovs-vswitchd",
            f"unix:{d}/db.sock",
            "--disable-system",
            f"--pidfile={d}/ovs-vswitchd.pid",
            f"--unixctl={d}/ovs-vswitchd.ctl",
            f"--log-file={d}/ovs-vswitchd.log",
            "-vconsole:off",
            "--detach",
            "--no-chdir",
        )

    def stop_vswitchd(self) -> None:
        _kill_pidfile(self.dir / "ovs-vswitchd.pid")

    def start(self) -> None:
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        run("ovsdb-tool", "create", f"{d}/conf.db", str(SCHEMA))
        self.nsx(
            "env",
            *(f"{k}={v}" for k, v in self.env.items()),
            "ovsdb-server",
            f"{d}/conf.db",
            f"--remote=punix:{d}/db.sock",
            f"--pidfile={d}/ovsdb-server.pid",
            f"--unixctl={d}/ovsdb-server.ctl",
            f"--log-file={d}/ovsdb-server.log",
            "-vconsole:off",
            "--detach",
            "--no-chdir",
        )
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".", f"external_ids:system-id={self.name}")
        self.start_vswitchd()

    def stop(self) -> None:
        self.stop_vswitchd()
        _kill_pidfile(self.dir / "ovsdb-server.pid")

    def ofport(self, interface: str) -> int:
        value = self.vsctl("get", "Interface", interface, "ofport").strip()
        return int(value) if value.lstrip("-").isdigit() else -1


@dataclass
class Vm:
    """A VM: a namespace whose eth0 is plugged into its chassis' br-int as os-vif would."""

    name: str
    ns: str
    chassis: Chassis
    tap: str
    mac: str
    ip: str
    port_id: str

    def nsx(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.ns, *args, check=check)

    def ping(self, ip: str, count: int = 3, interval: float = 0.2, timeout: int = 1) -> bool:
        result = self.nsx(
            "ping", "-c", str(count), "-i", str(interval), "-W", str(timeout), ip, check=False
        )
        return result.returncode == 0

    def ping_until(self, ip: str, timeout: float = 90.0) -> None:
        """Succeeds once one ping gets through (the first may be spent on ARP and the
        neighbour cache of the userspace tunnel)."""
        wait_until(lambda: self.ping(ip, count=1), timeout, f"{self.name} -> {ip}")

    def unplug(self) -> None:
        self.chassis.vsctl("--if-exists", "del-port", "br-int", self.tap)


@dataclass
class OvsLab:
    """Chassis namespaces on one underlay, and the VMs on them."""

    base: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    chassis: list[Chassis] = field(default_factory=list)
    vms: list[Vm] = field(default_factory=list)
    net: int = 250

    @property
    def underlay_ns(self) -> str:
        return f"swo{self.suffix}-ul"

    def start_underlay(self) -> None:
        ns = self.underlay_ns
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "add", "ulbr", "type", "bridge")
        run("ip", "-n", ns, "link", "set", "ulbr", "mtu", "1600", "up")

    def add_chassis(self, name: str) -> Chassis:
        index = len(self.chassis) + 1
        ns = f"swo{self.suffix}-c{index}"
        chassis = Chassis(name, ns, f"10.{self.net}.0.{index}", self.base / f"c{index}", index)
        run("ip", "netns", "add", ns)
        self.chassis.append(chassis)
        chassis.nsx("ip", "link", "set", "lo", "up")
        for key in ("all", "default"):  # only answer ARP on the interface owning the IP
            chassis.nsx("sysctl", "-qw", f"net.ipv4.conf.{key}.arp_ignore=1")
        run(
            "ip",
            "link",
            "add",
            "ul",
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            f"c{index}",
            "netns",
            self.underlay_ns,
        )
        run("ip", "-n", self.underlay_ns, "link", "set", f"c{index}", "master", "ulbr")
        run("ip", "-n", self.underlay_ns, "link", "set", f"c{index}", "mtu", "1600", "up")
        chassis.nsx("sysctl", "-qw", "net.ipv6.conf.ul.disable_ipv6=1")
        chassis.nsx("ip", "link", "set", "ul", "mtu", "1600", "up")
        chassis.nsx("ethtool", "-K", "ul", "tx", "off", "rx", "off", check=False)
        chassis.start()
        # br-phy holds the underlay IP; OVS routes and encapsulates itself (tnl_push/pop)
        mac = f"02:00:0a:{self.net:02x}:00:{index:02x}"
        chassis.vsctl(
            "add-br",
            "br-phy",
            "--",
            "set",
            "bridge",
            "br-phy",
            "datapath_type=netdev",
            f"other_config:hwaddr={mac}",
            "fail_mode=standalone",
            "--",
            "add-port",
            "br-phy",
            "ul",
            "--",
            "set",
            "interface",
            "br-phy",
            "mtu_request=1600",
        )
        chassis.nsx("ip", "addr", "add", f"{chassis.ip}/16", "dev", "br-phy")
        chassis.nsx("ip", "link", "set", "br-phy", "up")
        subnet = f"10.{self.net}.0.0/16"
        try:
            wait_until(lambda: subnet in chassis.appctl("ovs/route/show"), 5, "ovs route")
        except AssertionError:
            chassis.appctl("ovs/route/add", subnet, "br-phy")
        return chassis

    def restart_vswitchd(self, chassis: Chassis) -> None:
        """Restart ovs-vswitchd: its flows are gone, and (userspace) br-phy's tap device too,
        with the underlay address on it, which is put back as an operator's network config
        would."""
        chassis.stop_vswitchd()
        chassis.start_vswitchd()
        wait_until(
            lambda: chassis.nsx("ip", "link", "show", "br-phy", check=False).returncode == 0,
            20,
            "br-phy back",
        )
        chassis.nsx("ip", "addr", "replace", f"{chassis.ip}/16", "dev", "br-phy")
        chassis.nsx("ip", "link", "set", "br-phy", "up")
        subnet = f"10.{self.net}.0.0/16"
        try:
            wait_until(lambda: subnet in chassis.appctl("ovs/route/show"), 5, "ovs route")
        except AssertionError:
            chassis.appctl("ovs/route/add", subnet, "br-phy")

    def set_chassis_ip(self, chassis: Chassis, ip: str) -> None:
        """Move a chassis' tunnel endpoint to another address (same underlay)."""
        chassis.nsx("ip", "addr", "del", f"{chassis.ip}/16", "dev", "br-phy")
        chassis.nsx("ip", "addr", "add", f"{ip}/16", "dev", "br-phy")
        chassis.ip = ip

    def add_vm(
        self, chassis: Chassis, name: str, *, port_id: str, mac: str, ip: str, prefix: int = 24
    ) -> Vm:
        ns = f"swo{self.suffix}-{name}"
        tap = f"tap{port_id[:11]}"  # what Nova names it: tap + the port id's first 11 chars
        run("ip", "netns", "add", ns)
        vm = Vm(name, ns, chassis, tap, mac, ip, port_id)
        self.vms.append(vm)
        vm.nsx("ip", "link", "set", "lo", "up")
        run(
            "ip",
            "-n",
            chassis.ns,
            "link",
            "add",
            tap,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        )
        vm.nsx("ip", "link", "set", "eth0", "address", mac)
        vm.nsx("ip", "link", "set", "eth0", "mtu", "1400", "up")
        vm.nsx("ip", "addr", "add", f"{ip}/{prefix}", "dev", "eth0")
        vm.nsx("ethtool", "-K", "eth0", "tx", "off", check=False)
        chassis.nsx("sysctl", "-qw", f"net.ipv6.conf.{tap}.disable_ipv6=1")
        chassis.nsx("ip", "link", "set", tap, "mtu", "1400", "up")
        chassis.nsx("ethtool", "-K", tap, "tx", "off", check=False)
        chassis.vsctl(
            "--may-exist",
            "add-port",
            "br-int",
            tap,
            "--",
            "set",
            "Interface",
            tap,
            f"external_ids:iface-id={port_id}",
            f"external_ids:attached-mac={mac}",
            "external_ids:iface-status=active",
            f"external_ids:vm-uuid={uuid.uuid4()}",
        )
        return vm

    def close(self) -> None:
        for chassis in self.chassis:
            with contextlib.suppress(Exception):
                chassis.stop()
        for vm in self.vms:
            run("ip", "netns", "del", vm.ns, check=False)
        for chassis in self.chassis:
            run("ip", "netns", "del", chassis.ns, check=False)
        run("ip", "netns", "del", self.underlay_ns, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
