"""Profiles (the Doctor profiler's "test database"): one row per trace, one per checkpoint."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("trace_id", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("meta", JSON, nullable=False),
)

profile_checkpoints = sa.Table(
    "profile_checkpoints",
    metadata,
    sa.Column(
        "trace_id",
        sa.String(64),
        sa.ForeignKey("profiles.trace_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", sa.String(8), primary_key=True),
    # Epoch seconds as a double: microsecond resolution and no timezone conversions.
    sa.Column("epoch", sa.Float(precision=53), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("process", sa.String(255), nullable=False, server_default=""),
    sa.Column("meta", JSON, nullable=False),
)
