"""All tables, one module per area, sharing one MetaData (what Alembic migrates)."""

from stateward.store.tables import chassis, core, identity, journal, network  # noqa: F401
from stateward.store.tables.base import metadata

__all__ = ["metadata"]
