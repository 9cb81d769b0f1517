"""alarm_fires: which event fired which alarm (a redelivered event fires nothing twice)

Revision ID: 0011_alarm_fires
Revises: 0010_tunnel_keys
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stateward.store.tables.base

revision: str = "0011_alarm_fires"
down_revision: str | Sequence[str] | None = "0010_tunnel_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarm_fires",
        sa.Column("alarm_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column(
            "fired_at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("alarm_id", "message_id", name=op.f("pk_alarm_fires")),
    )
    with op.batch_alter_table("alarm_fires", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_fires_fired_at"), ["fired_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alarm_fires", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_fires_fired_at"))
    op.drop_table("alarm_fires")
