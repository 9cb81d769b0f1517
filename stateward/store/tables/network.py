"""Neutron's core resources: networks, subnets, ports and their IP allocations."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata


def _standard_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("description", sa.String(255), nullable=False, server_default=""),
        sa.Column("revision_number", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    ]


networks = sa.Table(
    "networks",
    metadata,
    *_standard_columns(),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("status", sa.String(16), nullable=False, server_default="ACTIVE"),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("external", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("mtu", sa.Integer, nullable=False, server_default="1450"),
    sa.Column("network_type", sa.String(16), nullable=False),
    sa.Column("physical_network", sa.String(64), nullable=True),
    sa.Column("segmentation_id", sa.Integer, nullable=True),
    # 0010_tunnel_keys: the network's key in every chassis' pipeline (OpenFlow metadata)
    sa.Column("local_key", sa.Integer, nullable=True, unique=True),
)

# One row per allocated segment: the unique key is what stops two networks sharing a VNI/VLAN.
segment_allocations = sa.Table(
    "segment_allocations",
    metadata,
    sa.Column("network_type", sa.String(16), primary_key=True),
    sa.Column("physical_network", sa.String(64), primary_key=True, server_default=""),
    sa.Column("segmentation_id", sa.Integer, primary_key=True),
    sa.Column(
        "network_id",
        sa.String(36),
        sa.ForeignKey("networks.id", ondelete="CASCADE"),
        nullable=False,
    ),
)

subnets = sa.Table(
    "subnets",
    metadata,
    *_standard_columns(),
    sa.Column(
        "network_id", sa.String(36), sa.ForeignKey("networks.id"), nullable=False, index=True
    ),
    sa.Column("ip_version", sa.Integer, nullable=False),
    sa.Column("cidr", sa.String(64), nullable=False),
    sa.Column("gateway_ip", sa.String(64), nullable=True),
    sa.Column("enable_dhcp", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("allocation_pools", JSON, nullable=False),
    sa.Column("dns_nameservers", JSON, nullable=False),
    sa.Column("host_routes", JSON, nullable=False),
)

ports = sa.Table(
    "ports",
    metadata,
    *_standard_columns(),
    sa.Column(
        "network_id", sa.String(36), sa.ForeignKey("networks.id"), nullable=False, index=True
    ),
    sa.Column("mac_address", sa.String(32), nullable=False),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("status", sa.String(16), nullable=False, server_default="DOWN"),
    sa.Column("device_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("device_owner", sa.String(255), nullable=False, server_default=""),
    sa.Column("binding_host_id", sa.String(255), nullable=False, server_default="", index=True),
    sa.Column("binding_profile", JSON, nullable=False),
    sa.Column("binding_vnic_type", sa.String(64), nullable=False, server_default="normal"),
    sa.Column("binding_vif_type", sa.String(64), nullable=False, server_default="unbound"),
    sa.Column("binding_vif_details", JSON, nullable=False),
    sa.Column("data_plane_status", sa.String(16), nullable=True),
    # 0010_tunnel_keys: the port's key in every chassis' pipeline (reg6/reg7)
    sa.Column("tunnel_key", sa.Integer, nullable=True, unique=True),
    sa.UniqueConstraint("network_id", "mac_address", name="uq_ports_network_mac"),
)

ip_allocations = sa.Table(
    "ip_allocations",
    metadata,
    sa.Column("subnet_id", sa.String(36), sa.ForeignKey("subnets.id"), primary_key=True),
    sa.Column("ip_address", sa.String(64), primary_key=True),
    sa.Column(
        "port_id",
        sa.String(36),
        sa.ForeignKey("ports.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("network_id", sa.String(36), nullable=False),
)
