-- 0016: faster place search (indexes for the look-ups that scanned, small GIN pending lists).
-- Initials typed from a syllable inside a name (fshly → 龙岗福寿护理院) are matched with
-- pinyin_initials LIKE '%…%'; without a trigram index that was a scan of the whole table.
-- A category word (养老院, 老年食堂) lists every facility of its kinds: a partial index on the
-- facilities' kinds instead of a scan.
CREATE INDEX place_search_facility_kind_idx ON place_search (category)
    WHERE term_type = 'name' AND source_table <> 'place_names';
-- Every search reads the GIN indexes' pending lists in full; after a large load they held up
-- to the default 4 MB each until autovacuum merged them (several ms per look-up). A 256 kB
-- limit makes the loading transaction merge them as it goes.
CREATE INDEX place_search_initials_trgm_idx ON place_search USING gin (pinyin_initials gin_trgm_ops)
    WITH (gin_pending_list_limit = 256);
ALTER INDEX place_search_term_trgm_idx SET (gin_pending_list_limit = 256);
ALTER INDEX place_search_full_trgm_idx SET (gin_pending_list_limit = 256);
ALTER INDEX place_search_grams_idx SET (gin_pending_list_limit = 256);
