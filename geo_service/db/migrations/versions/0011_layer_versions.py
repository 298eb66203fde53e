"""Layer versions: a counter per layer table, bumped by any row change (tile cache keys).

Revision ID: 0011
Revises: 0002
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0011"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create layer_versions and the statement triggers that bump it."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop them again."""
    run_sql_file(__file__, "down")
