"""Gabbi YAML tests (tests/gabbi/gabbits/*.yaml) against a live server, run by pytest."""

from __future__ import annotations

from pathlib import Path

import pytest
from gabbi import driver
from gabbi.driver import test_pytest  # noqa: F401  (the test function gabbi parametrizes)

from tests.conftest import free_port
from tests.gabbi import fixtures

GABBITS = Path(__file__).parent / "gabbits"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    fixtures.PORT = fixtures.PORT or free_port()
    driver.py_test_generator(
        str(GABBITS),
        host="127.0.0.1",
        port=fixtures.PORT,
        fixture_module=fixtures,
        metafunc=metafunc,
        test_loader_name=__name__,
    )
