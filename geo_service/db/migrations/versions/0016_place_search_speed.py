"""Faster place search: trigram index on initials, facility-kind index, small GIN pending lists.

Revision ID: 0016
Revises: 0003
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0016"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the indexes and set the limits."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop it again."""
    run_sql_file(__file__, "down")
