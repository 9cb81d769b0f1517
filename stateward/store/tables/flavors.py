"""Nova flavors, their extra specs, and which projects may use a private one."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

flavors = sa.Table(
    "flavors",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),  # Nova's flavorid
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("ram", sa.Integer, nullable=False),
    sa.Column("disk", sa.Integer, nullable=False),
    sa.Column("ephemeral", sa.Integer, nullable=False, server_default="0"),
    sa.Column("swap", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rxtx_factor", sa.Float, nullable=False, server_default="1"),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("extra_specs", JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

flavor_access = sa.Table(
    "flavor_access",
    metadata,
    sa.Column(
        "flavor_id",
        sa.String(255),
        sa.ForeignKey("flavors.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("project_id", sa.String(64), primary_key=True),
)
