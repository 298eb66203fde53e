DROP TABLE dispute_attachments;
ALTER TABLE dispute_events DROP COLUMN kind;
ALTER TABLE disputes DROP COLUMN resolved_a_by, DROP COLUMN resolved_b_by,
    DROP COLUMN decision_document;
DROP TRIGGER inspections_signed_content_frozen ON inspections;
DROP FUNCTION inspection_signed_content_is_frozen();
DROP INDEX inspections_one_correction;
ALTER TABLE inspections DROP CONSTRAINT inspections_signature_binds_content,
    DROP COLUMN line_version, DROP COLUMN signed_content, DROP COLUMN content_hash,
    DROP COLUMN side_a_signed_hash, DROP COLUMN side_b_signed_hash,
    DROP COLUMN side_a_signer_name, DROP COLUMN side_b_signer_name,
    DROP COLUMN returned_reason, DROP COLUMN returned_by, DROP COLUMN returned_at;
ALTER TABLE inspection_findings DROP COLUMN marker_version, DROP COLUMN measured_accuracy_m;
ALTER TABLE photos DROP COLUMN width_px, DROP COLUMN height_px, DROP COLUMN taken_at,
    DROP COLUMN taken_lon, DROP COLUMN taken_lat;
DROP TRIGGER boundary_markers_versioned ON boundary_markers;
DROP TRIGGER marker_references_versioned ON marker_references;
DROP TRIGGER boundary_lines_versioned ON boundary_lines;
DROP FUNCTION boundary_marker_versioned();
DROP FUNCTION boundary_line_versioned();
DROP FUNCTION boundary_marker_version(bigint);
DROP FUNCTION boundary_line_version(bigint);
DROP FUNCTION boundary_marker_data(bigint);
DROP FUNCTION boundary_line_data(bigint);
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['boundary_lines', 'boundary_markers', 'marker_references',
        'photos', 'photo_attachments', 'disputes', 'dispute_events', 'dispute_inspections',
        'officer_areas', 'inspections', 'inspection_findings', 'inspection_segment_notes'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_history', t);
    END LOOP;
END $$;
DROP FUNCTION boundary_history_write();
DROP TABLE boundary_history, boundary_marker_versions, boundary_line_versions;
DROP FUNCTION boundary_history_is_append_only();
-- the 0005 and 0004 function bodies
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
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version, spatial_ref_sys
        FROM geo_service_app;
    RETURN true;
END $$;
