"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from geo_service.db.migrate import run_sql_file

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply ${up_revision}."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Revert ${up_revision}."""
    run_sql_file(__file__, "down")
