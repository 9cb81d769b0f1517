"""Join the alarm-fire claims and the compute catalog branches into one head

Revision ID: 0013_merge
Revises: 0011_alarm_fires, 0012_compute_catalog
Create Date: 2026-11-30
"""

from collections.abc import Sequence

revision: str = "0013_merge"
down_revision: str | Sequence[str] | None = ("0011_alarm_fires", "0012_compute_catalog")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
