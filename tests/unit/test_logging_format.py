"""Logs are human-readable on an interactive terminal and JSON lines everywhere else."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stateward.config import load_settings
from stateward.observability import resolve_format


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "file", "expected"),
    [(True, None, "console"), (False, None, "json"), (True, Path("x.log"), "json")],
)
def test_auto_follows_the_terminal(
    monkeypatch: pytest.MonkeyPatch, tty: bool, file: Path | None, expected: str
) -> None:
    monkeypatch.setattr("sys.stderr", Stream(tty))
    assert resolve_format("auto", file) == expected


def test_an_explicit_format_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", Stream(True))
    assert resolve_format("json") == "json"
    monkeypatch.setattr("sys.stderr", Stream(False))
    assert resolve_format("console") == "console"


def test_auto_is_the_default_and_the_setting_is_checked() -> None:
    assert load_settings().logging.format == "auto"
    from stateward.config import ConfigError

    with pytest.raises(ConfigError, match=r"logging\.format"):
        load_settings(**{"logging.format": "xml"})
