"""Marker lifecycle status (在用, 损毁待修, 已重建, 已废止) and the survey marker types.

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0013"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the status column (every existing marker is 在用)."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop it again."""
    run_sql_file(__file__, "down")
