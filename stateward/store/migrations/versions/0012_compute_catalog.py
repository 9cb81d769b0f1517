"""compute catalog: flavors, quotas, images; servers keep their flavor and fault

Revision ID: 0012_compute_catalog
Revises: 0011_identity_admin
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stateward.store.tables.base
from stateward.store.tables.base import JSON

revision: str = "0012_compute_catalog"
down_revision: str | Sequence[str] | None = "0011_identity_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flavors",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("ram", sa.Integer(), nullable=False),
        sa.Column("disk", sa.Integer(), nullable=False),
        sa.Column("ephemeral", sa.Integer(), server_default="0", nullable=False),
        sa.Column("swap", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rxtx_factor", sa.Float(), server_default="1", nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("extra_specs", JSON, nullable=False),
        sa.Column(
            "created_at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flavors")),
        sa.UniqueConstraint("name", name=op.f("uq_flavors_name")),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("protected", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("os_hidden", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("checksum", sa.String(length=32), nullable=True),
        sa.Column("os_hash_algo", sa.String(length=64), nullable=True),
        sa.Column("os_hash_value", sa.String(length=128), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("virtual_size", sa.BigInteger(), nullable=True),
        sa.Column("min_ram", sa.Integer(), server_default="0", nullable=False),
        sa.Column("min_disk", sa.Integer(), server_default="0", nullable=False),
        sa.Column("disk_format", sa.String(length=32), nullable=True),
        sa.Column("container_format", sa.String(length=32), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_images_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_images_owner"), ["owner"], unique=False)

    op.create_table(
        "quota_class_limits",
        sa.Column("class_name", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("class_name", "resource", name=op.f("pk_quota_class_limits")),
    )
    op.create_table(
        "quota_limits",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "user_id", "resource", name=op.f("pk_quota_limits")),
    )
    op.create_table(
        "quota_locks",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name=op.f("pk_quota_locks")),
    )
    op.create_table(
        "flavor_access",
        sa.Column("flavor_id", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["flavor_id"],
            ["flavors.id"],
            name=op.f("fk_flavor_access_flavor_id_flavors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flavor_id", "project_id", name=op.f("pk_flavor_access")),
    )
    op.create_table(
        "image_members",
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("member", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", stateward.store.tables.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_members_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "member", name=op.f("pk_image_members")),
    )
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_members_member"), ["member"], unique=False)

    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vcpus", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("memory_mb", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("root_gb", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("flavor", JSON, nullable=True))
        batch_op.add_column(sa.Column("fault", JSON, nullable=True))
        batch_op.add_column(sa.Column("created_ports", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_column("created_ports")
        batch_op.drop_column("fault")
        batch_op.drop_column("flavor")
        batch_op.drop_column("root_gb")
        batch_op.drop_column("memory_mb")
        batch_op.drop_column("vcpus")

    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_members_member"))

    op.drop_table("image_members")
    op.drop_table("flavor_access")
    op.drop_table("quota_locks")
    op.drop_table("quota_limits")
    op.drop_table("quota_class_limits")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_owner"))
        batch_op.drop_index(batch_op.f("ix_images_name"))

    op.drop_table("images")
    op.drop_table("flavors")
