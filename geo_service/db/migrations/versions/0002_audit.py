"""The append-only audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from geo_service.db.migrate import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create audit_log with its append-only triggers."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop audit_log."""
    run_sql_file(__file__, "down")
