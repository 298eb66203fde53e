-- 0007: joint-inspection records that hold as legal records.
--  * every change to a boundary table is written to boundary_history by a trigger (whoever
--    connects); the application role may only read it;
--  * markers and lines are versioned (boundary_marker_versions / boundary_line_versions);
--    a finding refers to the marker version it inspected, an inspection to the line version;
--  * a signature binds a hash of the record's content: the first signature freezes the
--    content (signed_content); edits are refused until the signature is withdrawn;
--  * GPS accuracy of measured positions, EXIF time/position of photos, one correction at a time.

-- ---- history, written by the database itself ----------------------------------------------
CREATE TABLE boundary_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name text NOT NULL,
    record_id text NOT NULL,
    operation text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    old_data jsonb,
    new_data jsonb,
    db_role text NOT NULL,
    app_user text,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    txid bigint NOT NULL DEFAULT txid_current()
);
CREATE INDEX boundary_history_record_idx ON boundary_history (table_name, record_id, id);

CREATE FUNCTION boundary_history_write() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    o jsonb;
    n jsonb;
    k text;
BEGIN
    IF TG_OP <> 'INSERT' THEN o := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN n := to_jsonb(NEW); END IF;
    IF TG_OP = 'UPDATE' AND o = n THEN
        RETURN NULL;
    END IF;
    k := concat_ws('/', COALESCE(n, o) ->> TG_ARGV[0],
                   CASE WHEN TG_NARGS > 1 THEN COALESCE(n, o) ->> TG_ARGV[1] END);
    INSERT INTO boundary_history (table_name, record_id, operation, old_data, new_data,
                                  db_role, app_user)
    VALUES (TG_TABLE_NAME, k, TG_OP, o, n,
            CASE WHEN current_setting('role') IN ('none', '') THEN session_user::text
                 ELSE current_setting('role') END,
            NULLIF(current_setting('geo_service.actor', true), ''));
    RETURN NULL;
END $$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('boundary_lines', 'id', NULL), ('boundary_markers', 'id', NULL),
        ('marker_references', 'id', NULL), ('photos', 'sha256', NULL),
        ('photo_attachments', 'id', NULL), ('disputes', 'id', NULL),
        ('dispute_events', 'id', NULL), ('dispute_inspections', 'dispute_id', 'inspection_id'),
        ('officer_areas', 'username', NULL), ('inspections', 'id', NULL),
        ('inspection_findings', 'id', NULL), ('inspection_segment_notes', 'id', NULL)
    ) AS v(name, key1, key2) LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION boundary_history_write(%L%s)',
                       t.name || '_history', t.name, t.key1,
                       CASE WHEN t.key2 IS NULL THEN '' ELSE format(', %L', t.key2) END);
    END LOOP;
END $$;

-- ---- versions of markers and lines ---------------------------------------------------------
CREATE TABLE boundary_marker_versions (
    marker_id bigint NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (marker_id, version)
);

CREATE TABLE boundary_line_versions (
    line_id bigint NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (line_id, version)
);

CREATE FUNCTION boundary_marker_data(mid bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', m.id, 'number', m.number, 'marker_type', m.marker_type, 'material', m.material,
        'lon', round(ST_X(m.geom)::numeric, 8), 'lat', round(ST_Y(m.geom)::numeric, 8),
        'elevation_m', m.elevation_m, 'installed_on', m.installed_on, 'line_id', m.line_id,
        'note', m.note, 'geometry_accuracy', m.geometry_accuracy,
        'references', COALESCE((SELECT jsonb_agg(jsonb_build_object(
            'name', r.name, 'bearing_deg', r.bearing_deg, 'distance_m', r.distance_m,
            'note', r.note) ORDER BY r.id) FROM marker_references r
            WHERE r.marker_id = m.id), '[]'::jsonb))
    FROM boundary_markers m WHERE m.id = mid
$$;

CREATE FUNCTION boundary_line_data(lid bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', l.id, 'line_key', l.line_key, 'level', l.level,
        'side_a_code', l.side_a_code, 'side_a_name', l.side_a_name,
        'side_b_code', l.side_b_code, 'side_b_name', l.side_b_name,
        'length_m', round(l.length_m::numeric, 3), 'geometry_accuracy', l.geometry_accuracy,
        'status', l.status, 'geom', ST_AsGeoJSON(l.geom, 8)::jsonb)
    FROM boundary_lines l WHERE l.id = lid
