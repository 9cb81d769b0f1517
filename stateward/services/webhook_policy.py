"""Where alarm webhooks may go: the destination policy that keeps an alarm from being aimed at the
cloud's own insides (server-side request forgery).

By default a webhook may reach public addresses only. Always refused: loopback, link-local (the
metadata service at 169.254.169.254), unspecified (``0.0.0.0`` connects to this host), multicast
and reserved ranges; refused unless ``[alarms] action_deny_private = false``: the private ranges
(RFC 1918, CGNAT 100.64.0.0/10, IPv6 ULA fc00::/7). The operator opens what the consumers need
with ``[alarms] action_open`` (CIDRs or host names), or replaces the whole policy with an
allow-list (``[alarms] action_allow``: only what it lists).

Every spelling is normalised before it is checked: a host is resolved the way the connection
resolves it (``getaddrinfo``: decimal ``2130706433``, octal ``0177.0.0.1``, hex ``0x7f.1``,
short ``127.1`` all become 127.0.0.1), and an IPv6 address that embeds an IPv4 one
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96`` and
``64:ff9b:1::/48``, 6to4 ``2002::/16``, Teredo) is checked as both. The notifier then connects
to the address it checked, never re-resolving the name (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from stateward.config import AlarmsConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


ALWAYS_DENIED: tuple[IPNetwork, ...] = _nets(
    "0.0.0.0/8",  # unspecified / "this network"
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local (cloud metadata services)
    "192.0.0.0/24",  # IETF protocol assignments
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the broadcast address
    "::/128",
    "::1/128",
    "fe80::/10",
    "fec0::/10",  # deprecated site-local
    "ff00::/8",
)
PRIVATE: tuple[IPNetwork, ...] = _nets(
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",  # carrier-grade NAT
    "198.18.0.0/15",  # benchmarking
    "fc00::/7",
)
NAT64: tuple[ipaddress.IPv6Network, ...] = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
RESOLVE_TTL = 10.0  # seconds a host name's checked addresses are reused


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in IPV4_COMPATIBLE and int(ip) > 1:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if any(ip in net for net in NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def numeric_address(host: str) -> IPAddress | None:
    """``host`` as an address when it is one in any spelling the resolver accepts, else None."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # inet_aton's forms: 127.1, 0x7f.1, 0177.0.0.1, 2130706433
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return ipaddress.ip_address(str(infos[0][4][0]).split("%", 1)[0]) if infos else None


@dataclass(frozen=True)
class Resolved:
    """A destination the policy accepted: the address to connect to (never re-resolved)."""

    host: str
    address: str


class DestinationPolicy:
    """Which hosts webhook actions may reach (see the module's docstring)."""

    def __init__(
        self,
        allow: Iterable[str] | None = None,
        *,
        open_: Iterable[str] = (),
        deny_private: bool = True,
    ) -> None:
        self.allow_list = allow is not None
        self.deny_private = deny_private
        self.networks, self.hosts = _parse(allow or ())
        self.open_networks, self.open_hosts = _parse(open_)
        self._cache: dict[tuple[str, int], tuple[float, Resolved | None]] = {}

    @classmethod
    def from_config(cls, config: AlarmsConfig) -> DestinationPolicy:
        return cls(
            config.action_allow, open_=config.action_open, deny_private=config.action_deny_private
        )

    # -- addresses ------------------------------------------------------------------------
    def address_allowed(self, address: str | IPAddress) -> bool:
        ip = address if not isinstance(address, str) else numeric_address(address)
        if ip is None:
            return False
        forms: list[IPAddress] = list(embedded_ipv4(ip))
        if (
            ip.is_unspecified
            or ip.is_multicast
            or any(f.is_unspecified or f.is_multicast for f in forms)
        ):
            return False  # never, whatever a list says: 0.0.0.0 reaches this host
        # an address standing for IPv4 ones is judged by what it stands for
        return all(self._permitted(f) for f in (forms or [ip]))

    def _permitted(self, ip: IPAddress) -> bool:
        if self.allow_list:
            return _in(ip, self.networks)
        if _in(ip, self.open_networks):
            return True
        return not (_in(ip, ALWAYS_DENIED) or (self.deny_private and _in(ip, PRIVATE)))

    def _host_listed(self, host: str) -> bool:
        return host in (self.hosts if self.allow_list else self.open_hosts)

    def literal_verdict(self, host: str) -> bool | None:
        """At alarm creation: True/False for addresses and listed names, None if unknown."""
        host = host.lower().rstrip(".")
        if self._host_listed(host):
            return True
        ip = numeric_address(host)
        if ip is not None:
            return self.address_allowed(ip)
        return False if self.allow_list and not self.networks else None

    # -- at send time ---------------------------------------------------------------------
    async def resolve(self, host: str, port: int) -> Resolved | None:
        """The address to connect to, or None when the destination is refused.

        A listed name is trusted as listed; otherwise every address the name resolves to must
        be allowed (one refused address refuses the name), and the first is used.
        """
        host = host.lower().rstrip(".")
        key = (host, port)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        result = await self._resolve(host, port)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = (now + RESOLVE_TTL, result)
        return result

    async def _resolve(self, host: str, port: int) -> Resolved | None:
        ip = numeric_address(host)
        if ip is not None:
            return Resolved(host, str(ip)) if self.address_allowed(ip) else None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            return None
        addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
        if not addresses:
            return None
        if not self._host_listed(host) and not all(self.address_allowed(a) for a in addresses):
            return None
        return Resolved(host, addresses[0])

    async def allowed(self, host: str, port: int) -> bool:
        return await self.resolve(host, port) is not None


def _in(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _parse(entries: Iterable[str]) -> tuple[list[IPNetwork], set[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in entries:
        if "/" in entry:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        ip = numeric_address(entry)
        if ip is not None:
            networks.append(ipaddress.ip_network(ip))
        else:
            hosts.add(entry.lower().rstrip("."))
    return networks, hosts
