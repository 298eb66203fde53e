DROP INDEX IF EXISTS feature_versions_run_idx;
ALTER TABLE feature_versions DROP COLUMN IF EXISTS ingest_run_id;
ALTER TABLE ingest_runs
    DROP COLUMN IF EXISTS source,
    DROP COLUMN IF EXISTS inserted_ids,
    DROP COLUMN IF EXISTS rows_retired,
    DROP COLUMN IF EXISTS undone_at,
    DROP COLUMN IF EXISTS undone_by;
