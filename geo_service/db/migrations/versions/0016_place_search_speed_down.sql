-- 0016 down: the initials' trigram index, the facility-kind index and the pending-list limits.
DROP INDEX IF EXISTS place_search_initials_trgm_idx;
DROP INDEX IF EXISTS place_search_facility_kind_idx;
ALTER INDEX place_search_term_trgm_idx RESET (gin_pending_list_limit);
ALTER INDEX place_search_full_trgm_idx RESET (gin_pending_list_limit);
ALTER INDEX place_search_grams_idx RESET (gin_pending_list_limit);
