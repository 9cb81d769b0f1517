"""Port data-plane status (Doctor) and port status updates (the RFE): who may change them,
what is refused, and the notification each change emits."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_host_faults import make_network
from tests.support.inproc import stack


async def test_data_plane_status_rules_and_notifications(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.user("alice", "p2", "member")
        await s.user("integrator", "p3", "data_plane_integrator")
        await s.user("ctrl", "p3", "service")
        alice = await s.headers("alice", "p2")
        net = (
            await s.call(
                "POST",
                "/networking/v2.0/networks",
                headers=alice,
                expect=201,
                json={"network": {"name": "n"}},
            )
        ).json()["network"]["id"]
        await s.call(
            "POST",
            "/networking/v2.0/subnets",
            headers=alice,
            expect=201,
            json={"subnet": {"network_id": net, "cidr": "10.9.0.0/24"}},
        )
        # Refused on create (not settable at creation), for everyone, admin included.
        for who in (alice, await s.headers()):
            r = await s.call(
                "POST",
                "/networking/v2.0/ports",
                headers=who,
                json={"port": {"network_id": net, "data_plane_status": "DOWN"}},
            )
            assert r.status_code == 400, r.text
            assert (
                r.json()["NeutronError"]["message"]
                == "Attribute 'data_plane_status' not allowed in POST"
            )
        port = (
            await s.call(
                "POST",
                "/networking/v2.0/ports",
                headers=alice,
                expect=201,
                json={"port": {"network_id": net}},
            )
        ).json()["port"]
        assert port["data_plane_status"] is None
        url = f"/networking/v2.0/ports/{port['id']}"
        rec = await s.record("port.update.end")

        # The port's own project may read it but not change it.
        r = await s.call("PUT", url, headers=alice, json={"port": {"data_plane_status": "DOWN"}})
        assert r.status_code == 403, r.text
        r = await s.call("PUT", url, headers=alice, json={"port": {"status": "DOWN"}})
        assert r.status_code == 403, r.text
        # Admin and the data_plane_integrator role may (the integrator from another project).
        r = await s.call(
            "PUT",
            url,
            headers=await s.headers(),
            expect=200,
            json={"port": {"data_plane_status": "DOWN"}},
        )
        assert r.json()["port"]["data_plane_status"] == "DOWN"
        r = await s.call(
            "PUT",
            url,
            headers=await s.headers("integrator", "p3"),
            expect=200,
            json={"port": {"data_plane_status": "ACTIVE"}},
        )
        r = await s.call(
            "PUT",
            url,
            headers=await s.headers("integrator", "p3"),
            expect=200,
            json={"port": {"data_plane_status": None}},
        )
        shown = (await s.call("GET", url, headers=alice, expect=200)).json()["port"]
        assert shown["data_plane_status"] is None
        # The integrator may not touch anything else, nor status.
        r = await s.call(
            "PUT", url, headers=await s.headers("integrator", "p3"), json={"port": {"name": "x"}}
        )
        assert r.status_code == 403
        r = await s.call(
            "PUT",
            url,
            headers=await s.headers("integrator", "p3"),
            json={"port": {"status": "DOWN"}},
        )
        assert r.status_code == 403
        # Bad values are a 400 naming the field.
        r = await s.call(
            "PUT", url, headers=await s.headers(), json={"port": {"data_plane_status": "BROKEN"}}
        )
        assert r.status_code == 400 and "data_plane_status" in r.text

        # Port status (the RFE): admin and service may set ACTIVE/DOWN/BUILD/ERROR.
        for who, value in (
            (await s.headers("ctrl", "p3"), "ERROR"),
            (await s.headers(), "BUILD"),
            (await s.headers("ctrl", "p3"), "ACTIVE"),
        ):
            r = await s.call("PUT", url, headers=who, json={"port": {"status": value}}, expect=200)
            assert r.json()["port"]["status"] == value
        r = await s.call("PUT", url, headers=await s.headers(), json={"port": {"status": "UP"}})
        assert r.status_code == 400 and "status" in r.text
        # The service role from another project may only report status.
        r = await s.call(
            "PUT", url, headers=await s.headers("ctrl", "p3"), json={"port": {"name": "x"}}
        )
        assert r.status_code == 403

        await rec.wait_for(lambda ev: len(ev) >= 6)
        seen = [
            (
                e.traits["old_data_plane_status"],
                e.traits["data_plane_status"],
                e.traits["old_status"],
                e.traits["status"],
            )
            for e in rec.events
        ]
        assert seen == [
            (None, "DOWN", "DOWN", "DOWN"),
            ("DOWN", "ACTIVE", "DOWN", "DOWN"),
            ("ACTIVE", None, "DOWN", "DOWN"),
            (None, None, "DOWN", "ERROR"),
            (None, None, "ERROR", "BUILD"),
            (None, None, "BUILD", "ACTIVE"),
        ]
        assert all(
            e.traits["port_id"] == port["id"] and e.project_id == port["project_id"]
            for e in rec.events
        )


async def test_bulk_host_port_update_is_set_based_and_skips_ports_already_down(
    tmp_path: Path, sqlite_url: str
) -> None:
    from stateward.domain.events import utcnow
    from stateward.store.repositories.network import NetworkRepository

    async with stack(tmp_path, sqlite_url) as s:
        await s.add_chassis("h1")
        net = await make_network(s)
        h = await s.headers()
        ids = []
        for _ in range(3):
            r = await s.call(
                "POST",
                "/networking/v2.0/ports",
                headers=h,
                expect=201,
                json={"port": {"network_id": net, "binding:host_id": "h1"}},
            )
            ids.append(r.json()["port"]["id"])
        await s.call(
            "PUT",
            f"/networking/v2.0/ports/{ids[0]}",
            headers=h,
            expect=200,
            json={"port": {"data_plane_status": "DOWN"}},
        )
        revisions = {}
        for pid in ids:
            port = (await s.call("GET", f"/networking/v2.0/ports/{pid}", headers=h)).json()["port"]
            revisions[pid] = port["revision_number"]
        async with s.runtime.store.uow() as uow:
            changed = await NetworkRepository(uow).set_host_data_plane_status(
                "h1", "DOWN", utcnow()
            )
            await uow.commit()
        assert sorted(p.id for p, _ in changed) == sorted(ids[1:])
        assert {old for _, old in changed} == {None}
        for pid in ids:
            port = (await s.call("GET", f"/networking/v2.0/ports/{pid}", headers=h)).json()["port"]
            assert port["data_plane_status"] == "DOWN"
            assert port["revision_number"] == revisions[pid] + (0 if pid == ids[0] else 1)
