-- 0016 down: the trigram index on the pinyin initials and the pending-list limits.
DROP INDEX IF EXISTS place_search_initials_trgm_idx;
ALTER INDEX place_search_term_trgm_idx RESET (gin_pending_list_limit);
ALTER INDEX place_search_full_trgm_idx RESET (gin_pending_list_limit);
ALTER INDEX place_search_grams_idx RESET (gin_pending_list_limit);
