"""Accounts, login sessions, feature versions and the application's database role.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23
"""

from geo_service.db.migrate import run_sql_file

revision = "0004"
down_revision = "0002"
branch_labels = ("accounts",)
depends_on = None


def upgrade() -> None:
    """Create users, sessions, feature_versions and grant the app role."""
    run_sql_file(__file__, "up")


def downgrade() -> None:
    """Drop them and revoke the app role's grants in this database."""
    run_sql_file(__file__, "down")
