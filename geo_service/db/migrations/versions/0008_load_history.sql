-- 0008: loads keep history: each run records its source and inserted rows, the previous
-- version of every row it changed goes to feature_versions (with the run's id), and a run
-- can be undone once.
ALTER TABLE ingest_runs
    ADD COLUMN source text,
    ADD COLUMN inserted_ids bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN rows_retired integer NOT NULL DEFAULT 0,
    ADD COLUMN undone_at timestamptz,
    ADD COLUMN undone_by text;
ALTER TABLE feature_versions
    ADD COLUMN ingest_run_id bigint REFERENCES ingest_runs (id);
CREATE INDEX feature_versions_run_idx ON feature_versions (ingest_run_id)
    WHERE ingest_run_id IS NOT NULL;
