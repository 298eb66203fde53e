"""The road layer (roads) that the walking and driving network is built from.

Revision ID: 0009
Revises: 0002 (its own branch, like 0003–0005)
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0009"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the roads table."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop it again."""
    run_sql_file(__file__, "down")
