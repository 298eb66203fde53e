"""The five layers, neighbouring counties and the load log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from geo_service.db.migrate import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the layer tables."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop the layer tables."""
    run_sql_file(__file__, "down")
