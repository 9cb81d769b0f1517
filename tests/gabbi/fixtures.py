"""Gabbi fixtures: a live ``stateward serve`` on the port the tests were generated for."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gabbi.fixture import GabbiFixture

from tests.support.server import LiveServer, start_server

# Chosen at collection time (tests are generated against it), used when the fixture starts.
PORT: int = 0
_server: LiveServer | None = None
_tmp: tempfile.TemporaryDirectory[str] | None = None


class LiveServerFixture(GabbiFixture):
    """Starts the server, creates a member user in two projects, exports tokens for the YAML:
    ``$ENVIRON['ADMIN_TOKEN']``, ``$ENVIRON['MEMBER_TOKEN']``, ``$ENVIRON['OTHER_TOKEN']``."""

    def start_fixture(self) -> None:
        global _server, _tmp
        _tmp = tempfile.TemporaryDirectory(prefix="sw-gabbi-")
        _server = start_server(Path(_tmp.name), port=PORT, name="gabbi")
        for project, user in (("demo", "alice"), ("other", "mallory")):
            _server.stateward("project", "create", project)
            _server.stateward(
                "user",
                "create",
                user,
                "--password",
                "pw-test",
                "--project",
                project,
                "--role",
                "member",
            )
        os.environ["ADMIN_TOKEN"] = _server.token()
        os.environ["MEMBER_TOKEN"] = _server.token("alice", "pw-test", "demo")
        os.environ["OTHER_TOKEN"] = _server.token("mallory", "pw-test", "other")

    def stop_fixture(self) -> None:
        global _server, _tmp
        if _server is not None:
            _server.stop()
            _server = None
        if _tmp is not None:
            _tmp.cleanup()
            _tmp = None
