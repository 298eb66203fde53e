-- 0017: the search-index refresh (gazetteer/index.py) stages its rows in a temporary table,
-- also when a search runs it as geo_service_app. PUBLIC has TEMPORARY on a new database by
-- default, but a hardened or managed server may have revoked it: grant it to the app role
-- itself. A migrating user who may not grant it gets a notice, not a failed migration.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geo_service_app') THEN
        BEGIN
            EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO geo_service_app',
                           current_database());
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'could not grant TEMPORARY on % to geo_service_app: %',
                current_database(), SQLERRM;
        END;
    END IF;
END $$;
