"""profiles

Revision ID: 0007_profiles
Revises: 0002_chassis
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stateward.store.tables.base
from stateward.store.tables.base import JSON

revision: str = "0007_profiles"
down_revision: str | Sequence[str] | None = "0002_chassis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("meta", JSON, nullable=False),
        sa.PrimaryKeyConstraint("trace_id", name=op.f("pk_profiles")),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profiles_created_at"), ["created_at"], unique=False)

    op.create_table(
        "profile_checkpoints",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=8), nullable=False),
        sa.Column("epoch", sa.Float(precision=53), nullable=False),
        sa.Column("at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("process", sa.String(length=255), server_default="", nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"],
            ["profiles.trace_id"],
            name=op.f("fk_profile_checkpoints_trace_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trace_id", "name", name=op.f("pk_profile_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("profile_checkpoints")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profiles_created_at"))
    op.drop_table("profiles")
