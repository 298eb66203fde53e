-- 0014: the search index's bookkeeping once per statement instead of once per row.
-- A load of 100 000 facilities fired place_search_track() 100 000 times (one DELETE and one
-- INSERT each); with transition tables the same work is two set-based statements. What is
-- done is unchanged: changed or deleted records lose their index rows at once, inserted and
-- updated ones are queued in place_search_pending, deleted ones leave the queue.
-- (PostgreSQL allows transition tables only on single-event triggers: three per table.)

CREATE FUNCTION place_search_track_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM place_search s USING old_rows o
            WHERE s.source_table = TG_TABLE_NAME AND s.source_id = o.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM place_search_pending p USING old_rows o
            WHERE p.source_table = TG_TABLE_NAME AND p.source_id = o.id;
    ELSE
        INSERT INTO place_search_pending (source_table, source_id)
            SELECT TG_TABLE_NAME, n.id FROM new_rows n ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['place_names', 'eldercare_sites', 'funeral_sites', 'child_sites'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_search', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION place_search_track_rows()',
                       t || '_search_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION place_search_track_rows()',
                       t || '_search_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION place_search_track_rows()',
                       t || '_search_delete', t);
    END LOOP;
END $$;