$$;

-- The current version number of a marker, recording a new version first if it changed.
CREATE FUNCTION boundary_marker_version(mid bigint) RETURNS integer LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    d jsonb := boundary_marker_data(mid);
    lv integer;
    ld jsonb;
BEGIN
    SELECT version, data INTO lv, ld FROM boundary_marker_versions
        WHERE marker_id = mid ORDER BY version DESC LIMIT 1;
    IF d IS NULL OR ld = d THEN
        RETURN lv;
    END IF;
    INSERT INTO boundary_marker_versions (marker_id, version, data)
        VALUES (mid, COALESCE(lv, 0) + 1, d);
    RETURN COALESCE(lv, 0) + 1;
END $$;

CREATE FUNCTION boundary_line_version(lid bigint) RETURNS integer LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    d jsonb := boundary_line_data(lid);
    lv integer;
    ld jsonb;
BEGIN
    SELECT version, data INTO lv, ld FROM boundary_line_versions
        WHERE line_id = lid ORDER BY version DESC LIMIT 1;
    IF d IS NULL OR ld = d THEN
        RETURN lv;
    END IF;
    INSERT INTO boundary_line_versions (line_id, version, data)
        VALUES (lid, COALESCE(lv, 0) + 1, d);
    RETURN COALESCE(lv, 0) + 1;
END $$;

