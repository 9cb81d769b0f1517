"""Keystone's model: domains, projects, users, roles, assignments, app credentials, tokens."""

import sqlalchemy as sa

from stateward.store.tables.base import JSON, UTCDateTime, metadata

domains = sa.Table(
    "domains",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("domain_id", sa.String(64), sa.ForeignKey("domains.id"), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("domain_id", "name", name="uq_projects_domain_name"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("domain_id", sa.String(64), sa.ForeignKey("domains.id"), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("default_project_id", sa.String(64), nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("email", sa.String(255), nullable=True),
    # Keystone's lockout bookkeeping (local_user.failed_auth_count / failed_auth_at)
    sa.Column("failed_auth_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed_auth_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("domain_id", "name", name="uq_users_domain_name"),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
)

role_assignments = sa.Table(
    "role_assignments",
    metadata,
    sa.Column(
        "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "project_id",
        sa.String(64),
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "role_id", sa.String(64), sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    ),
)

application_credentials = sa.Table(
    "application_credentials",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column(
        "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "project_id",
        sa.String(64),
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("secret_hash", sa.String(255), nullable=False),
    sa.Column("roles", JSON, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("unrestricted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("user_id", "name", name="uq_app_creds_user_name"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.String(64),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("project_id", sa.String(64), nullable=True),
    sa.Column("methods", JSON, nullable=False),
    sa.Column("roles", JSON, nullable=False),
    sa.Column("app_cred_id", sa.String(64), nullable=True, index=True),
    sa.Column("audit_id", sa.String(64), nullable=False),
    # Keystone's audit chain: the audit id of the first token of a chain of token-method
    # re-authentications; revoking a token revokes the tokens obtained from it.
    sa.Column("audit_chain_id", sa.String(64), nullable=True, index=True),
    sa.Column("parent_audit_id", sa.String(64), nullable=True),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Failed authentications per client address, for throttling (a sliding window per address).
auth_failures = sa.Table(
    "auth_failures",
    metadata,
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=False),
)
