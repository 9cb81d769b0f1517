"""Liveness rules with a fake clock: is_active, the config guard, deadlines, restart grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stateward.config import ConfigError, LivenessConfig, load_settings
from stateward.domain.chassis import Chassis, DeadlineTable, check_intervals
from stateward.domain.errors import InvalidInput

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_is_active_until_chassis_down_time_passes() -> None:
    c = Chassis("c1", "10.0.0.1", heartbeat_at=T0)
    assert c.is_active(at(0), 75)
    assert c.is_active(at(75), 75)  # exactly on the deadline: still up
    assert not c.is_active(at(75.001), 75)
    assert c.status(at(10), 75) == "active"
    assert c.status(at(100), 75) == "down"
    assert c.last_seen_age(at(12.5)) == 12.5


def test_a_chassis_that_never_reported_is_not_active() -> None:
    c = Chassis("c1", "10.0.0.1")
    assert not c.is_active(at(0), 75)
    assert c.last_seen_age(at(0)) is None


def test_only_ip_or_tunnel_types_are_a_reported_change() -> None:
    c = Chassis("c1", "10.0.0.1", tunnel_types=["vxlan"], heartbeat_at=T0)
    assert not c.reported_change("10.0.0.1", ["vxlan"])
    assert c.reported_change("10.0.0.2", ["vxlan"])
    assert c.reported_change("10.0.0.1", ["vxlan", "geneve"])


def test_defaults_are_the_seeds_numbers() -> None:
    cfg = LivenessConfig()
    assert (cfg.report_interval, cfg.chassis_down_time) == (30.0, 75.0)
    assert cfg.grace == 75.0


@pytest.mark.parametrize("interval,down", [(30, 60), (30, 59), (1, 2), (0.25, 0.5)])
def test_config_guard_refuses_down_time_not_more_than_twice_interval(
    interval: float, down: float
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(**{"liveness.report_interval": interval, "liveness.chassis_down_time": down})
    assert "more than twice" in str(err.value)
    assert "liveness" in str(err.value)


def test_config_guard_accepts_more_than_twice() -> None:
    settings = load_settings(**{"liveness.report_interval": 0.2, "liveness.chassis_down_time": 0.5})
    assert settings.liveness.chassis_down_time == 0.5


def test_registration_interval_guard() -> None:
    check_intervals(30, 75)
    check_intervals(37.4, 75)
    with pytest.raises(InvalidInput, match="too long"):
        check_intervals(37.5, 75)
    with pytest.raises(InvalidInput):
        check_intervals(0, 75)


def test_deadlines_fire_once_in_order_and_beats_push_them() -> None:
    table = DeadlineTable(chassis_down_time=10)
    table.beat("a", at(0))
    table.beat("b", at(1))
    table.beat("c", at(2))
    assert table.next_deadline() == at(10)
    assert table.expired(at(9.999)) == []
    table.beat("a", at(5))  # a's deadline moves to 15
    assert table.next_deadline() == at(11)
    assert table.expired(at(12)) == [("b", at(11)), ("c", at(12))]
    assert table.expired(at(12)) == []  # each silence is reported once
    assert table.is_down("b") and not table.is_down("a")
    assert table.next_deadline() == at(15)
    assert table.expired(at(20)) == [("a", at(15))]
    assert table.next_deadline() is None


def test_a_down_chassis_that_reports_again_comes_back_up() -> None:
    table = DeadlineTable(chassis_down_time=10)
    assert table.beat("a", at(0)) is False
    assert table.expired(at(10)) == [("a", at(10))]
    assert table.beat("a", at(30)) is True  # up again: the watcher emits chassis.up
    assert table.beat("a", at(31)) is False
    assert table.deadline("a") == at(41)


def test_out_of_order_reports_never_move_the_deadline_back() -> None:
    table = DeadlineTable(chassis_down_time=10)
    table.beat("a", at(5))
    table.beat("a", at(3))
    assert table.deadline("a") == at(15)


def test_restart_grace_never_declares_the_fleet_down() -> None:
    """After a restart, stale chassis get now + grace; fresh ones keep their own deadline."""
    now = at(1000)
    table = DeadlineTable(chassis_down_time=10)
    table.load("stale", at(0), down=False, now=now, grace=10)
    table.load("fresh", at(998), down=False, now=now, grace=5)
    table.load("never", None, down=False, now=now, grace=10)
    table.load("was-down", at(0), down=True, now=now, grace=10)
    assert table.expired(now) == []
    assert table.deadline("stale") == at(1010)
    assert table.deadline("fresh") == at(1008)
    assert table.deadline("was-down") is None and table.is_down("was-down")
    table.beat("stale", at(1005))  # came back within the grace: never declared down
    assert table.expired(at(1010)) == [("fresh", at(1008)), ("never", at(1010))]
    assert table.beat("was-down", at(1011)) is True
