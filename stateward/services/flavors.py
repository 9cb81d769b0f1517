"""Flavor use cases: the catalog of server sizes, its extra specs and private flavors' access.

Each change is one transaction with its notification (``flavor.create``/``update``/``delete``,
as Nova's versioned notifications name them). DevStack's defaults are created at bootstrap.
"""

from __future__ import annotations

import builtins
from dataclasses import replace
from typing import Any

from stateward.domain import flavor as rules
from stateward.domain.errors import Conflict, InvalidInput, NotFound
from stateward.domain.events import Envelope, utcnow
from stateward.domain.flavor import Flavor
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.flavors import FlavorRepository

PUBLISHER = "compute.stateward"


def _not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.", kind="FlavorNotFound")


def flavor_event(kind: str, flavor: Flavor) -> Envelope:
    payload = {
        **flavor.snapshot(),
        "is_public": flavor.is_public,
        "description": flavor.description,
    }
    return Envelope(
        event_type=f"flavor.{kind}",
        publisher_id=PUBLISHER,
        resource_id=flavor.id,
        traits={"flavor_id": flavor.id, "name": flavor.name, "is_public": flavor.is_public},
        payload={"flavor": payload},
    )


class FlavorService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def bootstrap(self) -> int:
        """Create DevStack's flavors on a store that has none; returns how many were made."""
        async with self.store.uow() as uow:
            repo = FlavorRepository(uow)
            if await repo.count():
                return 0
            made = 0
            for flavor in rules.devstack_flavors(utcnow()):
                if await repo.add(flavor) is None:
                    made += 1
            await uow.commit()
        return made

    @staticmethod
    async def visible(
        uow: UnitOfWork, flavor_id: str, project_id: str | None, *, admin: bool
    ) -> Flavor:
        """A flavor the caller may use: public, or private with access (admins see all)."""
        repo = FlavorRepository(uow)
        flavor = await repo.get(flavor_id)
        if flavor is None:
            raise _not_found(flavor_id)
        if not (admin or flavor.is_public) and (
            project_id is None or not await repo.has_access(flavor.id, project_id)
        ):
            raise _not_found(flavor_id)
        return flavor

    async def get(self, flavor_id: str, project_id: str | None, *, admin: bool) -> Flavor:
        async with self.store.uow(readonly=True) as uow:
            return await self.visible(uow, flavor_id, project_id, admin=admin)

    async def list(
        self,
        project_id: str | None,
        *,
        is_public: bool | None = True,
        min_ram: int | None = None,
        min_disk: int | None = None,
    ) -> builtins.list[Flavor]:
        async with self.store.uow(readonly=True) as uow:
            return await FlavorRepository(uow).find(
                project_id=project_id, is_public=is_public, min_ram=min_ram, min_disk=min_disk
            )

    async def create(self, flavor: Flavor) -> Flavor:
        async with self.store.uow() as uow:
            clash = await FlavorRepository(uow).add(flavor)
            if clash == "id":
                raise Conflict(f"Flavor with ID {flavor.id} already exists.", kind="FlavorIdExists")
            if clash == "name":
                raise Conflict(
                    f"Flavor with name {flavor.name} already exists.", kind="FlavorExists"
                )
            uow.emit(flavor_event("create", flavor))
            await uow.commit()
        return flavor

    async def _change(self, flavor_id: str, change: Any) -> Flavor:
        async with self.store.uow() as uow:
            repo = FlavorRepository(uow)
            flavor = await repo.get(flavor_id)
            if flavor is None:
                raise _not_found(flavor_id)
            flavor = change(replace(flavor, extra_specs=dict(flavor.extra_specs)))
            await repo.save(flavor)
            uow.emit(flavor_event("update", flavor))
            await uow.commit()
        return flavor

    async def set_description(self, flavor_id: str, description: str | None) -> Flavor:
        def go(flavor: Flavor) -> Flavor:
            flavor.description = description
            return flavor

        return await self._change(flavor_id, go)

    async def delete(self, flavor_id: str) -> None:
        async with self.store.uow() as uow:
            repo = FlavorRepository(uow)
            flavor = await repo.get(flavor_id)
            if flavor is None:
                raise _not_found(flavor_id)
            await repo.delete(flavor_id)
            uow.emit(flavor_event("delete", flavor))
            await uow.commit()

    # extra specs --------------------------------------------------------------------------
    async def set_extra_specs(self, flavor_id: str, specs: dict[str, str]) -> Flavor:
        def go(flavor: Flavor) -> Flavor:
            flavor.extra_specs.update(specs)
            return flavor

        return await self._change(flavor_id, go)

    async def delete_extra_spec(self, flavor_id: str, key: str) -> Flavor:
        def go(flavor: Flavor) -> Flavor:
            if key not in flavor.extra_specs:
                raise NotFound(
                    f"Flavor {flavor_id} has no extra specs with key {key}.",
                    kind="FlavorExtraSpecsNotFound",
                )
            del flavor.extra_specs[key]
            return flavor

        return await self._change(flavor_id, go)

    # access ------------------------------------------------------------------------------
    async def access(self, flavor_id: str) -> builtins.list[str]:
        async with self.store.uow(readonly=True) as uow:
            repo = FlavorRepository(uow)
            flavor = await repo.get(flavor_id)
            if flavor is None:
                raise _not_found(flavor_id)
            if flavor.is_public:
                raise NotFound("Access list not available for public flavors.")
            return await repo.access(flavor_id)

    async def add_access(self, flavor_id: str, project_id: str) -> builtins.list[str]:
        async with self.store.uow() as uow:
            repo = FlavorRepository(uow)
            flavor = await repo.get(flavor_id)
            if flavor is None:
                raise _not_found(flavor_id)
            if flavor.is_public:
                raise Conflict("Can not add access to a public flavor.")
            if not await repo.add_access(flavor_id, project_id):
                raise Conflict(
                    f"Flavor access already exists for flavor {flavor_id} and project "
                    f"{project_id} combination.",
                    kind="FlavorAccessExists",
                )
            uow.emit(flavor_event("update", flavor))
            projects = await repo.access(flavor_id)
            await uow.commit()
        return projects

    async def remove_access(self, flavor_id: str, project_id: str) -> builtins.list[str]:
        async with self.store.uow() as uow:
            repo = FlavorRepository(uow)
            flavor = await repo.get(flavor_id)
            if flavor is None:
                raise _not_found(flavor_id)
            if not await repo.remove_access(flavor_id, project_id):
                raise NotFound(
                    f"Flavor access not found for {flavor_id} / {project_id} combination.",
                    kind="FlavorAccessNotFound",
                )
            uow.emit(flavor_event("update", flavor))
            projects = await repo.access(flavor_id)
            await uow.commit()
        return projects


def check_disabled(flavor: Flavor) -> None:
    if flavor.disabled:
        raise InvalidInput("Flavor is disabled.")
