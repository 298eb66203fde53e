"""Boundary lines, markers (界桩), joint inspections (联检), photos and disputes.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23
"""

from geo_service.db.migrate import run_sql_file

revision = "0005"
down_revision = "0002"
branch_labels = ("boundaries",)
depends_on = None


def upgrade() -> None:
    """Create the boundary tables and the immutability triggers."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop the boundary tables."""
    run_sql_file(__file__, "down")
