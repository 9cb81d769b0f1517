"""OPNFV Doctor's own ``User.create`` and ``User.delete`` (doctor_tests/user.py, unchanged) against
a live server: projects, users, roles CRUD and the role-assignment check, through the real
python-keystoneclient, as Doctor's setup does before anything else.

Doctor's ``os_clients`` module imports every OpenStack client Doctor ever used (congress,
vitrage, heat...); ``User`` needs only the keystone one, so the test gives the unchanged
``user.py`` an ``os_clients`` holding the real keystoneclient factory and no nova client
(``create`` and ``delete`` never call nova; the quota helpers, which do, are the compute
issue's and run in its full Doctor test).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, require
from tests.support.server import ADMIN_PASSWORD, running_server

# shared/ lies beside the clone (CI) or beside the worktrees' parent (a developer's machine).
CANDIDATES = [
    base / "shared" / "peers" / "opnfv-doctor" for base in (REPO.parent, REPO.parent.parent)
]


def load_doctor_user(doctor: Path) -> types.ModuleType:
    from keystoneclient import client as ks_client

    package = types.ModuleType("doctor_tests")
    package.__path__ = [str(doctor / "doctor_tests")]
    os_clients = types.ModuleType("doctor_tests.os_clients")
    os_clients.keystone_client = lambda version, session: ks_client.Client(  # type: ignore[attr-defined]
        version=version, session=session
    )
    os_clients.nova_client = lambda version, session: None  # type: ignore[attr-defined]
    sys.modules.update({"doctor_tests": package, "doctor_tests.os_clients": os_clients})
    for name in ("identity_auth", "user"):
        spec = importlib.util.spec_from_file_location(
            f"doctor_tests.{name}", doctor / "doctor_tests" / f"{name}.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["doctor_tests.user"]


@pytest.fixture
def doctor_user() -> Iterator[types.ModuleType]:
    found = next((p for p in CANDIDATES if (p / "doctor_tests" / "user.py").is_file()), None)
    require(found is not None, "OPNFV Doctor's code (shared/peers/opnfv-doctor)")
    assert found is not None
    saved = {k: v for k, v in sys.modules.items() if k.startswith("doctor_tests")}
    yield load_doctor_user(found)
    for key in [k for k in sys.modules if k.startswith("doctor_tests")]:
        del sys.modules[key]
    sys.modules.update(saved)


def test_doctor_user_create_and_delete_work_unchanged(
    tmp_path: Path, doctor_user: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oslo_config import cfg

    with running_server(tmp_path) as server:
        for key, value in {
            "OS_AUTH_URL": f"{server.url}/identity/v3",
            "OS_USERNAME": "admin",
            "OS_PASSWORD": ADMIN_PASSWORD,
            "OS_PROJECT_NAME": "admin",
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
        }.items():
            monkeypatch.setenv(key, value)
        conf = cfg.ConfigOpts()
        conf.register_opts(doctor_user.OPTS)
        conf.register_opt(cfg.StrOpt("keystone_version", default="v3"))
        conf.register_opt(cfg.StrOpt("nova_version", default="2.34"))
        conf([], project="doctor", default_config_files=[])
        log = logging.getLogger("doctor")

        user = doctor_user.User(conf, log)
        user.create()
        assert {"doctor", "admin"} <= set(user.projects)
        assert "doctor" in user.users and "_member_" in user.roles
        # The grants Doctor made, seen through the API, and Doctor's user can log in.
        listed = json.loads(server.stateward("role", "list", "--assignments", "-f", "json").stdout)
        assert {"user": "doctor", "project": "doctor", "role": "_member_"} in listed
        assert {"user": "admin", "project": "doctor", "role": "admin"} in listed
        assert server.token("doctor", "doctor", "doctor")

        # A second run finds everything already there (check answers 204, nothing granted twice).
        again = doctor_user.User(conf, log)
        again.create()
        assert again.roles_for_user == {} and again.roles_for_admin == {}

        user.delete()
        projects = server.stateward("project", "list", "-f", "value", "-c", "name").stdout
        assert "doctor" not in projects.split()
        roles = server.stateward("role", "list", "-f", "value", "-c", "name").stdout
        assert "_member_" not in roles.split()
