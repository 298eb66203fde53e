-- 0003: the gazetteer's search index.
--
-- One row per searchable term (standard name, alias, former name, facility address) of a
-- place name or facility, with its pinyin keys (computed in Python: pinyin cannot be
-- derived in SQL). Triggers on the source tables keep it honest: any change removes the
-- record's index rows at once (so a hidden or deleted record is never found) and queues the
-- record; geo_service.gazetteer.index.refresh_search_index re-derives queued records after
-- each load and before each search. `grams` holds every 1- and 2-character substring of the
-- term, so substring search for one or two Chinese characters is indexed too (pg_trgm
-- covers three and more).
CREATE TABLE place_search (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table text NOT NULL CHECK (source_table IN (
        'place_names', 'eldercare_sites', 'funeral_sites', 'child_sites')),
    source_id bigint NOT NULL,
    name text NOT NULL,
    term text NOT NULL CHECK (btrim(term) <> ''),
    term_type text NOT NULL CHECK (term_type IN ('name', 'alias', 'former', 'address')),
    from_year integer,
    to_year integer,
    pinyin_full text,
    pinyin_initials text,
    grams text[] NOT NULL DEFAULT '{}',
    category text,
    category_code text,
    importance smallint NOT NULL,
    township_code varchar(12),
    is_public boolean NOT NULL,
    geom geometry(Geometry, 4490) NOT NULL
);
CREATE INDEX place_search_source_idx ON place_search (source_table, source_id);
CREATE INDEX place_search_term_idx ON place_search (term text_pattern_ops);
CREATE INDEX place_search_term_trgm_idx ON place_search USING gin (term gin_trgm_ops);
CREATE INDEX place_search_full_idx ON place_search (pinyin_full text_pattern_ops);
CREATE INDEX place_search_full_trgm_idx ON place_search USING gin (pinyin_full gin_trgm_ops);
CREATE INDEX place_search_grams_idx ON place_search USING gin (grams);
CREATE INDEX place_search_initials_idx ON place_search (pinyin_initials text_pattern_ops);
CREATE INDEX place_search_geom_idx ON place_search USING gist (geom);

CREATE TABLE place_search_pending (
    source_table text NOT NULL,
    source_id bigint NOT NULL,
    PRIMARY KEY (source_table, source_id)
);

CREATE FUNCTION place_search_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM place_search WHERE source_table = TG_TABLE_NAME AND source_id = OLD.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM place_search_pending
            WHERE source_table = TG_TABLE_NAME AND source_id = OLD.id;
    ELSE
        INSERT INTO place_search_pending (source_table, source_id)
            VALUES (TG_TABLE_NAME, NEW.id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION place_search_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM place_search WHERE source_table = TG_TABLE_NAME;
    DELETE FROM place_search_pending WHERE source_table = TG_TABLE_NAME;
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['place_names', 'eldercare_sites', 'funeral_sites', 'child_sites'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION place_search_track()',
                       t || '_search', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION place_search_truncate()',
                       t || '_search_truncate', t);
        EXECUTE format('INSERT INTO place_search_pending (source_table, source_id) '
                       'SELECT %L, id FROM %I', t, t);
    END LOOP;
END $$;
