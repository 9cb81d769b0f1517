"""liveness: agent report interval and disabled Neutron agents per chassis

Revision ID: 0003_liveness
Revises: 0002_chassis
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stateward.store.tables.base import JSON

revision: str = "0003_liveness"
down_revision: str | Sequence[str] | None = "0002_chassis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chassis") as batch:
        batch.add_column(sa.Column("report_interval", sa.Float(), nullable=True))
        batch.add_column(sa.Column("disabled_agents", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("chassis") as batch:
        batch.drop_column("disabled_agents")
        batch.drop_column("report_interval")
