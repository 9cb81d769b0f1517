"""Compute: operator overrides of each host's nova-compute service, servers, host fault history."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

# One row per host an operator changed (disabled / forced down); no row = defaults.
compute_services = sa.Table(
    "compute_services",
    metadata,
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("disabled_reason", sa.String(255), nullable=True),
    sa.Column("forced_down", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", UTCDateTime, nullable=True),
)

servers = sa.Table(
    "servers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("project_id", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255), nullable=False, index=True),
    sa.Column("vm_state", sa.String(32), nullable=False),
    sa.Column("task_state", sa.String(64), nullable=True),
    sa.Column("power_state", sa.Integer, nullable=False),
    sa.Column("image_ref", sa.String(255), nullable=False, server_default=""),
    sa.Column("flavor_ref", sa.String(255), nullable=False, server_default=""),
    sa.Column("availability_zone", sa.String(255), nullable=False, server_default="nova"),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("metadata", JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("launched_at", UTCDateTime, nullable=True),
    sa.Column("deleted_at", UTCDateTime, nullable=True),
    # the flavor's resources, copied at create: what quotas and the scheduler count
    sa.Column("vcpus", sa.Integer, nullable=False, server_default="0"),
    sa.Column("memory_mb", sa.Integer, nullable=False, server_default="0"),
    sa.Column("root_gb", sa.Integer, nullable=False, server_default="0"),
    sa.Column("flavor", JSON, nullable=True),  # the flavor as it was (Nova embeds it)
    sa.Column("fault", JSON, nullable=True),  # {code, message, created}: why it is in ERROR
    sa.Column("created_ports", JSON, nullable=True),  # port ids deleted with the server
)

# Every raw failure the inspector received (a monitor's or liveness'), with what it did.
host_faults = sa.Table(
    "host_faults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(255), nullable=False, index=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("monitor", sa.String(255), nullable=True),
    # host, type, monitor and monitor_event_id: a repeat within the duplicate window is ignored.
    sa.Column("dedup_key", sa.String(800), nullable=True, index=True),
    sa.Column("monitor_event_id", sa.String(255), nullable=True),
    sa.Column("reported_time", sa.String(64), nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("servers_changed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ports_changed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("details", JSON, nullable=False),
    sa.Column("trace_id", sa.String(64), nullable=True),
)
