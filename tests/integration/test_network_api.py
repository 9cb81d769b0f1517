"""Neutron v2.0 behaviour: isolation, policy, validation, allocation, notifications.

Runs on SQLite and on PostgreSQL (``db_url``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.api import ApiHarness, api_harness, eventually

NET = "/networking/v2.0/networks"
SUBNETS = "/networking/v2.0/subnets"
PORTS = "/networking/v2.0/ports"


@pytest.fixture
async def h(tmp_path: Path, db_url: str) -> Any:
    async with api_harness(tmp_path, db_url) as harness:
        yield harness


async def make_net(h: ApiHarness, token: str, cidr: str = "10.0.0.0/24") -> tuple[str, str]:
    net = await h.call("POST", NET, token, json={"network": {"name": "n"}})
    assert net.status_code == 201, net.text
    net_id = net.json()["network"]["id"]
    sub = await h.call(
        "POST",
        SUBNETS,
        token,
        json={"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4, "name": "s"}},
    )
    assert sub.status_code == 201, sub.text
    return net_id, sub.json()["subnet"]["id"]


async def counts(h: ApiHarness, token: str) -> tuple[int, int, int]:
    found = [
        len((await h.call("GET", path, token)).json()[key])
        for path, key in ((NET, "networks"), (SUBNETS, "subnets"), (PORTS, "ports"))
    ]
    return found[0], found[1], found[2]


async def test_no_token_and_bad_token_are_401(h: ApiHarness) -> None:
    missing = await h.call("GET", NET)
    assert missing.status_code == 401
    assert missing.json()["NeutronError"]["message"]
    assert (await h.call("GET", NET, "not-a-token")).status_code == 401


async def test_projects_are_isolated(h: ApiHarness) -> None:
    alice = await h.principal("alice", "pa", "member")
    bob = await h.principal("bob", "pb", "member")
    net_id, subnet_id = await make_net(h, alice)
    port = await h.call("POST", PORTS, alice, json={"port": {"network_id": net_id}})
    port_id = port.json()["port"]["id"]

    for path in (f"{NET}/{net_id}", f"{SUBNETS}/{subnet_id}", f"{PORTS}/{port_id}"):
        r = await h.call("GET", path, bob)
        assert r.status_code == 404, path
        assert r.json()["NeutronError"]["type"].endswith("NotFound")
        assert (await h.call("DELETE", path, bob)).status_code == 404
    assert await counts(h, bob) == (0, 0, 0)
    steal = await h.call("POST", PORTS, bob, json={"port": {"network_id": net_id}})
    assert steal.status_code == 404
    rename = await h.call("PUT", f"{NET}/{net_id}", bob, json={"network": {"name": "x"}})
    assert rename.status_code == 404
    assert await counts(h, alice) == (1, 1, 1)

    admin = await h.token("admin", "admin")
    assert len((await h.call("GET", PORTS, admin)).json()["ports"]) == 1


async def test_reader_cannot_create_or_change(h: ApiHarness) -> None:
    member = await h.principal("alice", "pa", "member")
    reader = await h.principal("rita", "pa", "reader")
    net_id, _ = await make_net(h, member)
    r = await h.call("POST", NET, reader, json={"network": {"name": "x"}})
    assert r.status_code == 403
    assert "create_network" in r.json()["NeutronError"]["message"]
    assert (
        await h.call("PUT", f"{NET}/{net_id}", reader, json={"network": {"name": "y"}})
    ).status_code == 403
    assert (await h.call("DELETE", f"{NET}/{net_id}", reader)).status_code == 403
    assert (await h.call("GET", f"{NET}/{net_id}", reader)).status_code == 200
    assert await counts(h, member) == (1, 1, 0)


async def test_provider_attributes_are_admin_only(h: ApiHarness) -> None:
    member = await h.principal("alice", "pa", "member")
    admin = await h.token("admin", "admin")
    body = {
        "network": {
            "provider:network_type": "vlan",
            "provider:physical_network": "physnet1",
            "provider:segmentation_id": 123,
        }
    }
    assert (await h.call("POST", NET, member, json=body)).status_code == 403
    created = await h.call("POST", NET, admin, json=body)
    assert created.status_code == 201
    net = created.json()["network"]
    assert (net["provider:network_type"], net["provider:segmentation_id"]) == ("vlan", 123)
    assert net["mtu"] == 1500
    again = await h.call("POST", NET, admin, json=body)
    assert again.status_code == 409
    assert "123" in again.json()["NeutronError"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{oops", "not valid JSON"),
        (b'{"network": {"name": "x", "colour": "blue"}}', "Unrecognized attribute(s) 'colour'"),
        (b'{"network": {"admin_state_up": "maybe"}}', "cannot be converted to boolean"),
        (b'{"network": {"status": "DOWN"}}', "Attribute 'status' not allowed in POST"),
        (b'{"network": "x"}', "must be an object"),
        (b'{"net": {}}', "Resource body required"),
        (b"[1, 2]", "Resource body required"),
        (b'{"network": {"provider:network_type": "token-ring"}}', "is not in"),
        (b'{"network": {"mtu": 20}}', "out of range"),
    ],
)
async def test_malformed_network_bodies_are_400_and_write_nothing(
    h: ApiHarness, body: bytes, fragment: str
) -> None:
    admin = await h.token("admin", "admin")
    r = await h.call("POST", NET, admin, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert fragment in r.json()["NeutronError"]["message"]
    assert await counts(h, admin) == (0, 0, 0)


@pytest.mark.parametrize(
    ("subnet", "fragment"),
    [
        ({"cidr": "10.0.0.0/33"}, "not a valid IP subnet"),
        ({"cidr": "10.0.0.5/24"}, "10.0.0.0/24"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "2001:db8::1"}, "not an IPv4 address"),
        (
            {"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.1.1", "end": "10.0.1.9"}]},
            "not in the subnet",
        ),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [{"start": "2001:db8::1", "end": "2001:db8::9"}],
            },
            "not in the subnet",
        ),
        (
            {"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]},
            "start is after end",
        ),
        ({"cidr": "10.0.0.0/24", "ip_version": 6}, "does not match"),
        ({}, "Required attribute 'cidr'"),
    ],
)
async def test_bad_subnets_are_400(h: ApiHarness, subnet: dict[str, Any], fragment: str) -> None:
    admin = await h.token("admin", "admin")
    net_id = (await h.call("POST", NET, admin, json={"network": {}})).json()["network"]["id"]
    r = await h.call("POST", SUBNETS, admin, json={"subnet": {"network_id": net_id, **subnet}})
    assert r.status_code == 400, r.text
    assert fragment in r.json()["NeutronError"]["message"]
    assert (await counts(h, admin))[1] == 0


async def test_overlapping_subnet_refused(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    net_id, _ = await make_net(h, admin, "10.0.0.0/24")
    r = await h.call(
        "POST", SUBNETS, admin, json={"subnet": {"network_id": net_id, "cidr": "10.0.0.128/25"}}
    )
    assert r.status_code == 400
    assert "overlaps" in r.json()["NeutronError"]["message"]


async def test_addresses_are_allocated_and_conflicts_are_409(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    net_id, subnet_id = await make_net(h, admin, "10.1.0.0/29")
    ips = []
    for _ in range(5):
        r = await h.call("POST", PORTS, admin, json={"port": {"network_id": net_id}})
        assert r.status_code == 201
        ips.append(r.json()["port"]["fixed_ips"][0]["ip_address"])
    assert ips == [f"10.1.0.{i}" for i in range(2, 7)]
    full = await h.call("POST", PORTS, admin, json={"port": {"network_id": net_id}})
    assert full.status_code == 409
    assert full.json()["NeutronError"]["type"] == "IpAddressGenerationFailure"
    taken = await h.call(
        "POST",
        PORTS,
        admin,
        json={
            "port": {
                "network_id": net_id,
                "fixed_ips": [{"subnet_id": subnet_id, "ip_address": "10.1.0.3"}],
            }
        },
    )
    assert taken.status_code == 409
    assert taken.json()["NeutronError"]["type"] == "IpAddressInUse"
    assert len((await h.call("GET", PORTS, admin)).json()["ports"]) == 5
    in_use = await h.call("DELETE", f"{NET}/{net_id}", admin)
    assert in_use.status_code == 409
    assert in_use.json()["NeutronError"]["type"] == "NetworkInUse"


async def test_update_accepts_read_only_fields_echoed_back_unchanged(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    net_id, _ = await make_net(h, admin)
    port = (await h.call("POST", PORTS, admin, json={"port": {"network_id": net_id}})).json()
    body = dict(port["port"])
    body["name"] = "renamed"
    r = await h.call("PUT", f"{PORTS}/{body['id']}", admin, json={"port": body})
    assert r.status_code == 200, r.text
    assert r.json()["port"]["name"] == "renamed"
    assert r.json()["port"]["revision_number"] == port["port"]["revision_number"] + 1

    body["mac_address"] = "fa:16:3e:00:00:01"
    r = await h.call("PUT", f"{PORTS}/{body['id']}", admin, json={"port": body})
    assert r.status_code == 400
    assert "mac_address" in r.json()["NeutronError"]["message"]
    shown = (await h.call("GET", f"{PORTS}/{body['id']}", admin)).json()["port"]
    assert shown["mac_address"] == port["port"]["mac_address"]
    assert shown["name"] == "renamed"


async def test_fields_filters_and_pagination(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    net_id, _ = await make_net(h, admin)
    ids = sorted(
        [
            (
                await h.call(
                    "POST", PORTS, admin, json={"port": {"network_id": net_id, "name": f"p{i}"}}
                )
            ).json()["port"]["id"]
            for i in range(5)
        ]
    )
    r = await h.call("GET", f"{PORTS}?fields=id&fields=name&network_id={net_id}", admin)
    assert all(set(p) == {"id", "name"} for p in r.json()["ports"])
    page1 = (await h.call("GET", f"{PORTS}?limit=2", admin)).json()
    assert [p["id"] for p in page1["ports"]] == ids[:2]
    next_href = page1["ports_links"][0]["href"]
    assert f"marker={ids[1]}" in next_href
    page2 = (await h.call("GET", f"{PORTS}?limit=2&marker={ids[1]}", admin)).json()
    assert [p["id"] for p in page2["ports"]] == ids[2:4]
    assert (await h.call("GET", f"{PORTS}?name=p3", admin)).json()["ports"][0]["name"] == "p3"
    bad = await h.call("GET", f"{PORTS}?colour=blue", admin)
    assert bad.status_code == 400
    assert "colour is an invalid filter" in bad.json()["NeutronError"]["message"]


async def test_every_change_is_notified(h: ApiHarness) -> None:
    alice = await h.principal("alice", "pa", "member")
    net_id, _ = await make_net(h, alice)
    port = (await h.call("POST", PORTS, alice, json={"port": {"network_id": net_id}})).json()
    port_id = port["port"]["id"]
    await h.call("PUT", f"{PORTS}/{port_id}", alice, json={"port": {"name": "x"}})
    await h.call("DELETE", f"{PORTS}/{port_id}", alice)
    wanted = [
        "network.create.end",
        "subnet.create.end",
        "port.create.end",
        "port.update.end",
        "port.delete.end",
    ]
    await eventually(lambda: [e.event_type for e in h.events] == wanted)
    created = h.events[2]
    assert created.project_id == created.traits["tenant_id"]
    assert created.traits["port_id"] == port_id
    assert created.payload["port"]["id"] == port_id
    assert len({e.message_id for e in h.events}) == len(wanted)


async def test_body_size_limit_is_413(tmp_path: Path) -> None:
    async with api_harness(tmp_path, **{"server.max_body_bytes": 2048}) as h:
        admin = await h.token("admin", "admin")
        r = await h.call("POST", NET, admin, json={"network": {"name": "x" * 5000}})
        assert r.status_code == 413
        assert "NeutronError" in r.json()
