"""The per-chassis agent feed: each chassis' change log, its head, and what it subscribes to."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

# One row per chassis: the last sequence number handed out and the log's identity (epoch).
feed_heads = sa.Table(
    "feed_heads",
    metadata,
    sa.Column("chassis", sa.String(255), primary_key=True),
    sa.Column("epoch", sa.String(32), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The log itself: consecutive sequence numbers per chassis, pruned after a retention period.
feed_changes = sa.Table(
    "feed_changes",
    metadata,
    sa.Column("chassis", sa.String(255), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sa.Column("data", JSON, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
)

# What each chassis' view currently holds at the granularity a view routes changes by (a
# network it has a port on, a chassis it references): OVN's monitor conditions, kept here.
feed_interest = sa.Table(
    "feed_interest",
    metadata,
    sa.Column("chassis", sa.String(255), primary_key=True),
    sa.Column("view", sa.String(32), primary_key=True),
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Index("ix_feed_interest_view_scope", "view", "scope"),
)

# The last form of every object the feed carries (not per chassis): a change that leaves an
# object's form as it was costs nothing, and the old form says where the object used to be.
feed_objects = sa.Table(
    "feed_objects",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("data", JSON, nullable=False),
)
