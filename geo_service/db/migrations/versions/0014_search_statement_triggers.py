"""The search index's triggers fire once per statement (transition tables), not once per row.

Revision ID: 0014
Revises: 0003
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0014"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace the row triggers of the indexed layers by statement triggers."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Back to the row triggers of 0003."""
    run_sql_file(__file__, "down")
