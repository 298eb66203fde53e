-- 0011: one version counter per layer table. Every INSERT, UPDATE, DELETE or TRUNCATE
-- statement on a layer bumps its counter in the same transaction, so a reader that sees the
-- new rows also sees the new version (the tile cache keys tiles by these versions).
CREATE TABLE layer_versions (
    layer text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 0 CHECK (version >= 0)
);
INSERT INTO layer_versions (layer)
VALUES ('admin_areas'), ('eldercare_sites'), ('funeral_sites'), ('child_sites'), ('place_names');

CREATE FUNCTION layer_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE layer_versions SET version = version + 1 WHERE layer = TG_TABLE_NAME;
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['admin_areas', 'eldercare_sites', 'funeral_sites', 'child_sites',
                             'place_names'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION layer_version_bump()',
                       t || '_version', t);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geo_service_app') THEN
        GRANT SELECT, UPDATE ON layer_versions TO geo_service_app;
    END IF;
END $$;
