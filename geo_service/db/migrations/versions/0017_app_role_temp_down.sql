-- 0017 down: the app role's own TEMPORARY grant (PUBLIC's, if any, is left as it is).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geo_service_app') THEN
        EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM geo_service_app',
                       current_database());
    END IF;
END $$;
