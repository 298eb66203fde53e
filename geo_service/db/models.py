"""SQLAlchemy Core tables mirroring the migrated schema (a test keeps the two in step)."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
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
    Column("source", Text),
    Column("inserted_ids", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    Column("rows_retired", Integer, nullable=False, server_default=text("0")),
    Column("undone_at", DateTime(timezone=True)),
    Column("undone_by", Text),
)

roads = Table(
    "roads", metadata,
    *_identity(),
    Column("name", Text),
    Column("kind", Text, nullable=False),
    Column("oneway", Boolean),
    Column("speed_kmh", Double),
    _geom("MULTILINESTRING"),
    *_provenance(),
)

LAYER_TABLES: dict[str, Table] = {
    t.name: t for t in (eldercare_sites, funeral_sites, child_sites, admin_areas, place_names,
                        roads)
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


# Boundary lines, markers, joint inspections, photos and disputes (migration 0005).
boundary_lines = Table(
    "boundary_lines", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("line_key", Text, nullable=False, unique=True),
    Column("level", Text, nullable=False),
    Column("side_a_code", String(12), nullable=False),
    Column("side_a_name", Text, nullable=False),
    Column("side_b_code", String(12), nullable=False),
    Column("side_b_name", Text, nullable=False),
    _geom("MULTILINESTRING"),
    Column("length_m", Double, nullable=False),
    Column("geom_hash", CHAR(64), nullable=False),
    Column("geometry_accuracy", Text, nullable=False, server_default=text("'illustrative'")),
    Column("status", Text, nullable=False, server_default=text("'current'")),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("retired_at", DateTime(timezone=True)),
)

boundary_derivations = Table(
    "boundary_derivations", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("actor", Text, nullable=False),
    Column("tolerance_m", Double, nullable=False),
    Column("summary", JSONB, nullable=False),
    Column("leftovers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
)

boundary_markers = Table(
    "boundary_markers", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("number", Text, nullable=False, unique=True),
    Column("marker_type", Text, nullable=False),
    Column("material", Text),
    _geom("POINT"),
    Column("elevation_m", Double),
    Column("installed_on", Date),
    Column("line_id", BigInteger, ForeignKey("boundary_lines.id"), nullable=False),
    Column("note", Text),
    Column("geometry_accuracy", Text, nullable=False, server_default=text("'surveyed'")),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("status", Text, nullable=False, server_default=text("'在用'")),  # 0013: lifecycle
)

marker_references = Table(
    "marker_references", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("marker_id", BigInteger, ForeignKey("boundary_markers.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", Text, nullable=False),
    Column("bearing_deg", Double, nullable=False),
    Column("distance_m", Double, nullable=False),
    Column("note", Text),
)

inspections = Table(
    "inspections", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("line_id", BigInteger, ForeignKey("boundary_lines.id"), nullable=False),
    Column("round", Text, nullable=False),
    Column("inspected_on", Date, nullable=False),
    Column("side_a_code", String(12), nullable=False),
    Column("side_a_officers", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("side_b_code", String(12), nullable=False),
    Column("side_b_officers", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("summary", Text),
    Column("corrects_id", BigInteger, ForeignKey("inspections.id")),
    Column("side_a_signed_by", Text),
    Column("side_a_signed_at", DateTime(timezone=True)),
    Column("side_b_signed_by", Text),
    Column("side_b_signed_at", DateTime(timezone=True)),
    Column("signed_off_at", DateTime(timezone=True)),
    Column("created_by", Text, nullable=False),
    Column("line_version", Integer),  # 0007: the line version inspected
    Column("signed_content", JSONB),  # 0007: the content as signed (frozen at the 1st signature)
    Column("content_hash", CHAR(64)),
    Column("side_a_signed_hash", CHAR(64)),
    Column("side_b_signed_hash", CHAR(64)),
    Column("side_a_signer_name", Text),  # full names as they signed
    Column("side_b_signer_name", Text),
    Column("returned_reason", Text),
    Column("returned_by", Text),
    Column("returned_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

officer_areas = Table(  # 0006: the area whose side of a line a boundary officer signs
    "officer_areas", metadata,
    Column("username", Text, primary_key=True),
    Column("area_code", String(12), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

inspection_findings = Table(
    "inspection_findings", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("inspection_id", BigInteger, ForeignKey("inspections.id"), nullable=False),
    Column("marker_id", BigInteger, ForeignKey("boundary_markers.id"), nullable=False),
    Column("condition", Text, nullable=False),
    _geom("POINT", nullable=True, name="measured_geom"),
    Column("displacement_m", Double),
    Column("note", Text),
    Column("marker_version", Integer),  # 0007: the marker version inspected
    Column("measured_accuracy_m", Double),  # 0007: the phone's GPS accuracy
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

inspection_segment_notes = Table(
    "inspection_segment_notes", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("inspection_id", BigInteger, ForeignKey("inspections.id"), nullable=False),
    Column("category", Text, nullable=False),
    _geom("GEOMETRY", nullable=True),
    Column("note", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

photos = Table(
    "photos", metadata,
    Column("sha256", CHAR(64), primary_key=True),
    Column("content_type", Text, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("uploaded_by", Text, nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("width_px", Integer),  # 0007: decoded size and EXIF time/position
    Column("height_px", Integer),
    Column("taken_at", DateTime(timezone=True)),
    Column("taken_lon", Double),
    Column("taken_lat", Double),
)

photo_attachments = Table(
    "photo_attachments", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("sha256", CHAR(64), ForeignKey("photos.sha256"), nullable=False),
    Column("marker_id", BigInteger, ForeignKey("boundary_markers.id")),
    Column("inspection_id", BigInteger, ForeignKey("inspections.id")),
    Column("finding_id", BigInteger, ForeignKey("inspection_findings.id")),
    Column("caption", Text),
    Column("attached_by", Text, nullable=False),
    Column("attached_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

disputes = Table(
    "disputes", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("nature", Text, nullable=False),
    _geom("GEOMETRY"),
    Column("parties", ARRAY(Text), nullable=False),
    Column("line_id", BigInteger, ForeignKey("boundary_lines.id")),
    Column("status", Text, nullable=False, server_default=text("'reported'")),
    Column("description", Text),
    Column("resolved_a_by", Text),  # 0007: resolution confirmed by each side's officer…
    Column("resolved_b_by", Text),
    Column("decision_document", Text),  # …or the deciding authority's document (admin)
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

dispute_events = Table(
    "dispute_events", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("dispute_id", BigInteger, ForeignKey("disputes.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("actor", Text, nullable=False),
    Column("note", Text),
    Column("kind", Text, nullable=False, server_default=text("'status'")),  # 0007
)

dispute_attachments = Table(  # 0007: documents and photos of a dispute
    "dispute_attachments", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("dispute_id", BigInteger, ForeignKey("disputes.id"), nullable=False),
    Column("sha256", CHAR(64), nullable=False),
    Column("kind", Text, nullable=False),
    Column("filename", Text),
    Column("content_type", Text, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("caption", Text),
    Column("attached_by", Text, nullable=False),
    Column("attached_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

dispute_inspections = Table(
    "dispute_inspections", metadata,
    Column("dispute_id", BigInteger, ForeignKey("disputes.id"), primary_key=True),
    Column("inspection_id", BigInteger, ForeignKey("inspections.id"), primary_key=True),
)

# 0007: history written by triggers, and versions of markers and lines (append-only).
boundary_history = Table(
    "boundary_history", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("table_name", Text, nullable=False),
    Column("record_id", Text, nullable=False),
    Column("operation", Text, nullable=False),
    Column("old_data", JSONB),
    Column("new_data", JSONB),
    Column("db_role", Text, nullable=False),
    Column("app_user", Text),
    Column("changed_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("txid", BigInteger, nullable=False),
)

boundary_marker_versions = Table(
    "boundary_marker_versions", metadata,
    Column("marker_id", BigInteger, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("data", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

boundary_line_versions = Table(
    "boundary_line_versions", metadata,
    Column("line_id", BigInteger, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("data", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("actor", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", CHAR(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)

users = Table(
    "users", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("full_name", Text),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_login_at", DateTime(timezone=True)),
)

login_throttle = Table(  # failed logins, shared by every worker (auth/throttle.py)
    "login_throttle", metadata,
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True)),
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", CHAR(64), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("client", Text),
)

feature_versions = Table(
    "feature_versions", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("layer", Text, nullable=False),
    Column("feature_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("changed_by", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
    Column("ingest_run_id", BigInteger, ForeignKey("ingest_runs.id")),
)

# The gazetteer's search index (migration 0003): one row per name, alias, former name or
# facility address, with pinyin keys; refreshed by geo_service.gazetteer.index.
place_search = Table(
    "place_search", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source_table", Text, nullable=False),
    Column("source_id", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("term", Text, nullable=False),
    Column("term_type", Text, nullable=False),
    Column("from_year", Integer),
    Column("to_year", Integer),
    Column("pinyin_full", Text),
    Column("pinyin_initials", Text),
    Column("grams", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("category", Text),
    Column("category_code", Text),
    Column("importance", SmallInteger, nullable=False),
    Column("township_code", String(12)),
    Column("is_public", Boolean, nullable=False),
    _geom("GEOMETRY"),
)

place_search_pending = Table(
    "place_search_pending", metadata,
    Column("source_table", Text, primary_key=True),
    Column("source_id", BigInteger, primary_key=True),
)

layer_versions = Table(  # 0011: bumped by a statement trigger on every change of a layer
    "layer_versions", metadata,
    Column("layer", Text, primary_key=True),
    Column("version", BigInteger, nullable=False, server_default=text("0")),
)
