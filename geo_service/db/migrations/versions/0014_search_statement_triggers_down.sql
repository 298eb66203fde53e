-- 0014 down: the row triggers of 0003 again.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['place_names', 'eldercare_sites', 'funeral_sites', 'child_sites'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_search_insert', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_search_update', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_search_delete', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION place_search_track()',
                       t || '_search', t);
    END LOOP;
END $$;

DROP FUNCTION place_search_track_rows();
