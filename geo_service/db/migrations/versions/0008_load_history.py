"""Load history: ingest_runs keep their inserted rows and source; versions name their load.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the history columns and the versions' run link."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop them again."""
    run_sql_file(__file__, "down")
