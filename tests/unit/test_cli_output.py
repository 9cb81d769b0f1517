"""Table output never cuts a value when it goes into a pipe or a file (host names, ids)."""

from __future__ import annotations

import pytest

from stateward.cli.output import Format, emit_list, emit_one

LONG = "compute-0042.rack-17.row-b.datacenter-frankfurt-1.example.org"


def test_long_values_are_printed_whole_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": LONG, "state": "up", "id": "4f0e6b5c2d9a4e8f9b1a7c3d5e2f8a6b" * 2}]
    emit_list(rows, Format.table)
    out = capsys.readouterr().out
    assert any(LONG in line and rows[0]["id"] in line for line in out.splitlines())
    emit_one(rows[0], Format.table)
    assert LONG in capsys.readouterr().out
