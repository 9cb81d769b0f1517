"""The switch's configuration through OVSDB (ovsdbapp's native IDL, as Neutron's agents use it).

* ``ensure_bridge``: the integration bridge exists with ``fail_mode=secure`` (no flows, no
  traffic: nothing but the pipeline forwards), the configured ``datapath_type``, and OpenFlow
  1.4 among its protocols (atomic bundles). Nothing is changed that is already right.
* ``ensure_tunnel_ports``: one *virtual tunnel port* per configured type, ``<type>-vtp`` with
  ``options:{remote_ip=flow, key=flow, local_ip=<chassis ip>}`` and ``external_ids:
  stateward-vtp=<type>`` (Dragonflow's spec); ports marked so whose type is no longer configured
  are removed. Nothing without the mark is touched.
* The IDL keeps a replica of the tables it monitors; its change notifications (a monitor, never
  a poll) tell the agent when an ofport appears or changes, for the tunnel ports and for VM
  interfaces plugged by Nova/os-vif (``external_ids:iface-id`` = the Neutron port id).

ovsdbapp runs its IDL loop in a thread; calls that wait for the server run in a worker thread
here, and change notifications are handed to the asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():  # python-ovs probes for eventlet, which warns it is deprecated
    warnings.simplefilter("ignore")
    from ovsdbapp.backend.ovs_idl import connection, idlutils
    from ovsdbapp.schema.open_vswitch import impl_idl

from stateward.agent.ovs.pipeline import SwitchPorts

log = logging.getLogger(__name__)

MARK = "stateward-vtp"
# Only the columns the agent reads or writes: a monitor on these sends no statistics updates.
COLUMNS = {
    "Open_vSwitch": ["bridges", "cur_cfg", "next_cfg"],
    "Bridge": ["name", "ports", "datapath_type", "fail_mode", "protocols"],
    "Port": ["name", "interfaces"],
    "Interface": ["name", "type", "options", "external_ids", "ofport"],
}
PROTOCOLS = ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"]


def tunnel_port_name(tunnel_type: str) -> str:
    return f"{tunnel_type}-vtp"


class _NotifyingIdl(connection.OvsdbIdl):
    """The IDL, telling a callback (from its own thread) that a row it monitors changed."""

    on_change: Callable[[], None] | None = None

    def notify(self, event: str, row: Any, updates: Any = None) -> None:
        if self.on_change is not None and row._table.name in ("Interface", "Port", "Bridge"):
            self.on_change()


@dataclass
class TunnelPortReport:
    added: list[str]
    updated: list[str]
    removed: list[str]


class OvsdbSwitch:
    def __init__(
        self,
        target: str,
        bridge: str,
        *,
        datapath_type: str,
        timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.bridge = bridge
        self.datapath_type = datapath_type
        self.timeout = timeout
        self.changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: connection.Connection | None = None
        self.api: Any = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._connect)

    def _connect(self) -> None:
        helper = idlutils.get_schema_helper(self.target, "Open_vSwitch")
        for table, columns in COLUMNS.items():
            helper.register_columns(table, columns)
        idl = _NotifyingIdl(self.target, helper)
        idl.on_change = self._notified
        self._conn = connection.Connection(idl=idl, timeout=self.timeout)
        self.api = impl_idl.OvsdbIdl(self._conn)

    def _notified(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.changed.set)

    async def stop(self) -> None:
        if self._conn is not None:
            await asyncio.to_thread(self._conn.stop, self.timeout)
            self._conn = None

    async def _run(self, *commands: Any) -> list[Any]:
        def run() -> list[Any]:
            with self.api.transaction(check_error=True) as txn:
                for command in commands:
                    txn.add(command)
            return [c.result for c in commands]

        return await asyncio.to_thread(run)

    # bridge and tunnel ports ---------------------------------------------------------------
    async def ensure_bridge(self) -> None:
        row = self._row("Bridge", self.bridge)
        commands: list[Any] = []
        if row is None:
            commands.append(self.api.add_br(self.bridge, datapath_type=self.datapath_type))
            commands.append(
                self.api.db_set(
                    "Bridge", self.bridge, ("fail_mode", "secure"), ("protocols", PROTOCOLS)
                )
            )
            log.info("integration bridge created", extra={"bridge": self.bridge})
        else:
            if row.get("fail_mode") != "secure":
                commands.append(self.api.db_set("Bridge", self.bridge, ("fail_mode", "secure")))
            if "OpenFlow14" not in row.get("protocols", []):
                wanted = sorted({*row.get("protocols", []), *PROTOCOLS})
                commands.append(self.api.db_set("Bridge", self.bridge, ("protocols", wanted)))
            if row.get("datapath_type") != self.datapath_type:
                log.warning(
                    "integration bridge has another datapath_type; left as it is",
                    extra={
                        "bridge": self.bridge,
                        "has": row.get("datapath_type"),
                        "configured": self.datapath_type,
                    },
                )
        if commands:
            await self._run(*commands)

    async def ensure_tunnel_ports(self, types: list[str], local_ip: str) -> TunnelPortReport:
        """One virtual tunnel port per type in ``types``; marked ones of other types removed."""
        report = TunnelPortReport([], [], [])
        commands: list[Any] = []
        for name, iface in self._marked_interfaces().items():
            if iface["external_ids"].get(MARK) not in types:
                commands.append(self.api.del_port(name, bridge=self.bridge, if_exists=True))
                report.removed.append(name)
        for kind in types:
            name = tunnel_port_name(kind)
            options = {"remote_ip": "flow", "key": "flow", "local_ip": local_ip}
            current = self._row("Interface", name)
            if current is None:
                commands.append(
                    self.api.add_port(
                        self.bridge,
                        name,
                        type=kind,
                        options=options,
                        external_ids={MARK: kind},
                    )
                )
                report.added.append(name)
            elif (
                current.get("type") != kind
                or current.get("options") != options
                or current.get("external_ids", {}).get(MARK) != kind
            ):
                commands += [
                    self.api.db_clear("Interface", name, "options"),
                    self.api.db_set(
                        "Interface",
                        name,
                        ("type", kind),
                        ("options", options),
                        ("external_ids", {MARK: kind}),
                    ),
                ]
                report.updated.append(name)
        if commands:
            await self._run(*commands)
        return report

    # the replica ---------------------------------------------------------------------------
    def _rows(self, table: str) -> list[Any]:
        assert self._conn is not None
        with self._conn.lock:
            return list(self.api.tables[table].rows.values())

    def _row(self, table: str, name: str) -> dict[str, Any] | None:
        for row in self._rows(table):
            if row.name == name:
                return _as_dict(row)
        return None

    def _bridge_interfaces(self) -> list[Any]:
        assert self._conn is not None
        with self._conn.lock:
            for bridge in self.api.tables["Bridge"].rows.values():
                if bridge.name == self.bridge:
                    return [i for port in bridge.ports for i in port.interfaces]
        return []

    def _marked_interfaces(self) -> dict[str, dict[str, Any]]:
        assert self._conn is not None
        with self._conn.lock:
            return {
                i.name: _as_dict(i)
                for i in self._bridge_interfaces()
                if MARK in dict(i.external_ids)
            }

    def ports(self) -> SwitchPorts:
        """ofports of the tunnel ports (by type) and of VM interfaces (by iface-id) now."""
        found = SwitchPorts()
        assert self._conn is not None
        with self._conn.lock:
            for iface in self._bridge_interfaces():
                ofport = _ofport(iface)
                if ofport is None:
                    continue
                external = dict(iface.external_ids)
                if MARK in external:
                    found.tunnels[external[MARK]] = ofport
                elif external.get("iface-id"):
                    found.interfaces[external["iface-id"]] = ofport
        return found


def _ofport(row: Any) -> int | None:
    value = row.ofport
    if isinstance(value, list):
        value = value[0] if value else None
    return int(value) if value is not None and int(value) > 0 else None


def _as_dict(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in (
        "name",
        "type",
        "options",
        "external_ids",
        "fail_mode",
        "protocols",
        "datapath_type",
    ):
        if hasattr(row, column):
            value = getattr(row, column)
            if column in ("options", "external_ids"):
                value = dict(value)
            elif column == "fail_mode":
                value = value[0] if value else None
            elif column == "protocols":
                value = list(value)
            out[column] = value
    return out
