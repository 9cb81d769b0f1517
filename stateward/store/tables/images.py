"""Glance v2 images (metadata; the data lives in the image store) and their members."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=True, index=True),
    sa.Column("owner", sa.String(64), nullable=True, index=True),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("os_hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("checksum", sa.String(32), nullable=True),
    sa.Column("os_hash_algo", sa.String(64), nullable=True),
    sa.Column("os_hash_value", sa.String(128), nullable=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("virtual_size", sa.BigInteger, nullable=True),
    sa.Column("min_ram", sa.Integer, nullable=False, server_default="0"),
    sa.Column("min_disk", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disk_format", sa.String(32), nullable=True),
    sa.Column("container_format", sa.String(32), nullable=True),
    sa.Column("tags", JSON, nullable=False),
    sa.Column("properties", JSON, nullable=False),
    # where the data is, relative to the image store (never shown)
    sa.Column("location", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

image_members = sa.Table(
    "image_members",
    metadata,
    sa.Column(
        "image_id",
        sa.String(36),
        sa.ForeignKey("images.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("member", sa.String(64), primary_key=True, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
