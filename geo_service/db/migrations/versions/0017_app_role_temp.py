"""The application role may create temporary tables (the search-index refresh uses one).

Revision ID: 0017
Revises: 0004
Create Date: 2026-12-01
"""

from geo_service.db.migrate import run_sql_file

revision = "0017"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Grant TEMPORARY on this database to the app role."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Take the grant back."""
    run_sql_file(__file__, "down")
