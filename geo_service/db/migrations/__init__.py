"""Alembic migrations of the geo_service schema."""
