"""Chassis: registered hosts with their liveness timestamp and local service status."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

chassis = sa.Table(
    "chassis",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("tunnel_types", JSON, nullable=False),
    sa.Column("external_ids", JSON, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=True),
    sa.Column("service_status", JSON, nullable=False),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("announced", sa.String(8), nullable=True),
    # 0003_liveness: the interval the agent was told to report at, and the Neutron agents
    # (service binaries) an operator disabled with `openstack network agent set --disable`.
    sa.Column("report_interval", sa.Float, nullable=True),
    sa.Column("disabled_agents", JSON, nullable=False, server_default="[]"),
)
