"""Login throttling kept in the database, so every worker process counts the same failures.

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create login_throttle."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop it again."""
    run_sql_file(__file__, "down")
