"""The ``stateward`` command's help reads like the openstack CLI's: every command's help shows
``--name <name>`` rather than type tags, no reST markup, and literal brackets survive."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from stateward import __version__
from stateward.cli.main import build


def walk(command: Any, path: list[str]) -> list[list[str]]:
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths.extend(walk(sub, [*path, name]))
    return paths


ROOT = build()
PATHS = walk(ROOT, [])


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "stateward")
def test_help_has_no_type_tags_or_markup(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    build().main(args=[*path, "--help"], prog_name="stateward", standalone_mode=False)
    text = capsys.readouterr().out
    assert "Usage: stateward" in text
    assert "``" not in text
    for tag in ("<str>", "<int>", "<float>", "<bool>", "<path>", "list[", "TEXT", "INTEGER"):
        assert tag not in text, f"{' '.join(path)} --help shows {tag}:\n{text}"


def test_literal_brackets_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    build().main(args=["agent", "--help"], prog_name="stateward", standalone_mode=False)
    assert "[agent] services" in capsys.readouterr().out


def test_version_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stateward", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"stateward {__version__}"
