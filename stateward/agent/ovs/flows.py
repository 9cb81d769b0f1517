"""OpenFlow flows as plain values: what the pipeline wants and what the switch has, comparable.

A flow is identified on the switch by (table, priority, match); its cookie and actions are
what may differ. Flows here are hashable tuples with a canonical match (sorted fields) and a
small action vocabulary, so desired and installed flow sets are compared with ``==`` and the
difference is a list of adds and strict deletes. The text form follows ``ovs-ofctl``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

MatchValue = int | str | tuple[Any, Any]  # plain, or (value, mask)
Match = tuple[tuple[str, MatchValue], ...]
# ("set_field", field, value) | ("output", port) | ("resubmit", table)
Action = tuple[Any, ...]

COOKIE_MARK = 0x5357  # "SW": the high 16 bits of every cookie Stateward's pipeline installs


class Owner(IntEnum):
    """What a flow belongs to (bits 40-47 of its cookie); the low 40 bits say which one."""

    PIPELINE = 1  # the tables' defaults
    PORT = 2  # a port, by its tunnel key
    NETWORK = 3  # a network, by its local key


def cookie(owner: Owner, ident: int = 0) -> int:
    return (COOKIE_MARK << 48) | (int(owner) << 40) | (ident & 0xFF_FFFF_FFFF)


def cookie_owner(value: int) -> tuple[Owner, int] | None:
    """(owner, id) of a cookie of ours, None for anyone else's."""
    if value >> 48 != COOKIE_MARK:
        return None
    try:
        return Owner((value >> 40) & 0xFF), value & 0xFF_FFFF_FFFF
    except ValueError:
        return None


def match(**fields: MatchValue) -> Match:
    return tuple(sorted(fields.items()))


FlowKey = tuple[int, int, Match]


@dataclass(frozen=True, slots=True)
class Flow:
    table: int
    priority: int
    match: Match
    actions: tuple[Action, ...]
    cookie: int
    # (table, priority, match): how the switch tells flows apart; computed once
    key: FlowKey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.table, self.priority, self.match))

    def text(self) -> str:
        """The flow as ``ovs-ofctl dump-flows --no-stats`` shows it (near enough to diff)."""
        fields = ",".join(f"{_FIELD_TEXT.get(k, k)}={_value_text(k, v)}" for k, v in self.match)
        head = f"cookie={self.cookie:#x}, table={self.table}, priority={self.priority}"
        return f"{head}{',' + fields if fields else ''} actions={actions_text(self.actions)}"


_FIELD_TEXT = {"eth_dst": "dl_dst", "tunnel_id": "tun_id", "tun_ipv4_dst": "tun_dst"}


def _value_text(name: str, value: MatchValue) -> str:
    if isinstance(value, tuple):
        return f"{_value_text(name, value[0])}/{_value_text(name, value[1])}"
    if isinstance(value, int) and name != "in_port":
        return f"{value:#x}"
    return str(value)


def actions_text(actions: Iterable[Action]) -> str:
    out = []
    for action in actions:
        if action[0] == "set_field":
            name = _FIELD_TEXT.get(action[1], action[1])
            out.append(f"set_field:{_value_text(action[1], action[2])}->{name}")
        elif action[0] == "output":
            out.append(f"output:{action[1]}")
        elif action[0] == "resubmit":
            out.append(f"resubmit(,{action[1]})")
        else:
            out.append(repr(action))
    return ",".join(out) or "drop"


@dataclass
class FlowDiff:
    """What turns the installed flows into the desired ones."""

    add: list[Flow]  # new, or replacing a flow with the same key (OFPFC_ADD replaces)
    delete: list[Flow]  # installed flows no longer wanted (deleted strictly by key)

    def __bool__(self) -> bool:
        return bool(self.add or self.delete)

    @property
    def size(self) -> int:
        return len(self.add) + len(self.delete)


def diff(desired: Iterable[Flow], installed: Iterable[Flow]) -> FlowDiff:
    want = {f.key: f for f in desired}
    have = {f.key: f for f in installed}
    return FlowDiff(
        add=[f for k, f in want.items() if have.get(k) != f],
        delete=[f for k, f in have.items() if k not in want],
    )
