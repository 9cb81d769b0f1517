"""OpenFlow to the integration bridge: os-ken as the message codec, asyncio as the transport.

Why this and not ``ovs-ofctl --bundle`` or os-ken's controller framework:

* the agent connects to the bridge's **management socket** (``<rundir>/<bridge>.mgmt``, what
  ``ovs-ofctl`` uses) instead of being the bridge's controller: no ``set-controller`` ever, so
  the flow table is never flushed by a controller appearing or going away (adding or removing a
  bridge's first controller wipes its flows), and an agent restart touches nothing until it
  has read the installed flows back;
* os-ken (what Neutron's native OVS agent and Dragonflow use) encodes and decodes the messages
  (the pipeline's own vocabulary goes through ``codec``, which writes os-ken's exact bytes
  and reads flow stats some 20 times faster):
  installed flows come back as structured matches and actions (no parsing of ``dump-flows``
  text), each error is tied to the message that caused it, and no process is spawned per
  change; os-ken's own hub, threads and eventlet are not involved (only its parsers);
* changes go in one **atomic, ordered OpenFlow 1.4 bundle**: the switch applies all of them or
  none, at once, so traffic never sees a half-programmed table (a running ping loses nothing
  even when the whole table is replaced).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterable
from typing import Any

from os_ken.ofproto import ofproto_parser
from os_ken.ofproto import ofproto_v1_4 as ofp
from os_ken.ofproto import ofproto_v1_4_parser as parser

from stateward.agent.ovs import codec
from stateward.agent.ovs.flows import Action, Flow, FlowDiff, Match

log = logging.getLogger(__name__)


class _Datapath:
    """The two attributes os-ken's message classes need from a datapath."""

    ofproto = ofp
    ofproto_parser = parser


DP = _Datapath()
BUNDLE_FLAGS = ofp.OFPBF_ATOMIC | ofp.OFPBF_ORDERED


class OpenFlowError(Exception):
    """The switch refused a message (OFPT_ERROR), or the connection failed."""


def to_match(fields: Match) -> Any:
    return parser.OFPMatch(**dict(fields))


def to_actions(actions: Iterable[Action]) -> list[Any]:
    out: list[Any] = []
    for action in actions:
        if action[0] == "set_field":
            out.append(parser.OFPActionSetField(**{action[1]: action[2]}))
        elif action[0] == "output":
            out.append(parser.OFPActionOutput(action[1]))
        elif action[0] == "resubmit":
            out.append(parser.NXActionResubmitTable(table_id=action[1]))
        else:
            raise ValueError(f"unknown action {action!r}")
    return out


def flow_mod(flow: Flow, command: int) -> Any:
    if command == ofp.OFPFC_DELETE_STRICT:
        return parser.OFPFlowMod(
            DP,
            table_id=flow.table,
            priority=flow.priority,
            command=command,
            match=to_match(flow.match),
            out_port=ofp.OFPP_ANY,
            out_group=ofp.OFPG_ANY,
        )
    instructions = []
    if flow.actions:
        instructions = [
            parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, to_actions(flow.actions))
        ]
    return parser.OFPFlowMod(
        DP,
        cookie=flow.cookie,
        table_id=flow.table,
        priority=flow.priority,
        command=command,
        match=to_match(flow.match),
        instructions=instructions,
    )


def _bundle_add(xid: int, bundle: int, flow: Flow, command: int) -> bytes:
    """One flow-mod in a bundle: the fast encoder, os-ken for anything outside its vocabulary."""
    try:
        return codec.bundle_add(xid, bundle, BUNDLE_FLAGS, flow, command)
    except codec.Unsupported:
        msg = parser.OFPBundleAddMsg(DP, bundle, BUNDLE_FLAGS, flow_mod(flow, command), [])
        msg.set_xid(xid)
        msg.serialize()
        return bytes(msg.buf)