-- At commit (deferred), every changed marker or line has its new version recorded.
CREATE FUNCTION boundary_marker_versioned() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'marker_references' THEN
        PERFORM boundary_marker_version(CASE WHEN TG_OP = 'DELETE' THEN OLD.marker_id
                                             ELSE NEW.marker_id END);
    ELSE
        PERFORM boundary_marker_version(NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER boundary_markers_versioned AFTER INSERT OR UPDATE ON boundary_markers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION boundary_marker_versioned();
CREATE CONSTRAINT TRIGGER marker_references_versioned
    AFTER INSERT OR UPDATE OR DELETE ON marker_references
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION boundary_marker_versioned();

CREATE FUNCTION boundary_line_versioned() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM boundary_line_version(NEW.id);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER boundary_lines_versioned AFTER INSERT OR UPDATE ON boundary_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION boundary_line_versioned();

-- versions of what exists already
SELECT boundary_marker_version(id) FROM boundary_markers;
SELECT boundary_line_version(id) FROM boundary_lines;

-- History and versions are append-only, for everyone.
CREATE FUNCTION boundary_history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['boundary_history', 'boundary_marker_versions',
                             'boundary_line_versions'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION boundary_history_is_append_only()',
                       t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION boundary_history_is_append_only()',
                       t || '_no_truncate', t);
    END LOOP;
END $$;

-- ---- inspections: versions referred to, signed content, send-back -------------------------
ALTER TABLE inspections
    ADD COLUMN line_version integer,
    ADD COLUMN signed_content jsonb,
    ADD COLUMN content_hash char(64),
    ADD COLUMN side_a_signed_hash char(64),
    ADD COLUMN side_b_signed_hash char(64),
    ADD COLUMN side_a_signer_name text,
    ADD COLUMN side_b_signer_name text,
    ADD COLUMN returned_reason text,
    ADD COLUMN returned_by text,
    ADD COLUMN returned_at timestamptz,
    ADD CONSTRAINT inspections_signature_binds_content CHECK (
        (side_a_signed_at IS NULL OR side_a_signed_hash = content_hash)
        AND (side_b_signed_at IS NULL OR side_b_signed_hash = content_hash)
        AND ((signed_content IS NULL) = (content_hash IS NULL))) NOT VALID;
-- (NOT VALID: records signed before 0007 carry no hash; every new signature is checked)
UPDATE inspections SET line_version = boundary_line_version(line_id);
-- one correction at a time: a record has at most one correction (correct the correction next)
CREATE UNIQUE INDEX inspections_one_correction ON inspections (corrects_id)
    WHERE corrects_id IS NOT NULL;

ALTER TABLE inspection_findings
    ADD COLUMN marker_version integer,
    ADD COLUMN measured_accuracy_m double precision
        CHECK (measured_accuracy_m IS NULL OR measured_accuracy_m > 0);
UPDATE inspection_findings SET marker_version = boundary_marker_version(marker_id);

ALTER TABLE photos
    ADD COLUMN width_px integer,
    ADD COLUMN height_px integer,
    ADD COLUMN taken_at timestamptz,
    ADD COLUMN taken_lon double precision,
    ADD COLUMN taken_lat double precision;

-- ---- disputes: resolution by both sides (or a decision), mediation events, attachments ---
ALTER TABLE disputes
    ADD COLUMN resolved_a_by text,
    ADD COLUMN resolved_b_by text,
    ADD COLUMN decision_document text;
ALTER TABLE dispute_events ADD COLUMN kind text NOT NULL DEFAULT 'status'
    CHECK (kind IN ('status', 'mediation', 'confirm', 'reopen', 'attachment'));
CREATE TABLE dispute_attachments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dispute_id bigint NOT NULL REFERENCES disputes (id),
    sha256 char(64) NOT NULL,
    kind text NOT NULL CHECK (kind IN ('photo', 'document')),
    filename text,
    content_type text NOT NULL,
    size_bytes integer NOT NULL CHECK (size_bytes > 0),
    caption text,
    attached_by text NOT NULL,
    attached_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX dispute_attachments_dispute_idx ON dispute_attachments (dispute_id);
CREATE TRIGGER dispute_attachments_history AFTER INSERT OR UPDATE OR DELETE
    ON dispute_attachments FOR EACH ROW EXECUTE FUNCTION boundary_history_write('id');

-- Once a side has signed, the content it signed cannot change until the signature is withdrawn.
CREATE FUNCTION inspection_signed_content_is_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.signed_content IS NOT NULL AND NEW.signed_content IS NOT NULL AND (
            NEW.round, NEW.inspected_on, NEW.side_a_officers, NEW.side_b_officers,
            NEW.summary, NEW.line_id, NEW.line_version, NEW.corrects_id,
            NEW.signed_content, NEW.content_hash)
            IS DISTINCT FROM (
            OLD.round, OLD.inspected_on, OLD.side_a_officers, OLD.side_b_officers,
            OLD.summary, OLD.line_id, OLD.line_version, OLD.corrects_id,
            OLD.signed_content, OLD.content_hash) THEN
        RAISE EXCEPTION 'inspection % has been signed: its content cannot change until the '
            'signature is withdrawn', OLD.id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER inspections_signed_content_frozen BEFORE UPDATE ON inspections
    FOR EACH ROW EXECUTE FUNCTION inspection_signed_content_is_frozen();

CREATE OR REPLACE FUNCTION inspection_child_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
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
                   AND (signed_off_at IS NOT NULL OR signed_content IS NOT NULL)) THEN
            RAISE EXCEPTION 'inspection % is signed: its % cannot be changed',
                OLD.inspection_id, TG_TABLE_NAME USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    IF parent IS NOT NULL AND EXISTS (SELECT 1 FROM inspections WHERE id = parent
            AND (signed_off_at IS NOT NULL OR signed_content IS NOT NULL)) THEN
        RAISE EXCEPTION 'inspection % is signed: its % cannot be changed',
            parent, TG_TABLE_NAME USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- ---- the application role reads history and versions, never writes them ------------------
CREATE OR REPLACE FUNCTION geo_service_grant_app_role() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geo_service_app') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
                       AND (rolsuper OR rolcreaterole)) THEN
            RETURN false;  -- no right to create roles: the app keeps the connecting role
        END IF;
        BEGIN
            CREATE ROLE geo_service_app NOLOGIN NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by another database's migration
        END;
    END IF;
    BEGIN
        EXECUTE format('GRANT geo_service_app TO %I', current_user);
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- already a member, or a superuser (who may SET ROLE anyway)
    END;
    GRANT USAGE ON SCHEMA public TO geo_service_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO geo_service_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO geo_service_app;
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO geo_service_app',
                   current_user);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT USAGE, SELECT ON SEQUENCES TO geo_service_app', current_user);
    -- The audit log and past versions are append-only for the application.
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, feature_versions FROM geo_service_app;
    -- Boundary history and versions are written by triggers only (0007).
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON boundary_history, boundary_marker_versions,
        boundary_line_versions FROM geo_service_app;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version, spatial_ref_sys
        FROM geo_service_app;
    RETURN true;
END $$;

SELECT geo_service_grant_app_role();
