-- 0001 down: drop everything 0001 created (the extensions stay: other schemas may use them).
DROP TABLE IF EXISTS ingest_runs, neighbour_areas, place_names, child_sites, funeral_sites,
    eldercare_sites, admin_areas CASCADE;
DROP FUNCTION IF EXISTS touch_updated_at();
