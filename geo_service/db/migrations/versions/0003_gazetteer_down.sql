-- 0003 down: the gazetteer's search index.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['place_names', 'eldercare_sites', 'funeral_sites', 'child_sites'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_search', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_search_truncate', t);
    END LOOP;
END $$;
DROP FUNCTION IF EXISTS place_search_track();
DROP FUNCTION IF EXISTS place_search_truncate();
DROP TABLE IF EXISTS place_search_pending;
DROP TABLE IF EXISTS place_search;
