"""agent feed: per-chassis change logs, heads, interest and object forms

Revision ID: 0009_agent_feed
Revises: 0008_merge
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stateward.store.tables.base import JSON, UTCDateTime

revision: str = "0009_agent_feed"
down_revision: str | Sequence[str] | None = "0008_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_heads",
        sa.Column("chassis", sa.String(length=255), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chassis", name=op.f("pk_feed_heads")),
    )
    op.create_table(
        "feed_changes",
        sa.Column("chassis", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chassis", "seq", name=op.f("pk_feed_changes")),
    )
    with op.batch_alter_table("feed_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feed_changes_created_at"), ["created_at"], unique=False
        )
    op.create_table(
        "feed_interest",
        sa.Column("chassis", sa.String(length=255), nullable=False),
        sa.Column("view", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("chassis", "view", "scope", name=op.f("pk_feed_interest")),
    )
    with op.batch_alter_table("feed_interest", schema=None) as batch_op:
        batch_op.create_index("ix_feed_interest_view_scope", ["view", "scope"], unique=False)
    op.create_table(
        "feed_objects",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_feed_objects")),
    )


def downgrade() -> None:
    op.drop_table("feed_objects")
    with op.batch_alter_table("feed_interest", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_interest_view_scope")
    op.drop_table("feed_interest")
    with op.batch_alter_table("feed_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_changes_created_at"))
    op.drop_table("feed_changes")
    op.drop_table("feed_heads")
