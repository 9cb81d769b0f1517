"""Gabbi YAML tests (tests/gabbi/gabbits/*.yaml) against a live server, run by pytest.

Each YAML file becomes one pytest test that runs its gabbi suite with unittest and reports every
failing request. (gabbi's own pytest plugin is not used: its collection hook breaks on any other
test whose id contains a colon.)
"""

from __future__ import annotations

import io
import unittest
from pathlib import Path

import pytest
from gabbi import driver

from tests.conftest import free_port
from tests.gabbi import fixtures

GABBITS = Path(__file__).parent / "gabbits"


@pytest.mark.parametrize("yaml_file", sorted(p.name for p in GABBITS.glob("*.yaml")))
def test_gabbits(yaml_file: str, tmp_path: Path) -> None:
    suite_dir = tmp_path / "gabbits"
    suite_dir.mkdir()
    (suite_dir / yaml_file).write_text((GABBITS / yaml_file).read_text())
    fixtures.PORT = free_port()
    suite = driver.build_tests(
        str(suite_dir),
        unittest.TestLoader(),
        host="127.0.0.1",
        port=fixtures.PORT,
        fixture_module=fixtures,
        test_loader_name="gabbi",
    )
    output = io.StringIO()
    result = unittest.TextTestRunner(stream=output, verbosity=2).run(suite)
    assert result.testsRun >= 10, output.getvalue()
    assert result.wasSuccessful(), output.getvalue()
