"""tunnel keys: a stable key per port (reg6/reg7) and per network (metadata)

Existing rows get keys in creation order. On PostgreSQL a sequence per key proposes candidates
(the unique column still decides), starting after the backfilled keys.

Revision ID: 0010_tunnel_keys
Revises: 0009_agent_feed
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_tunnel_keys"
down_revision: str | Sequence[str] | None = "0009_agent_feed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backfill(table: str, column: str) -> None:
    conn = op.get_bind()
    ids = [r[0] for r in conn.execute(sa.text(f"SELECT id FROM {table} ORDER BY created_at, id"))]
    if ids:
        conn.execute(
            sa.text(f"UPDATE {table} SET {column} = :key WHERE id = :id"),
            [{"key": i + 1, "id": row_id} for i, row_id in enumerate(ids)],
        )


def upgrade() -> None:
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("local_key", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_networks_local_key"), ["local_key"])
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tunnel_key", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_ports_tunnel_key"), ["tunnel_key"])
    _backfill("networks", "local_key")
    _backfill("ports", "tunnel_key")
    if op.get_bind().dialect.name == "postgresql":
        for table, column in (("ports", "tunnel_key"), ("networks", "local_key")):
            op.execute(f"CREATE SEQUENCE {table}_{column}_seq")
            op.execute(
                f"SELECT setval('{table}_{column}_seq', "
                f"(SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}), false)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS ports_tunnel_key_seq")
        op.execute("DROP SEQUENCE IF EXISTS networks_local_key_seq")
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_ports_tunnel_key"), type_="unique")
        batch_op.drop_column("tunnel_key")
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_networks_local_key"), type_="unique")
        batch_op.drop_column("local_key")
