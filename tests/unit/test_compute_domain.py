"""Pure rules of host faults: which servers a host-down moves, and how; service state; events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stateward.domain import compute as c
from stateward.domain.compute import ServerState, ServiceOverride

ALL = [ServerState(s, None, c.RUNNING) for s in c.VM_STATES]


@pytest.mark.parametrize("vm_state", sorted(c.UNTOUCHED_ON_HOST_DOWN))
@pytest.mark.parametrize("mode", ["error", "stopped", "unchanged"])
def test_deleted_soft_deleted_resized_and_error_servers_are_left_alone(
    vm_state: str, mode: c.FaultMode
) -> None:
    assert c.fault_transition(ServerState(vm_state, "migrating", c.RUNNING), mode) is None


def test_the_seed_names_exactly_these_untouched_states() -> None:
    assert {"deleted", "soft-delete", "resized", "error"} == c.UNTOUCHED_ON_HOST_DOWN


@pytest.mark.parametrize(
    "vm_state", ["active", "building", "paused", "suspended", "stopped", "rescued", "shelved"]
)
def test_error_mode_sets_error_clears_task_keeps_power(vm_state: str) -> None:
    new = c.fault_transition(ServerState(vm_state, "rebooting", c.PAUSED_POWER), "error")
    assert new == ServerState("error", None, c.PAUSED_POWER)


def test_stopped_mode_is_the_seeds_stopped_and_shutdown() -> None:
    new = c.fault_transition(ServerState("active", "rebooting", c.RUNNING), "stopped")
    assert new == ServerState("stopped", None, 4)
    # A server already stopped and shut down does not change (no notification).
    assert c.fault_transition(ServerState("stopped", None, 4), "stopped") is None
    # Stopped but with a task in flight: the task is cleared.
    assert c.fault_transition(ServerState("stopped", "powering-on", 4), "stopped") == ServerState(
        "stopped", None, 4
    )


def test_unchanged_mode_is_upstream_nova() -> None:
    assert all(c.fault_transition(s, "unchanged") is None for s in ALL)
    assert c.touched_vm_states("unchanged") == ()


def test_touched_states_are_the_complement_of_untouched() -> None:
    touched = set(c.touched_vm_states("error"))
    assert touched | c.UNTOUCHED_ON_HOST_DOWN == set(c.VM_STATES)
    assert not touched & c.UNTOUCHED_ON_HOST_DOWN


def test_reset_state_accepts_active_and_error_only() -> None:
    assert c.reset_state(ServerState("error", "x", 1), "active") == ServerState("active", None, 1)
    with pytest.raises(ValueError):
        c.reset_state(ServerState("error", None, 1), "stopped")


@pytest.mark.parametrize(
    ("vm", "task", "status"),
    [
        ("active", None, "ACTIVE"),
        ("error", None, "ERROR"),
        ("stopped", None, "SHUTOFF"),
        ("active", "rebooting", "REBOOT"),
        ("building", None, "BUILD"),
        ("resized", None, "VERIFY_RESIZE"),
        ("soft-delete", None, "SOFT_DELETED"),
    ],
)
def test_api_status(vm: str, task: str | None, status: str) -> None:
    assert c.api_status(vm, task) == status


T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("alive", "override", "state", "host_status"),
    [
        (True, None, "up", "UP"),
        (False, None, "down", "UNKNOWN"),
        (True, ServiceOverride("h", forced_down=True), "down", "DOWN"),
        (False, ServiceOverride("h", forced_down=True), "down", "DOWN"),
        (True, ServiceOverride("h", disabled=True), "up", "MAINTENANCE"),
        (False, ServiceOverride("h", disabled=True), "down", "UNKNOWN"),
    ],
)
def test_service_state_and_host_status(
    alive: bool, override: ServiceOverride | None, state: str, host_status: str
) -> None:
    view = c.compute_service("h", alive, override, T)
    assert view.state == state
    assert view.host_status == host_status


def test_service_ids_are_stable_per_host() -> None:
    assert c.service_uuid("h1") == c.service_uuid("h1") != c.service_uuid("h2")
    assert c.service_int_id("h1") == c.service_int_id("h1") > 0


def _event(**details: object) -> dict[str, object]:
    base: dict[str, object] = {"hostname": "h1", "status": "down", "monitor": "m"}
    base.update(details)
    return {"time": "2026-01-01T00:00:00", "type": "compute.host.down", "details": base}


def test_parse_doctor_event_list() -> None:
    [f] = c.parse_raw_failures([{**_event(monitor_event_id="e1"), "id": "e1"}])
    assert (f.hostname, f.is_down, f.monitor, f.monitor_event_id) == ("h1", True, "m", "e1")
    assert f.dedup_key == "h1|compute.host.down|m|e1"
    up = c.parse_raw_failures([{"type": "compute.host.up", "details": {"hostname": "h1"}}])
    assert not up[0].is_down and up[0].dedup_key is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ("x", "body"),
        ([{"type": "compute.host.gone", "details": {"hostname": "h"}}], "[0].type"),
        ([{"type": "compute.host.down"}], "[0].details"),
        ([{"type": "compute.host.down", "details": {}}], "[0].details.hostname"),
        (
            [_event(), {"type": "compute.host.down", "details": {"hostname": 3}}],
            "[1].details.hostname",
        ),
        ([_event(status="sideways")], "[0].details.status"),
        ([_event(status="up")], "[0].details.status"),
        ([_event(monitor_event_id=["a"])], "[0].details.monitor_event_id"),
        ([{**_event(), "severity": "high"}], "[0].severity"),
        ([{**_event(), "time": 5}], "[0].time"),
    ],
)
def test_invalid_events_name_the_field(payload: object, field: str) -> None:
    with pytest.raises(ValueError) as err:
        c.parse_raw_failures(payload)
    assert str(err.value).startswith(field + ":") or str(err.value).startswith(field + " ")


def test_compute_and_inspector_options_are_validated() -> None:
    from stateward.config import ConfigError, load_settings

    settings = load_settings(None, **{"compute.host_down_server_state": "stopped"})
    assert settings.compute.host_down_server_state == "stopped"
    assert settings.inspector.port_data_plane_down is True
    with pytest.raises(ConfigError, match=r"compute\.host_down_server_state"):
        load_settings(None, **{"compute.host_down_server_state": "paused"})
    with pytest.raises(ConfigError, match=r"inspector\.duplicate_windw"):
        load_settings(None, **{"inspector.duplicate_windw": 5})
    with pytest.raises(ConfigError, match=r"inspector\.duplicate_window"):
        load_settings(None, **{"inspector.duplicate_window": 0})
