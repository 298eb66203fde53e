-- 0005: boundary lines, markers, joint inspections, photos, disputes.
CREATE TABLE boundary_lines (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_key text NOT NULL UNIQUE,
    level text NOT NULL CHECK (level IN ('township', 'county', 'provincial')),
    side_a_code varchar(12) NOT NULL,
    side_a_name text NOT NULL,
    side_b_code varchar(12) NOT NULL,
    side_b_name text NOT NULL,
    geom geometry(MultiLineString, 4490) NOT NULL,
    length_m double precision NOT NULL CHECK (length_m >= 0),
    geom_hash char(64) NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'illustrative',
    status text NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'retired')),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    retired_at timestamptz,
    CHECK (side_a_code < side_b_code)
);
CREATE INDEX boundary_lines_geom_idx ON boundary_lines USING gist (geom);
CREATE INDEX boundary_lines_sides_idx ON boundary_lines (side_a_code, side_b_code);

CREATE TABLE boundary_derivations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    tolerance_m double precision NOT NULL,
    summary jsonb NOT NULL,
    leftovers jsonb NOT NULL DEFAULT '[]'::jsonb
);

CREATE TABLE boundary_markers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number text NOT NULL UNIQUE CHECK (length(btrim(number)) > 0),
    marker_type text NOT NULL CHECK (marker_type IN ('单面', '双面', '三面')),
    material text,
    geom geometry(Point, 4490) NOT NULL,
    elevation_m double precision,
    installed_on date,
    line_id bigint NOT NULL REFERENCES boundary_lines (id),
    note text,
    geometry_accuracy text NOT NULL DEFAULT 'surveyed',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX boundary_markers_geom_idx ON boundary_markers USING gist (geom);
CREATE INDEX boundary_markers_line_idx ON boundary_markers (line_id);

CREATE TABLE marker_references (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marker_id bigint NOT NULL REFERENCES boundary_markers (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    bearing_deg double precision NOT NULL CHECK (bearing_deg >= 0 AND bearing_deg < 360),
    distance_m double precision NOT NULL CHECK (distance_m > 0),
    note text
);
CREATE INDEX marker_references_marker_idx ON marker_references (marker_id);

CREATE TABLE inspections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id bigint NOT NULL REFERENCES boundary_lines (id),
    round text NOT NULL CHECK (length(btrim(round)) > 0),
    inspected_on date NOT NULL,
    side_a_code varchar(12) NOT NULL,
    side_a_officers text[] NOT NULL DEFAULT '{}',
    side_b_code varchar(12) NOT NULL,
    side_b_officers text[] NOT NULL DEFAULT '{}',
    summary text,
    corrects_id bigint REFERENCES inspections (id),
    side_a_signed_by text,
    side_a_signed_at timestamptz,
    side_b_signed_by text,
    side_b_signed_at timestamptz,
    signed_off_at timestamptz,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (signed_off_at IS NULL OR (side_a_signed_at IS NOT NULL AND side_b_signed_at IS NOT NULL))
);
CREATE INDEX inspections_line_idx ON inspections (line_id, round);

CREATE TABLE inspection_findings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inspection_id bigint NOT NULL REFERENCES inspections (id),
    marker_id bigint NOT NULL REFERENCES boundary_markers (id),
    condition text NOT NULL CHECK (condition IN ('完好', '损坏', '丢失', '移位')),
    measured_geom geometry(Point, 4490),
    displacement_m double precision,
    note text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (inspection_id, marker_id)
);

