"""Event alarms (Aodh v2 compatible) and their change history."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

alarms = sa.Table(
    "alarms",
    metadata,
    sa.Column("alarm_id", sa.String(36), primary_key=True),
    sa.Column("project_id", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("state_reason", sa.Text, nullable=False),
    sa.Column("state_timestamp", UTCDateTime, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("alarm_actions", JSON, nullable=False),
    sa.Column("ok_actions", JSON, nullable=False),
    sa.Column("insufficient_data_actions", JSON, nullable=False),
    sa.Column("repeat_actions", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("rule", JSON, nullable=False),
    sa.Column("time_constraints", JSON, nullable=False),
    sa.Column("resource_id", sa.String(255), nullable=True, index=True),
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("project_id", "name", name="uq_alarms_project_id_name"),
)

alarm_history = sa.Table(
    "alarm_history",
    metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("alarm_id", sa.String(36), nullable=False, index=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("project_id", sa.String(64), nullable=True),
    sa.Column("on_behalf_of", sa.String(64), nullable=True, index=True),
    sa.Column("severity", sa.String(16), nullable=True),
    sa.Column("timestamp", UTCDateTime, nullable=False),
)

# Which event fired which alarm, for a while: a redelivered event (a bus outage, a process killed
# after its commit but before its acknowledgement) must not fire a repeating alarm again.
alarm_fires = sa.Table(
    "alarm_fires",
    metadata,
    sa.Column("alarm_id", sa.String(36), primary_key=True),
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("fired_at", UTCDateTime, nullable=False, index=True),
)
