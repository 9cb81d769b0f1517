"""One quota engine for Nova, Neutron and Aodh limits.

Resources come in by registration (``register``): a name, the service whose API shows it, a
default, how to count a project's (or a user's) usage, and the notifications that mean "one more
was created". Enforcement needs no call in the use cases: the engine is a pre-commit hook of the
store, so every transaction that creates a limited resource ends by locking (project, resource),
counting what is there now (the new rows included) and refusing the commit when a limit is
exceeded — the whole use case rolls back, nothing half-applied, and two processes creating at
once count one after the other (the lock row is held until commit). ``check`` is the same test
for a use case that wants it before doing expensive work.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from prometheus_client import Counter

from stateward.config import QuotaConfig
from stateward.domain import quota as rules
from stateward.domain.errors import InvalidInput
from stateward.domain.events import Envelope
from stateward.domain.quota import DEFAULT_CLASS, UNLIMITED, Over, QuotaResource, Service
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.quotas import QuotaRepository

log = logging.getLogger(__name__)

REFUSED = Counter(
    "stateward_quota_refused_total", "Changes refused for exceeding a quota", ["resource"]
)

# (uow, project_id, user_id or None) -> how many the project (or that user) has now
UsageCounter = Callable[[UnitOfWork, str, str | None], Awaitable[int]]
# how much of the resource one notification stands for (1 server, its vcpus, ...)
Amount = Callable[[Envelope], int]


def one(_envelope: Envelope) -> int:
    return 1


@dataclass(frozen=True)
class Registration:
    resource: QuotaResource
    count: UsageCounter | None
    events: dict[str, Amount]
    user_default: int | None = None  # a user-level limit when none is set (Aodh's)


def user_of(envelope: Envelope) -> str | None:
    """The user a creation is charged to, when its notification names one."""
    user = envelope.traits.get("user_id")
    if user is None:
        for value in envelope.payload.values():
            if isinstance(value, dict) and isinstance(value.get("user_id"), str):
                return str(value["user_id"])
    return str(user) if user is not None else None


class QuotaEngine:
    def __init__(self, store: Store, config: QuotaConfig) -> None:
        self.store = store
        self.config = config
        self._registered: dict[str, Registration] = {}
        self._by_event: dict[str, list[tuple[str, Amount]]] = defaultdict(list)
        store.add_pre_commit_hook(self._before_commit)

    # registration --------------------------------------------------------------------------
    def register(
        self,
        resource: QuotaResource,
        count: UsageCounter | None = None,
        *,
        events: dict[str, Amount] | None = None,
        user_default: int | None = None,
    ) -> None:
        """Add a resource; ``events`` maps notification types to the amount each creates."""
        if resource.name in self._registered:
            raise ValueError(f"quota resource {resource.name} is already registered")
        self._registered[resource.name] = Registration(
            resource, count, dict(events or {}), user_default
        )
        for event_type, amount in (events or {}).items():
            self._by_event[event_type].append((resource.name, amount))

    def resources(self, service: Service | None = None) -> list[QuotaResource]:
        return [
            r.resource
            for r in self._registered.values()
            if service is None or r.resource.service == service
        ]

    def _resource(self, name: str, service: Service | None = None) -> Registration:
        reg = self._registered.get(name)
        if reg is None or (service is not None and reg.resource.service != service):
            raise InvalidInput(f"Unknown quota resources {name}.")
        return reg

    # reading -------------------------------------------------------------------------------
    def _configured(self) -> dict[str, int]:
        return dict(self.config.defaults)

    async def _limits(
        self,
        uow: UnitOfWork,
        project_id: str | None,
        names: Iterable[str],
        *,
        defaults_only: bool = False,
    ) -> dict[str, int]:
        repo = QuotaRepository(uow)
        own = {} if defaults_only or project_id is None else await repo.limits(project_id)
        klass = await repo.class_limits(DEFAULT_CLASS)
        configured = self._configured()
        return {
            name: rules.effective(self._registered[name].resource, own, klass, configured)
            for name in names
        }

    async def _user_limits(
        self, uow: UnitOfWork, project_id: str, user_id: str, names: Iterable[str]
    ) -> dict[str, int]:
        """A user's own limits (or the resource's user default), where one applies."""
        own = await QuotaRepository(uow).limits(project_id, user_id)
        out = {}
        for name in names:
            reg = self._registered[name]
            if name in own:
                out[name] = own[name]
            elif reg.user_default is not None:
                out[name] = reg.user_default
        return out

    async def limits_in(
        self, uow: UnitOfWork, project_id: str, names: Iterable[str]
    ) -> dict[str, int]:
        """A project's limits for ``names``, read in the caller's transaction."""
        return await self._limits(uow, project_id, names)

    async def limits(
        self, service: Service, project_id: str | None, *, user_id: str | None = None
    ) -> dict[str, int]:
        """The limits a project (or one of its users) has: what ``quota show`` prints."""
        names = [r.name for r in self.resources(service)]
        async with self.store.uow(readonly=True) as uow:
            limits = await self._limits(uow, project_id, names)
            if user_id and project_id:
                limits.update(await self._user_limits(uow, project_id, user_id, names))
        return limits

    async def defaults(self, service: Service) -> dict[str, int]:
        names = [r.name for r in self.resources(service)]
        async with self.store.uow(readonly=True) as uow:
            return await self._limits(uow, None, names, defaults_only=True)

    async def class_limits(self, service: Service, class_name: str) -> dict[str, int]:
        """Nova's quota class: the ``default`` class is the defaults; others only set values."""
        names = [r.name for r in self.resources(service)]
        async with self.store.uow(readonly=True) as uow:
            if class_name == DEFAULT_CLASS:
                return await self._limits(uow, None, names, defaults_only=True)
            own = await QuotaRepository(uow).class_limits(class_name)
        return {n: own.get(n, self._registered[n].resource.default) for n in names}

    async def _used(
        self, uow: UnitOfWork, project_id: str, user_id: str | None, names: Iterable[str]
    ) -> dict[str, int]:
        used = {}
        for name in names:
            counter = self._registered[name].count
            used[name] = await counter(uow, project_id, user_id) if counter else 0
        return used

    async def usage(
        self, service: Service, project_id: str, *, user_id: str | None = None
    ) -> dict[str, tuple[int, int]]:
        """(limit, in use) per resource: Nova's ``/detail``, Neutron's ``/details``."""
        names = [r.name for r in self.resources(service)]
        async with self.store.uow(readonly=True) as uow:
            limits = await self._limits(uow, project_id, names)
            if user_id:
                limits.update(await self._user_limits(uow, project_id, user_id, names))
            used = await self._used(uow, project_id, user_id, names)
        return {n: (limits[n], used[n]) for n in names}

    async def projects(self, service: Service) -> dict[str, dict[str, int]]:
        """Projects that have their own limits for ``service``, with all their limits."""
        names = [r.name for r in self.resources(service)]
        async with self.store.uow(readonly=True) as uow:
            own = await QuotaRepository(uow).projects_with_limits()
            result = {}
            for project_id, values in own.items():
                if any(n in values for n in names):
                    result[project_id] = await self._limits(uow, project_id, names)
        return result

    # changing ------------------------------------------------------------------------------
    def parse(self, service: Service, values: dict[str, object]) -> dict[str, int]:
        """Validate requested limits: known resources of ``service``, integers from -1."""
        parsed = {}
        for name, value in values.items():
            self._resource(name, service)
            parsed[name] = rules.parse_limit(name, value)
        return parsed

    async def update(
        self,
        service: Service,
        project_id: str,
        values: dict[str, int],
        *,
        user_id: str | None = None,
        force: bool = False,
    ) -> dict[str, int]:
        """Set a project's (or a user's) limits; below current usage only with ``force``."""
        for name in values:
            self._resource(name, service)
        async with self.store.uow() as uow:
            names = list(values)
            if not force:
                used = await self._used(uow, project_id, user_id, names)
                for name, limit in values.items():
                    if self._registered[name].resource.counted:
                        rules.check_new_limit(name, limit, used[name])
            if user_id:
                project_limits = await self._limits(uow, project_id, names)
                for name, limit in values.items():
                    rules.check_user_limit(name, limit, project_limits[name])
            await QuotaRepository(uow).set_limits(project_id, values, user_id or "")
            await uow.commit()
        return await self.limits(service, project_id, user_id=user_id)

    async def update_class(
        self, service: Service, class_name: str, values: dict[str, int]
    ) -> dict[str, int]:
        for name in values:
            self._resource(name, service)
        async with self.store.uow() as uow:
            await QuotaRepository(uow).set_class_limits(class_name, values)
            await uow.commit()
        return await self.class_limits(service, class_name)

    async def reset(self, service: Service, project_id: str, *, user_id: str | None = None) -> None:
        """Back to the defaults (Nova's DELETE os-quota-sets, Neutron's DELETE quotas)."""
        async with self.store.uow() as uow:
            await QuotaRepository(uow).delete_limits(
                project_id, user_id, [r.name for r in self.resources(service)]
            )
            await uow.commit()

    # enforcing -------------------------------------------------------------------------------
    async def check(
        self,
        uow: UnitOfWork,
        project_id: str,
        requested: dict[str, int],
        *,
        user_id: str | None = None,
        created: bool = True,
    ) -> None:
        """Refuse when usage would exceed a limit; locks the limited resources till commit.

        ``created``: the transaction already holds the new rows (they are in the count);
        otherwise ``requested`` is added to what is counted.
        """
        if not self.config.enforce or not requested:
            return
        names = sorted(requested)
        per_user = user_id is not None and any(
            self._registered[n].resource.per_user or self._registered[n].user_default is not None
            for n in names
        )
        own, own_user, klass = await QuotaRepository(uow).applicable(
            project_id, user_id if per_user else None, names, DEFAULT_CLASS
        )
        configured = self._configured()
        limits = {
            n: rules.effective(self._registered[n].resource, own, klass, configured) for n in names
        }
        user_limits: dict[str, int] = {}
        if per_user:
            for n in names:
                default = self._registered[n].user_default
                if n in own_user:
                    user_limits[n] = own_user[n]
                elif default is not None:
                    user_limits[n] = default
        limited = [
            n
            for n in names
            if self._registered[n].count is not None
            and (limits[n] != UNLIMITED or user_limits.get(n, UNLIMITED) != UNLIMITED)
        ]
        if not limited:
            return
        await QuotaRepository(uow).lock(project_id, limited)
        overs: list[Over] = []
        extra = {n: 0 if created else requested[n] for n in limited}
        used = await self._used(uow, project_id, None, limited)
        for name in limited:
            total = used[name] + extra[name]
            if not rules.within(limits[name], total):
                overs.append(Over(name, requested[name], total - requested[name], limits[name]))
        if user_id and not overs:
            scoped = [n for n in limited if user_limits.get(n, UNLIMITED) != UNLIMITED]
            used = await self._used(uow, project_id, user_id, scoped)
            for name in scoped:
                total = used[name] + extra[name]
                if not rules.within(user_limits[name], total):
                    overs.append(
                        Over(name, requested[name], total - requested[name], user_limits[name])
                    )
        if overs:
            for over in overs:
                REFUSED.labels(over.resource).inc()
            service = self._registered[overs[0].resource].resource.service
            log.info(
                "quota exceeded",
                extra={"project_id": project_id, "overs": [o.resource for o in overs]},
            )
            raise rules.exceeded(service, overs, project_id=project_id, user_id=user_id)

    async def _before_commit(self, uow: UnitOfWork, events: list[Envelope]) -> None:
        """The store's pre-commit hook: check every limit the transaction's creations touch."""
        if not self.config.enforce:
            return
        wanted: dict[tuple[str, str | None], dict[str, int]] = {}
        for envelope in events:
            for name, amount in self._by_event.get(envelope.event_type, ()):
                if envelope.project_id is None:
                    continue
                key = (envelope.project_id, user_of(envelope))
                bucket = wanted.setdefault(key, {})
                bucket[name] = bucket.get(name, 0) + amount(envelope)
        for (project_id, user_id), requested in sorted(
            wanted.items(), key=lambda item: (item[0][0], item[0][1] or "")
        ):
            await self.check(uow, project_id, requested, user_id=user_id)
