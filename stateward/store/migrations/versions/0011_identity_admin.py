"""identity administration and hardening: lockout counters, audit chains, throttling

Revision ID: 0011_identity_admin
Revises: 0010_tunnel_keys
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stateward.store.tables.base import UTCDateTime

revision: str = "0011_identity_admin"
down_revision: str | Sequence[str] | None = "0010_tunnel_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("email", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("failed_auth_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("failed_auth_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("roles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("application_credentials", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unrestricted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_chain_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("parent_audit_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_tokens_audit_chain_id"), ["audit_chain_id"])
        batch_op.create_index(batch_op.f("ix_tokens_user_id"), ["user_id"])
        batch_op.create_index(batch_op.f("ix_tokens_app_cred_id"), ["app_cred_id"])
    op.create_table(
        "auth_failures",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_start", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_auth_failures")),
    )


def downgrade() -> None:
    op.drop_table("auth_failures")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_app_cred_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_user_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_audit_chain_id"))
        batch_op.drop_column("parent_audit_id")
        batch_op.drop_column("audit_chain_id")
    with op.batch_alter_table("application_credentials", schema=None) as batch_op:
        batch_op.drop_column("unrestricted")
    with op.batch_alter_table("roles", schema=None) as batch_op:
        batch_op.drop_column("description")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("failed_auth_at")
        batch_op.drop_column("failed_auth_count")
        batch_op.drop_column("email")
        batch_op.drop_column("description")
