"""The first start: the default domain, the standard roles, project and user ``admin``.

Like ``keystone-manage bootstrap`` it is idempotent; unlike it, a later start never changes the
admin's password, it only says when the configured one no longer matches.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from stateward.domain.identity import (
    ADMIN,
    DEFAULT_DOMAIN_ID,
    STANDARD_ROLES,
    Domain,
    Project,
    Role,
    User,
)
from stateward.identity.secrets import hash_secret, new_secret, verify_secret
from stateward.services.identity.principals import PrincipalService
from stateward.services.identity.refs import new_id
from stateward.store.db import Store
from stateward.store.repositories.identity import IdentityRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bootstrap:
    """What the start found or did about the admin."""

    created: bool
    password: str | None = None  # the admin's password, when this start created the admin
    generated: bool = False
    mismatch: bool = False  # a configured password no longer matches the admin's


async def bootstrap(
    store: Store, principals: PrincipalService, admin_password: str | None
) -> Bootstrap:
    if admin_password is not None:
        principals.check_password(admin_password)
    async with store.uow() as uow:
        repo = IdentityRepository(uow)
        if await repo.find_domain(id=DEFAULT_DOMAIN_ID) is None:
            await repo.add_domain(Domain(DEFAULT_DOMAIN_ID, "Default"))
        for name in STANDARD_ROLES:
            if await repo.find_role(name) is None:
                await repo.add_role(Role(new_id(), name))
        project = await repo.find_project(ADMIN, DEFAULT_DOMAIN_ID)
        if project is None:
            project = Project(new_id(), ADMIN, DEFAULT_DOMAIN_ID, "Bootstrap project")
            await repo.add_project(project)
        user = await repo.find_user(ADMIN, DEFAULT_DOMAIN_ID)
        if user is not None:
            await uow.commit()
            mismatch = admin_password is not None and not await asyncio.to_thread(
                verify_secret, admin_password, user.password_hash
            )
            return Bootstrap(created=False, mismatch=mismatch)
        password = admin_password if admin_password is not None else new_secret()
        pw_hash = await asyncio.to_thread(hash_secret, password)
        user = User(new_id(), ADMIN, DEFAULT_DOMAIN_ID, True, pw_hash, project.id)
        await repo.add_user(user)
        role = await repo.find_role(ADMIN)
        assert role is not None
        await repo.assign(user.id, project.id, role.id)
        await uow.commit()
    log.info("bootstrapped identity: user admin in project admin")
    return Bootstrap(created=True, password=password, generated=admin_password is None)
