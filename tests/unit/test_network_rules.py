"""Pure addressing and segment rules."""

from __future__ import annotations

import random

import pytest

from stateward.domain import network as rules
from stateward.domain.errors import Conflict, InvalidInput


def test_default_pools_split_around_the_gateway() -> None:
    pools = rules.default_pools("10.0.0.0/24", "10.0.0.100")
    assert [(p.start, p.end) for p in pools] == [
        ("10.0.0.1", "10.0.0.99"),
        ("10.0.0.101", "10.0.0.254"),
    ]
    assert [(p.start, p.end) for p in rules.default_pools("10.0.0.0/24", None)] == [
        ("10.0.0.1", "10.0.0.254")
    ]
    v6 = rules.default_pools("2001:db8::/64", "2001:db8::1")
    assert (v6[0].start, v6[0].end) == ("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")


def test_free_addresses_skip_used_and_gateway() -> None:
    subnet = rules.Subnet(
        "s",
        "p",
        "n",
        "",
        4,
        "10.0.0.0/29",
        "10.0.0.1",
        rules.default_pools("10.0.0.0/29", "10.0.0.1"),
    )
    assert list(subnet.free_addresses({"10.0.0.2", "10.0.0.4"})) == [
        "10.0.0.3",
        "10.0.0.5",
        "10.0.0.6",
    ]


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        (
            [
                rules.AllocationPool("10.0.0.10", "10.0.0.20"),
                rules.AllocationPool("10.0.0.15", "10.0.0.30"),
            ],
            "overlapping",
        ),
        ([rules.AllocationPool("10.0.0.1", "10.0.0.5")], "conflicts"),
        ([rules.AllocationPool("10.0.1.1", "10.0.1.5")], "not in the subnet"),
        ([rules.AllocationPool("::1", "::5")], "not in the subnet"),
        ([rules.AllocationPool("10.0.0.9", "10.0.0.5")], "start is after end"),
    ],
)
def test_invalid_pools(pools: list[rules.AllocationPool], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        rules.validate_pools("10.0.0.0/24", "10.0.0.1", pools)


def test_cidr_is_normalised_or_refused() -> None:
    assert rules.normalise_cidr("10.0.0.0/24") == ("10.0.0.0/24", 4)
    assert rules.normalise_cidr("2001:db8::/64") == ("2001:db8::/64", 6)
    with pytest.raises(InvalidInput, match=r"10\.0\.0\.0/24"):
        rules.normalise_cidr("10.0.0.7/24")
    with pytest.raises(InvalidInput, match="not a valid IP subnet"):
        rules.normalise_cidr("banana")


def test_cidrs_of_different_versions_never_overlap() -> None:
    assert rules.cidrs_overlap("10.0.0.0/24", "10.0.0.128/25")
    assert not rules.cidrs_overlap("10.0.0.0/24", "10.0.1.0/24")
    assert not rules.cidrs_overlap("10.0.0.0/24", "::/0")


def test_segments_pick_the_lowest_free_id_in_range() -> None:
    ranges = rules.parse_ranges(["5:7", "10:11"], "vxlan")
    assert rules.pick_segment(ranges, {("", 5), ("", 6)}, None) == ("", 7)
    assert rules.pick_segment(ranges, {("", 5), ("", 6), ("", 7)}, None) == ("", 10)
    with pytest.raises(Conflict):
        rules.pick_segment(ranges, {("", i) for i in (5, 6, 7, 10, 11)}, None)
    vlan = rules.parse_ranges(["physnet1:100:101", "physnet2:200:200"], "vlan")
    assert rules.pick_segment(vlan, set(), "physnet2") == ("physnet2", 200)
    with pytest.raises(ValueError, match="out of bounds"):
        rules.parse_ranges(["physnet:1:5000"], "vlan")


def test_macs_keep_the_base_oui() -> None:
    mac = rules.generate_mac("fa:16:3e:00:00:00", random.Random(1))
    assert mac.startswith("fa:16:3e:") and len(mac.split(":")) == 6
    assert rules.validate_mac("FA-16-3E-01-02-03") == "fa:16:3e:01:02:03"
    with pytest.raises(InvalidInput, match="multicast"):
        rules.validate_mac("01:00:5e:00:00:01")
