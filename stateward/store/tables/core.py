"""Infrastructure tables: the outbox of notifications and the leases of singleton roles."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(64), nullable=False, unique=True),
    sa.Column("event_type", sa.String(255), nullable=False),
    sa.Column("envelope", JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Index("ix_outbox_unsent", "sent_at", "id"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
)
