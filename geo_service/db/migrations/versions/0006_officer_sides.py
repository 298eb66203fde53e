"""Officers belong to an area (township, district or neighbouring county); one signer per side.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from geo_service.db.migrate import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create officer_areas and the one-person-one-side check on inspections."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop them again."""
    run_sql_file(__file__, "down")
