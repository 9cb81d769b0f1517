"""The quota resources Stateward has: Nova's, Neutron's and Aodh's, with their defaults.

Another area adds its own the same way (``engine.register``): e.g. routers and floating IPs
with ``QuotaResource("router", "network", 10)``, a counter and ``{"router.create.end": one}``.
"""

from __future__ import annotations

import sqlalchemy as sa

from stateward.config import QuotaConfig
from stateward.domain.events import Envelope
from stateward.domain.quota import UNLIMITED, QuotaResource
from stateward.services.quotas import Amount, QuotaEngine, UsageCounter, one
from stateward.store.db import UnitOfWork
from stateward.store.repositories.quotas import count_rows
from stateward.store.tables import alarms, compute, network

# Nova's [quota] defaults; the legacy ones are shown before microversions 2.36 / 2.57 only.
NOVA = (
    ("instances", 10, True),
    ("cores", 20, True),
    ("ram", 51200, True),
    ("metadata_items", 128, False),
    ("key_pairs", 100, False),
    ("server_groups", 10, False),
    ("server_group_members", 10, False),
    ("injected_files", 5, False),
    ("injected_file_content_bytes", 10240, False),
    ("injected_file_path_bytes", 255, False),
    ("fixed_ips", UNLIMITED, False),
    ("floating_ips", 10, False),
    ("security_groups", 10, False),
    ("security_group_rules", 20, False),
)
# Nova resources removed from the API at 2.36 (network proxies) and 2.57 (injected files).
NOVA_NETWORK_PROXIES = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
NOVA_INJECTED_FILES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")

# Neutron's [quotas] defaults for the resources Stateward serves.
NEUTRON = (("network", 100), ("subnet", 100), ("port", 500))


def _servers(total: sa.ColumnElement[int] | None = None) -> UsageCounter:
    async def count(uow: UnitOfWork, project_id: str, user_id: str | None) -> int:
        return await count_rows(
            uow,
            compute.servers,
            project_id,
            user_id=user_id,
            where=compute.servers.c.deleted_at.is_(None),
            total=total,
        )

    return count


def _rows(table: sa.Table) -> UsageCounter:
    async def count(uow: UnitOfWork, project_id: str, user_id: str | None) -> int:
        return await count_rows(uow, table, project_id)

    return count


async def _alarms(uow: UnitOfWork, project_id: str, user_id: str | None) -> int:
    """Aodh counts a project's alarms, and a user's alarms in every project."""
    table = alarms.alarms
    query = sa.select(sa.func.count()).select_from(table)
    if user_id is not None:
        query = query.where(table.c.user_id == user_id)
    else:
        query = query.where(table.c.project_id == project_id)
    return int((await uow.conn.execute(query)).scalar_one())


def _trait(name: str) -> Amount:
    def amount(envelope: Envelope) -> int:
        return int(envelope.traits.get(name) or 0)

    return amount


def register_builtin(engine: QuotaEngine, config: QuotaConfig) -> None:
    # a server counts once created, even when it went straight to ERROR (Nova counts those)
    created = ("compute.instance.create.end", "compute.instance.create.error")
    counters: dict[str, tuple[UsageCounter, Amount]] = {
        "instances": (_servers(), one),
        "cores": (_servers(compute.servers.c.vcpus), _trait("vcpus")),
        "ram": (_servers(compute.servers.c.memory_mb), _trait("memory_mb")),
    }
    for name, default, counted in NOVA:
        if counted:
            counter, amount = counters[name]
            engine.register(
                QuotaResource(name, "compute", default, per_user=True),
                counter,
                events=dict.fromkeys(created, amount),
            )
        else:
            engine.register(QuotaResource(name, "compute", default, counted=False))
    for name, default in NEUTRON:
        table = getattr(network, f"{name}s")
        engine.register(
            QuotaResource(name, "network", default),
            _rows(table),
            events={f"{name}.create.end": one},
        )
    engine.register(
        QuotaResource(
            "alarms",
            "alarming",
            UNLIMITED if config.project_alarm_quota is None else config.project_alarm_quota,
            per_user=True,
        ),
        _alarms,
        events={"alarm.creation": one},
        user_default=config.user_alarm_quota,
    )
