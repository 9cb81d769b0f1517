"""Join the feature branches of the schema into one head

Each feature (liveness, compute, alarms, journal, profiles) added its tables from 0002_chassis
in parallel; this revision joins them so the next migration has one parent.

Revision ID: 0008_merge
Revises: 0003_liveness, 0004_compute, 0005_alarms, 0006_journal, 0007_profiles
Create Date: 2026-11-22
"""

from collections.abc import Sequence

revision: str = "0008_merge"
down_revision: str | Sequence[str] | None = (
    "0003_liveness",
    "0004_compute",
    "0005_alarms",
    "0006_journal",
    "0007_profiles",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
