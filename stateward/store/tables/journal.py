"""The SDN journal: one row per change to replay to the controller, and its dependencies."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

journal = sa.Table(
    "journal",
    metadata,
    sa.Column("seqnum", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("object_type", sa.String(36), nullable=False),
    sa.Column("object_uuid", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("data", JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("retry_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_retried", UTCDateTime, nullable=True),
    sa.Column("version_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.Index("ix_journal_state_seqnum", "state", "seqnum"),
    sa.Index("ix_journal_object_seqnum", "object_uuid", "seqnum"),
)

# networking-odl's dependency table: ``dependent`` may not be sent before ``depends_on`` is
# completed. Deleting a completed row (cleanup) removes its edges.
journal_deps = sa.Table(
    "journal_deps",
    metadata,
    sa.Column(
        "dependent",
        sa.Integer,
        sa.ForeignKey("journal.seqnum", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "depends_on",
        sa.Integer,
        sa.ForeignKey("journal.seqnum", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

# The parents a row's object hangs from (a port's network and subnets, ...): how a delete
# finds the pending deletes of its children.
journal_refs = sa.Table(
    "journal_refs",
    metadata,
    sa.Column(
        "seqnum",
        sa.Integer,
        sa.ForeignKey("journal.seqnum", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("ref_uuid", sa.String(64), primary_key=True, index=True),
)

# Shared state of the journal roles: the full sync state machine, each process's connection
# monitor, operator requests (full sync now).
journal_status = sa.Table(
    "journal_status",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("detail", JSON, nullable=False),
)
