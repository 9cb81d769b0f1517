"""An orchestrator's view through openstacksdk: register a server on a host (2.74), read its
state, force the host down, reset the server, delete it."""

from __future__ import annotations

from pathlib import Path

import openstack

from tests.support.hosts import add_chassis
from tests.support.server import ADMIN_PASSWORD, running_server


def test_openstacksdk_registers_servers_and_marks_hosts_down(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "3600"}) as s:
        add_chassis(s, "h1")
        conn = openstack.connect(
            auth_url=f"{s.url}/identity",
            username="admin",
            password=ADMIN_PASSWORD,
            project_name="admin",
            user_domain_name="Default",
            project_domain_name="Default",
            region_name="RegionOne",
        )
        try:
            server = conn.compute.create_server(
                name="vm",
                flavor_id="2",  # m1.small
                host="h1",
                networks="none",
                metadata={"ha-policy": "evacuate"},
            )
            got = conn.compute.get_server(server.id)
            assert (got.status, got.vm_state, got.power_state) == ("ACTIVE", "active", 1)
            assert (got.compute_host, got.host_status) == ("h1", "UP")
            assert got.metadata == {"ha-policy": "evacuate"}
            [service] = list(conn.compute.services(host="h1", binary="nova-compute"))
            assert (service.state, service.is_forced_down) == ("up", False)
            conn.compute.update_service_forced_down(
                service, host="h1", binary="nova-compute", forced=True
            )
            got = conn.compute.get_server(server.id)
            assert (got.status, got.vm_state, got.host_status) == ("ERROR", "error", "DOWN")
            conn.compute.reset_server_state(server, "active")
            assert conn.compute.get_server(server.id).status == "ACTIVE"
            conn.compute.delete_server(server)
            assert list(conn.compute.servers()) == []
        finally:
            conn.close()
