"""The gazetteer's search index of place and facility names, kept in step by triggers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from geo_service.db.migrate import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = ("gazetteer",)
depends_on = None


def upgrade() -> None:
    """Create place_search, its queue and the triggers that fill the queue."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop the search index, its queue and triggers."""
    run_sql_file(__file__, "down")