CREATE TABLE inspection_segment_notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inspection_id bigint NOT NULL REFERENCES inspections (id),
    category text NOT NULL CHECK (category IN ('新建道路', '建筑', '耕作', '河道变迁', '其他')),
    geom geometry(Geometry, 4490),
    note text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE photos (
    sha256 char(64) PRIMARY KEY,
    content_type text NOT NULL,
    size_bytes integer NOT NULL CHECK (size_bytes > 0),
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE photo_attachments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256 char(64) NOT NULL REFERENCES photos (sha256),
    marker_id bigint REFERENCES boundary_markers (id),
    inspection_id bigint REFERENCES inspections (id),
    finding_id bigint REFERENCES inspection_findings (id),
    caption text,
    attached_by text NOT NULL,
    attached_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((marker_id IS NOT NULL) <> (inspection_id IS NOT NULL)),
    CHECK (finding_id IS NULL OR inspection_id IS NOT NULL)
);
CREATE INDEX photo_attachments_inspection_idx ON photo_attachments (inspection_id);
CREATE INDEX photo_attachments_marker_idx ON photo_attachments (marker_id);

CREATE TABLE disputes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL CHECK (length(btrim(title)) > 0),
    nature text NOT NULL CHECK (nature IN ('土地', '山林', '水资源', '矿产', '其他')),
    geom geometry(Geometry, 4490) NOT NULL,
    parties text[] NOT NULL CHECK (cardinality(parties) >= 2),
    line_id bigint REFERENCES boundary_lines (id),
    status text NOT NULL DEFAULT 'reported'
        CHECK (status IN ('reported', 'mediating', 'resolved')),
    description text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX disputes_geom_idx ON disputes USING gist (geom);

CREATE TABLE dispute_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dispute_id bigint NOT NULL REFERENCES disputes (id),
    status text NOT NULL CHECK (status IN ('reported', 'mediating', 'resolved')),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    note text
);
CREATE INDEX dispute_events_dispute_idx ON dispute_events (dispute_id, at);

CREATE TABLE dispute_inspections (
    dispute_id bigint NOT NULL REFERENCES disputes (id),
    inspection_id bigint NOT NULL REFERENCES inspections (id),
    PRIMARY KEY (dispute_id, inspection_id)
);

CREATE TABLE idempotency_keys (
    actor text NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash char(64) NOT NULL,
    status_code integer NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (actor, key)
);

-- A signed-off inspection (and everything recorded under it) never changes again.
CREATE FUNCTION inspection_signed_off_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.signed_off_at IS NOT NULL THEN
        RAISE EXCEPTION 'inspection % is signed off and cannot be changed (% refused)',
            OLD.id, TG_OP USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER inspections_immutable BEFORE UPDATE OR DELETE ON inspections
    FOR EACH ROW EXECUTE FUNCTION inspection_signed_off_is_immutable();

CREATE FUNCTION inspection_child_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        parent := OLD.inspection_id;
    ELSE
        parent := NEW.inspection_id;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.inspection_id IS DISTINCT FROM NEW.inspection_id THEN
        IF EXISTS (SELECT 1 FROM inspections WHERE id = OLD.inspection_id
                   AND signed_off_at IS NOT NULL) THEN
            RAISE EXCEPTION 'inspection % is signed off: its % cannot be changed',
                OLD.inspection_id, TG_TABLE_NAME USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    IF parent IS NOT NULL AND EXISTS (SELECT 1 FROM inspections WHERE id = parent
                                      AND signed_off_at IS NOT NULL) THEN
        RAISE EXCEPTION 'inspection % is signed off: its % cannot be changed',
            parent, TG_TABLE_NAME USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER inspection_findings_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON inspection_findings
    FOR EACH ROW EXECUTE FUNCTION inspection_child_is_immutable();
CREATE TRIGGER inspection_segment_notes_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON inspection_segment_notes
    FOR EACH ROW EXECUTE FUNCTION inspection_child_is_immutable();
CREATE TRIGGER photo_attachments_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON photo_attachments
    FOR EACH ROW EXECUTE FUNCTION inspection_child_is_immutable();

-- The dispute timeline is append-only.
CREATE FUNCTION dispute_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dispute_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER dispute_events_append_only BEFORE UPDATE OR DELETE ON dispute_events
    FOR EACH ROW EXECUTE FUNCTION dispute_events_are_append_only();
