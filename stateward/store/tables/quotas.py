"""Quota limits (per project, per user, per class) and the rows that serialise counting."""

import sqlalchemy as sa

from stateward.store.tables.base import metadata

# A project's (user_id "") or a user's own limit for one resource.
quota_limits = sa.Table(
    "quota_limits",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True, server_default=""),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("hard_limit", sa.Integer, nullable=False),
)

# Nova's quota classes; only "default" is used, as in Nova.
quota_class_limits = sa.Table(
    "quota_class_limits",
    metadata,
    sa.Column("class_name", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("hard_limit", sa.Integer, nullable=False),
)

# One row per (project, resource) with a finite limit: a transaction that counts usage locks it
# first, so two processes creating at once count one after the other.
quota_locks = sa.Table(
    "quota_locks",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
)
