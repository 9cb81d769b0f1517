"""Configuration: precedence, validation naming the bad key, masking of secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from stateward.config import ConfigError, load_settings, masked


def test_defaults_are_the_embedded_deployment(tmp_path: Path) -> None:
    s = load_settings(state_dir=tmp_path)
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'stateward.db'}"
    assert s.bus.url == "memory://"
    assert s.server.port == 9696
    assert (s.liveness.report_interval, s.liveness.chassis_down_time) == (30, 75)


def test_toml_env_and_flags_in_order_of_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "stateward.toml"
    config.write_text(
        '[server]\nport = 7000\nhost = "0.0.0.0"\n[liveness]\nreport_interval = 1\n'
        "chassis_down_time = 3\n"
    )
    s = load_settings(config)
    assert (s.server.port, s.server.host, s.liveness.report_interval) == (7000, "0.0.0.0", 1)
    monkeypatch.setenv("STATEWARD_SERVER__PORT", "7001")
    assert load_settings(config).server.port == 7001
    assert load_settings(config, **{"server.port": 7002}).server.port == 7002
    assert load_settings(config, **{"server.port": None}).server.port == 7001


def test_postgres_url_is_given_the_async_driver() -> None:
    s = load_settings(**{"database.url": "postgresql://u:secret@db/sw"})
    assert s.database_url == "postgresql+asyncpg://u:secret@db/sw"
    assert not s.is_embedded_database


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"server.port": 70000}, "server.port"),
        (
            {"liveness.report_interval": 30, "liveness.chassis_down_time": 60},
            "must be more than twice report_interval",
        ),
        ({"bus.dedup_window": -1}, "bus.dedup_window"),
        ({"lease.ttl": 1, "lease.renew_interval": 2}, "renew_interval must be shorter"),
        ({"server.colour": "blue"}, "server.colour"),
    ],
)
def test_invalid_settings_name_the_key(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(**overrides)
    assert named in str(exc.value)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[databse]\nurl = 'x'\n")
    with pytest.raises(ConfigError, match="databse"):
        load_settings(config)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_show_masks_secrets() -> None:
    s = load_settings(
        **{"identity.admin_password": "hunter2", "database.url": "postgresql://user:secret@db/sw"}
    )
    data = masked(s)
    assert data["identity"]["admin_password"] == "**********"
    assert data["database"]["url"] == "postgresql://user:****@db/sw"
    flat = str(data)
    assert "hunter2" not in flat and ":secret@" not in flat
