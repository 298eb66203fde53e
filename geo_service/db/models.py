"""SQLAlchemy Core tables mirroring the migrated schema (a test keeps the two in step)."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    CHAR,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from geo_service.crs import STORAGE_SRID

metadata = MetaData()


def _geom(kind: str, nullable: bool = False, name: str = "geom") -> Column:
    """A CGCS2000 geometry column (spatial index made by the migration)."""
    return Column(name, Geometry(kind, srid=STORAGE_SRID, spatial_index=False), nullable=nullable)


def _identity() -> list[Column]:
    """Stable id and the upsert key shared by every layer."""
    return [
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("external_id", Text, nullable=False, unique=True),
    ]


def _provenance() -> list[Column]:
    """Source, accuracy, visibility, unmapped input columns and timestamps."""
    return [
        Column("source", Text, nullable=False),
        Column("geometry_accuracy", Text, nullable=False, server_default=text("'unknown'")),
        Column("is_public", Boolean, nullable=False, server_default=text("true")),
        Column("extra", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _site_contact() -> list[Column]:
    """Address, phone, hours, status and township of a point facility."""
    return [
        Column("address", Text),
        Column("phone", Text),
        Column("opening_hours", Text),
        Column("status", Text, nullable=False, server_default=text("'运营'")),
        Column("township_code", String(12)),
        Column("contact_person", Text),
    ]


admin_areas = Table(
    "admin_areas", metadata,
    *_identity(),
    Column("code", String(12), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("parent_code", String(12)),
    Column("population", Integer),
    Column("population_60plus", Integer),
    Column("population_0_17", Integer),
    Column("households", Integer),
    Column("figures_source", Text),
    _geom("POINT", nullable=True, name="rep_point"),
    _geom("MULTIPOLYGON"),
    *_provenance(),
)

eldercare_sites = Table(
    "eldercare_sites", metadata,
    *_identity(),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("operator_type", Text),
    Column("beds", Integer),
    Column("nursing_beds", Integer),
    Column("occupied_beds", Integer),
    Column("star_rating", SmallInteger),
    Column("services", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    *_site_contact(),
    Column("contact_phone", Text),
    _geom("POINT"),
    *_provenance(),
)

funeral_sites = Table(
    "funeral_sites", metadata,
    *_identity(),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("capacity", Integer),
    Column("used", Integer),
    Column("eco_burial", Boolean),
    Column("operator_type", Text),
    *_site_contact(),
    _geom("MULTIPOLYGON", nullable=True, name="site_area"),
    _geom("POINT"),
    *_provenance(),
)

child_sites = Table(
    "child_sites", metadata,
    *_identity(),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("capacity", Integer),
    *_site_contact(),
    Column("contact_phone", Text),
    _geom("POINT"),
    *_provenance(),
)

place_names = Table(
    "place_names", metadata,
    *_identity(),
    Column("name", Text, nullable=False),
    Column("code", Text),
    Column("pinyin", Text),
    Column("category_code", Text),
    Column("category", Text),
    Column("admin_code", String(12)),
    Column("meaning", Text),
    Column("origin", Text),
    Column("history", Text),
    Column("aliases", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("historic_list", Text),
    Column("historic_batch", Integer),
    Column("historic_year", Integer),
    Column("historic_category", Text),
    Column("historic_criteria", Text),
    Column("protection_measures", Text),
    Column("still_in_use", Boolean),
    _geom("GEOMETRY"),
    *_provenance(),
)

neighbour_areas = Table(
    "neighbour_areas", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("code", String(12), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("province", Text, nullable=False),
    _geom("MULTIPOLYGON"),
    Column("source", Text, nullable=False),
    Column("geometry_accuracy", Text, nullable=False, server_default=text("'published'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

ingest_runs = Table(
    "ingest_runs", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("layer", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("file_sha256", CHAR(64), nullable=False),
    Column("input_crs", Text, nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_inserted", Integer, nullable=False),
    Column("rows_updated", Integer, nullable=False),
    Column("rows_unchanged", Integer, nullable=False),
    Column("rows_skipped", Integer, nullable=False),
    Column("problems", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("loaded_by", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

LAYER_TABLES: dict[str, Table] = {
    t.name: t for t in (eldercare_sites, funeral_sites, child_sites, admin_areas, place_names)
}

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("actor", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("record_id", Text),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("request_id", Text),
    Column("note", Text),
)
