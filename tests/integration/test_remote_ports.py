"""Ports in another cloud (Dragonflow's ``binding:profile {"port_key": "remote_port",
"host_ip": ...}``): validated at the edge and against this cloud's chassis, each refusal a 400
naming the field, nothing half-applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.api import ApiHarness, api_harness

NET = "/networking/v2.0/networks"
PORTS = "/networking/v2.0/ports"


@pytest.fixture
async def h(tmp_path: Path, sqlite_url: str) -> Any:
    async with api_harness(tmp_path, sqlite_url, **{"logging.level": "WARNING"}) as harness:
        yield harness


async def network(h: ApiHarness, token: str, kind: str, **extra: Any) -> str:
    body = {"network": {"name": kind, "provider:network_type": kind, **extra}}
    r = await h.call("POST", NET, token, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["network"]["id"])


def remote(ip: Any, **extra: Any) -> dict[str, Any]:
    return {"binding:profile": {"port_key": "remote_port", "host_ip": ip, **extra}}


async def test_remote_port_validation(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    r = await h.call(
        "PUT",
        "/v1/chassis/ch-1",
        admin,
        json={"chassis": {"ip": "10.250.0.1", "tunnel_types": ["vxlan", "geneve"]}},
    )
    assert r.status_code == 201, r.text
    vxlan = await network(h, admin, "vxlan")
    gre = await network(h, admin, "gre")
    vlan = await network(h, admin, "vlan", **{"provider:physical_network": "physnet1"})

    async def refused(net_id: str, attrs: dict[str, Any], field: str) -> None:
        r = await h.call("POST", PORTS, admin, json={"port": {"network_id": net_id, **attrs}})
        assert r.status_code == 400, r.text
        assert field in r.json()["NeutronError"]["message"], r.text

    await refused(vxlan, remote("not-an-ip"), "binding:profile.host_ip")
    await refused(vxlan, remote(17), "binding:profile.host_ip")
    await refused(vxlan, remote("224.0.0.5"), "binding:profile.host_ip")
    await refused(vxlan, remote("10.99.0.1", tunnel_type="stt"), "binding:profile.tunnel_type")
    await refused(vxlan, remote("10.99.0.1", tunnel_type="geneve"), "binding:profile.tunnel_type")
    await refused(gre, remote("10.99.0.1"), "binding:profile.tunnel_type")  # no chassis has gre
    await refused(vlan, remote("10.99.0.1"), "binding:profile.port_key")
    await refused(vxlan, {**remote("10.99.0.1"), "binding:host_id": "ch-1"}, "binding:host_id")
    await refused(vxlan, {"binding:profile": {"host_ip": "10.99.0.1"}}, "binding:profile.port_key")
    assert (await h.call("GET", PORTS, admin)).json()["ports"] == []

    r = await h.call(
        "POST", PORTS, admin, json={"port": {"network_id": vxlan, **remote("10.99.0.1")}}
    )
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert port["binding:profile"] == {"port_key": "remote_port", "host_ip": "10.99.0.1"}

    # an update to a bad profile is refused whole: the port keeps its profile and its name
    bad = await h.call(
        "PUT",
        f"{PORTS}/{port['id']}",
        admin,
        json={"port": {"name": "renamed", "binding:host_id": "ch-1"}},
    )
    assert bad.status_code == 400 and "binding:host_id" in bad.text
    again = (await h.call("GET", f"{PORTS}/{port['id']}", admin)).json()["port"]
    assert again["name"] == "" and again["binding:profile"]["host_ip"] == "10.99.0.1"

    # a member may not set a binding profile at all (Neutron's policy)
    member = await h.principal("alice", "pa", "member")
    r = await h.call("POST", NET, member, json={"network": {"name": "m"}})
    mine = r.json()["network"]["id"]
    r = await h.call(
        "POST", PORTS, member, json={"port": {"network_id": mine, **remote("10.99.0.2")}}
    )
    assert r.status_code == 403