def from_stats(stats: Any) -> Flow:
    """An installed flow (OFPFlowStats) as a Flow, normalised like the ones the pipeline builds."""
    fields = tuple(sorted((k, _plain(v)) for k, v in stats.match.items()))
    actions: list[Action] = []
    for instruction in stats.instructions:
        for action in getattr(instruction, "actions", []):
            if isinstance(action, parser.OFPActionSetField):
                actions.append(("set_field", action.key, _plain(action.value)))
            elif isinstance(action, parser.OFPActionOutput):
                actions.append(("output", action.port))
            elif isinstance(action, parser.NXActionResubmitTable):
                actions.append(("resubmit", action.table_id))
            else:
                actions.append(("other", type(action).__name__))
        if isinstance(instruction, parser.OFPInstructionGotoTable):
            actions.append(("goto", instruction.table_id))
    return Flow(stats.table_id, stats.priority, fields, tuple(actions), stats.cookie)


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class OpenFlowConnection:
    """One connection to a bridge's management socket: requests matched to replies by xid."""

    def __init__(self, path: str, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._xids = itertools.count(1)
        self._bundles = itertools.count(1)
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
        self._collected: dict[int, list[Any]] = {}
        self._errors: dict[int, asyncio.Future[list[Any]]] = {}
        # flow-stats requests whose replies are kept raw for the fast decoder
        self._raw: dict[int, tuple[asyncio.Future[list[bytes]], list[bytes]]] = {}
        self._lock = asyncio.Lock()
        self.lost = asyncio.Event()  # set when the switch closed the connection

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def connect(self) -> None:
        self.lost.clear()
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.path), self.timeout
        )
        self._send(parser.OFPHello(DP))
        hello = await asyncio.wait_for(self._read(), self.timeout)
        if hello.msg_type != ofp.OFPT_HELLO:
            raise OpenFlowError(f"expected HELLO, got {hello}")
        self._task = asyncio.create_task(self._run(), name=f"openflow:{self.path}")
        await self.request(parser.OFPEchoRequest(DP, data=b""))  # the switch speaks OF1.4

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None
        self._fail_all(OpenFlowError("connection closed"))

    def _next_xid(self) -> int:
        return next(self._xids) & 0xFFFFFFFF

    def _send(self, msg: Any) -> int:
        assert self._writer is not None
        xid = self._next_xid()
        msg.set_xid(xid)
        msg.serialize()
        self._writer.write(msg.buf)
        return xid

    async def _read_raw(self) -> tuple[int, int, bytes]:
        """(message type, xid, the whole message)."""
        assert self._reader is not None
        header = await self._reader.readexactly(ofp.OFP_HEADER_SIZE)
        version, msg_type, length, xid = ofproto_parser.header(header)
        body = await self._reader.readexactly(length - ofp.OFP_HEADER_SIZE)
        if version != ofp.OFP_VERSION and msg_type != ofp.OFPT_HELLO:
            raise OpenFlowError(f"switch answered OpenFlow version {version:#x}, not 1.4")
        return msg_type, xid, header + body

    @staticmethod
    def _parse(raw: bytes) -> Any:
        version, msg_type, length, xid = ofproto_parser.header(raw)
        return ofproto_parser.msg(DP, version, msg_type, length, xid, raw)

    async def _read(self) -> Any:
        return self._parse((await self._read_raw())[2])

    async def _run(self) -> None:
        try:
            while True:
                msg_type, xid, raw = await self._read_raw()
                waiting = self._raw.get(xid)
                if waiting is not None and msg_type == ofp.OFPT_MULTIPART_REPLY:
                    future, parts = waiting
                    parts.append(raw)
                    if not codec.multipart_more(raw):
                        self._raw.pop(xid, None)
                        if not future.done():
                            future.set_result(parts)
                    continue
                msg = self._parse(raw)
                if waiting is not None and isinstance(msg, parser.OFPErrorMsg):
                    self._raw.pop(xid, None)
                    if not waiting[0].done():
                        waiting[0].set_exception(OpenFlowError(f"switch refused: {msg}"))
                    continue
                self._dispatch(msg)
        except (asyncio.IncompleteReadError, ConnectionError, OpenFlowError) as exc:
            log.warning("OpenFlow connection lost", extra={"path": self.path, "error": repr(exc)})
            self._fail_all(OpenFlowError(f"connection to {self.path} lost: {exc!r}"))
            self.lost.set()

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, parser.OFPEchoRequest):
            reply = parser.OFPEchoReply(DP, data=msg.data)
            reply.set_xid(msg.xid)
            reply.serialize()
            assert self._writer is not None
            self._writer.write(reply.buf)
            return
        if isinstance(msg, parser.OFPErrorMsg):
            future = self._pending.pop(msg.xid, None) or self._errors.pop(msg.xid, None)
            if future is not None and not future.done():
                future.set_exception(OpenFlowError(f"switch refused a message: {msg}"))
            else:
                log.warning("unsolicited OpenFlow error", extra={"error": str(msg)})
            return
        future = self._pending.get(msg.xid)
        if future is None:
            return  # port status and other asynchronous messages: the OVSDB monitor covers them
        parts = self._collected.setdefault(msg.xid, [])
        parts.append(msg)
        if getattr(msg, "flags", 0) & ofp.OFPMPF_REPLY_MORE and isinstance(
            msg, parser.OFPMultipartReply
        ):
            return
        self._pending.pop(msg.xid, None)
        self._collected.pop(msg.xid, None)
        if not future.done():
            future.set_result(parts)

    def _fail_all(self, exc: Exception) -> None:
        raw = [future for future, _ in self._raw.values()]
        for future in [*self._pending.values(), *self._errors.values(), *raw]:
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
        self._errors.clear()
        self._raw.clear()
        self._collected.clear()

    async def request(self, msg: Any, timeout: float | None = None) -> list[Any]:
        """Send and wait for the reply (all parts of a multipart reply)."""
        if not self.connected:
            raise OpenFlowError("not connected")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        xid = self._send(msg)
        self._pending[xid] = future
        try:
            assert self._writer is not None
            await self._writer.drain()
            return await asyncio.wait_for(future, timeout or self.timeout)
        finally:
            self._pending.pop(xid, None)
            self._collected.pop(xid, None)

    async def dump_flows(self) -> list[Flow]:
        """Every installed flow. The reply's entries are decoded by ``codec`` (a few µs each);
        an entry outside the pipeline's vocabulary by os-ken."""
        if not self.connected:
            raise OpenFlowError("not connected")
        future: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        request = parser.OFPFlowStatsRequest(
            DP, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0, parser.OFPMatch()
        )
        xid = self._next_xid()
        self._raw[xid] = (future, [])
        request.set_xid(xid)
        request.serialize()
        assert self._writer is not None
        self._writer.write(request.buf)
        try:
            parts = await asyncio.wait_for(future, max(self.timeout, 30.0))
        finally:
            self._raw.pop(xid, None)
        flows: list[Flow] = []
        for raw in parts:
            entries, _ = codec.multipart_flows(raw)
            for entry in entries:
                if isinstance(entry, Flow):
                    flows.append(entry)
                else:
                    flows.append(from_stats(parser.OFPFlowStats.parser(raw, entry)))
        return flows

    async def apply(self, changes: FlowDiff) -> None:
        """Apply ``changes`` in one atomic bundle (deletes first, then adds)."""
        if not changes:
            return
        async with self._lock:
            if not self.connected:
                raise OpenFlowError("not connected")
            bundle = next(self._bundles) & 0xFFFFFFFF
            loop = asyncio.get_running_loop()
            opened = await self.request(
                parser.OFPBundleCtrlMsg(DP, bundle, ofp.OFPBCT_OPEN_REQUEST, BUNDLE_FLAGS, [])
            )
            if opened[0].type != ofp.OFPBCT_OPEN_REPLY:
                raise OpenFlowError(f"bundle not opened: {opened[0]}")
            errors: asyncio.Future[list[Any]] = loop.create_future()
            payload = bytearray()
            added = []
            work = [(ofp.OFPFC_DELETE_STRICT, f) for f in changes.delete]
            work += [(ofp.OFPFC_ADD, f) for f in changes.add]
            for command, flow in work:
                xid = self._next_xid()
                payload += _bundle_add(xid, bundle, flow, command)
                self._errors[xid] = errors
                added.append(xid)
            assert self._writer is not None
            self._writer.write(payload)  # one write for the whole bundle
            try:
                # A message the switch refuses is left out of the bundle, not fatal to it: the
                # barrier makes every refusal arrive before we decide, and a refusal discards
                # the whole bundle, so the table never holds part of a change.
                await self.request(parser.OFPBarrierRequest(DP), timeout=max(self.timeout, 30.0))
                if errors.done():
                    await self.request(
                        parser.OFPBundleCtrlMsg(
                            DP, bundle, ofp.OFPBCT_DISCARD_REQUEST, BUNDLE_FLAGS, []
                        )
                    )
                    errors.result()  # raises the switch's refusal
                reply = await self.request(
                    parser.OFPBundleCtrlMsg(
                        DP, bundle, ofp.OFPBCT_COMMIT_REQUEST, BUNDLE_FLAGS, []
                    ),
                    timeout=max(self.timeout, 30.0),
                )
                if reply[0].type != ofp.OFPBCT_COMMIT_REPLY:
                    raise OpenFlowError(f"bundle not committed: {reply[0]}")
            finally:
                for xid in added:
                    self._errors.pop(xid, None)
                if not errors.done():
                    errors.cancel()
