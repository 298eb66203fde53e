DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['admin_areas', 'eldercare_sites', 'funeral_sites', 'child_sites',
                             'place_names'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_version', t);
    END LOOP;
END $$;
DROP FUNCTION IF EXISTS layer_version_bump();
DROP TABLE IF EXISTS layer_versions;
