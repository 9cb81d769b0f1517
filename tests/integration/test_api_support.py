"""The implemented-API table (docs/api-support.yaml) is true: every route belongs to a row, every
implemented row answers, every other row answers 501 in its service's error shape with a sentence
the real CLI prints, and README.md and the user guide show exactly this table."""

from __future__ import annotations

from pathlib import Path

import pytest

from stateward.api.not_implemented import registered_routes
from tests.support.api import api_harness
from tests.support.api_table import TARGETS, load, owner, rendered
from tests.support.server import OpenStackCLI, running_server

ROWS = load()
SENTENCE = "does not implement"


async def test_every_route_belongs_to_an_implemented_row(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        app = h.client._transport.app  # type: ignore[attr-defined]
        problems = []
        for template, methods in registered_routes(app):
            row = owner(ROWS, template)
            if row is None:
                problems.append(f"{sorted(methods)} {template}: add a row to docs/api-support.yaml")
            elif not row.implemented:
                problems.append(
                    f"{template} is served now: set implemented: true for {row.resource!r}"
                )
        assert not problems, "\n".join(problems)


def _message(body: dict[str, object]) -> str:
    for value in body.values():
        if isinstance(value, dict) and "message" in value:
            return str(value["message"])
        if isinstance(value, dict) and "faultstring" in value:
            return str(value["faultstring"])
    return str(body.get("message", body))


async def test_each_row_answers_as_the_table_says(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        admin = await h.token("admin", "admin")
        for row in ROWS:
            if row.probe is None:
                continue
            r = await h.call("GET", row.probe, admin)
            if row.implemented:
                assert r.status_code < 400, f"{row.api} {row.resource}: {r.status_code} {r.text}"
                continue
            assert r.status_code == 501, f"{row.api} {row.resource}: {r.status_code} {r.text}"
            message = _message(r.json())
            assert SENTENCE in message and row.probe in message, message
        # the shapes: Neutron's NeutronError, Nova's fault, Aodh's error_message, Keystone's error
        neutron = (await h.call("GET", "/networking/v2.0/routers", admin)).json()
        assert neutron["NeutronError"]["type"] == "ResourceNotImplemented"
        assert "'routers' resource" in neutron["NeutronError"]["message"]
        assert "error_message" in (await h.call("GET", "/v2/metrics", admin)).json()
        assert "error" in (await h.call("GET", "/identity/v3/groups", admin)).json()
        glance = (await h.call("GET", "/image/v2/tasks", admin)).json()
        assert glance["code"] == "501 Not Implemented" and SENTENCE in glance["message"]


async def test_a_served_path_with_another_method_is_405(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        admin = await h.token("admin", "admin")
        r = await h.call("POST", "/networking/v2.0/agents", admin, json={})
        assert r.status_code == 405
        assert r.headers["Allow"] == "GET"
        assert "NeutronError" in r.json()


@pytest.mark.parametrize("target", sorted(TARGETS), ids=lambda p: p.name)
def test_the_docs_show_the_current_table(target: Path) -> None:
    text = target.read_text()
    assert "<!-- api-table:" in text
    assert rendered(text, ROWS) == text, f"{target.name} is stale: run scripts/api-table"


@pytest.mark.cli
def test_the_openstack_cli_says_what_is_not_implemented(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        cli = OpenStackCLI(server, tmp_path)
        for row in ROWS:
            if row.cli is None:
                continue
            result = cli.run(*row.cli.split(), check=False)
            if row.implemented:
                assert result.returncode == 0, f"openstack {row.cli}: {result.stderr}"
            else:
                assert result.returncode != 0, f"openstack {row.cli} exited 0"
                assert SENTENCE in result.stderr, f"openstack {row.cli}: {result.stderr}"
