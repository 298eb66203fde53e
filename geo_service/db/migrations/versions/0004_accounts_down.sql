-- 0004 down: drop accounts and versions; revoke the app role's grants here (the role itself
-- is cluster-wide and may serve other databases, so it stays).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geo_service_app') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                       'REVOKE ALL ON TABLES FROM geo_service_app', current_user);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                       'REVOKE ALL ON SEQUENCES FROM geo_service_app', current_user);
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM geo_service_app;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM geo_service_app;
        REVOKE USAGE ON SCHEMA public FROM geo_service_app;
    END IF;
END $$;
DROP FUNCTION IF EXISTS geo_service_grant_app_role();
DROP TABLE IF EXISTS feature_versions;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS users;
