"""The webhook destination policy: what an alarm action may reach, whatever its spelling."""

from __future__ import annotations

import pytest

from stateward.services.webhook_policy import DestinationPolicy, embedded_ipv4, numeric_address

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",  # inet_aton's short form
    "2130706433",  # decimal
    "0x7f000001",  # hex
    "0x7f.1",
    "0177.0.0.1",  # octal
    "017700000001",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:7f00:1",
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64
    "64:ff9b:1::7f00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4
]
METADATA_SPELLINGS = [
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "169.254.43518",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "fe80::1",
    "fe80::1%eth0",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + METADATA_SPELLINGS)
def test_every_spelling_of_loopback_and_link_local_is_refused_by_default(host: str) -> None:
    assert DestinationPolicy().literal_verdict(host) is False


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "0", "0x0", "::", "[::]", "::ffff:0.0.0.0", "224.0.0.1"]
)
def test_unspecified_and_multicast_are_refused_even_when_listed(host: str) -> None:
    everything = ["0.0.0.0/0", "::/0"]
    assert DestinationPolicy().literal_verdict(host) is False
    assert DestinationPolicy(open_=everything).literal_verdict(host) is False
    assert DestinationPolicy(everything).literal_verdict(host) is False


@pytest.mark.parametrize(
    "host", ["10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "fd00::1", "::ffff:10.0.0.1"]
)
def test_private_ranges_are_refused_unless_the_operator_allows_them(host: str) -> None:
    assert DestinationPolicy().literal_verdict(host) is False
    assert DestinationPolicy(deny_private=False).literal_verdict(host) is True


def test_public_addresses_pass_and_names_are_decided_at_send_time() -> None:
    policy = DestinationPolicy()
    assert policy.literal_verdict("203.0.113.7") is True
    assert policy.literal_verdict("2001:db8::1") is True
    assert policy.literal_verdict("hooks.example.com") is None


def test_opened_ranges_and_names_are_reachable_in_every_spelling() -> None:
    policy = DestinationPolicy(open_=["127.0.0.0/8", "10.20.0.0/16", "consumer.internal"])
    for host in ("127.0.0.1", "2130706433", "::ffff:127.0.0.1", "10.20.3.4", "consumer.internal"):
        assert policy.literal_verdict(host) is True, host
    assert policy.literal_verdict("10.21.0.1") is False  # private, not opened
    assert policy.literal_verdict("::1") is False  # IPv6 loopback was not opened
    assert policy.literal_verdict("169.254.169.254") is False


def test_an_allow_list_replaces_the_default_policy() -> None:
    listed = DestinationPolicy(["10.1.0.0/16", "hooks.example.com"])
    assert listed.literal_verdict("10.1.2.3") is True
    assert listed.literal_verdict("::ffff:10.1.2.3") is True
    assert listed.literal_verdict("10.2.0.1") is False
    assert listed.literal_verdict("203.0.113.7") is False  # public, but not listed
    assert listed.literal_verdict("hooks.example.com") is True
    assert listed.literal_verdict("other.example.com") is None


async def test_at_send_time_names_resolve_and_the_checked_address_is_used() -> None:
    policy = DestinationPolicy()
    assert await policy.resolve("localhost", 80) is None  # resolves to loopback: refused
    assert await policy.resolve("name.that.does.not.resolve.invalid", 80) is None
    assert await policy.resolve("2130706433", 80) is None
    opened = DestinationPolicy(open_=["127.0.0.0/8", "::1/128"])
    resolved = await opened.resolve("localhost", 8080)
    assert resolved is not None and resolved.address in ("127.0.0.1", "::1")
    assert (await opened.resolve("0x7f.1", 80)) == type(resolved)("0x7f.1", "127.0.0.1")


def test_normalisation_helpers() -> None:
    assert str(numeric_address("0177.1")) == "127.0.0.1"
    assert numeric_address("example.com") is None
    mapped = numeric_address("64:ff9b::a9fe:a9fe")
    assert mapped is not None and [str(a) for a in embedded_ipv4(mapped)] == ["169.254.169.254"]
