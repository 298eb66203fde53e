"""Joint-inspection records that hold: signed content hashes, marker and line versions,
database-written history of every boundary table, GPS accuracy and photo EXIF.

Revision ID: 0007
Revises: 0006, 0004
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0007"
down_revision = ("0006", "0004")  # merges the accounts branch: the app role and its grants
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create history and version tables, their triggers and the new columns."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop them again (restoring the 0005/0004 functions)."""
    run_sql_file(__file__, "down")
