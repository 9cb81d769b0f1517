"""All tables, one module per area, sharing one MetaData (what Alembic migrates)."""

from stateward.store.tables import (  # noqa: F401
    agent_feed,
    alarms,
    chassis,
    compute,
    core,
    flavors,
    identity,
    images,
    journal,
    network,
    profiles,
    quotas,
)
from stateward.store.tables.base import metadata

__all__ = ["metadata"]
