-- 0004: accounts (argon2 hashes), login sessions (hashed opaque tokens), feature versions,
-- and the unprivileged role the application runs as (it cannot alter audit_log).
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{2,64}$'),
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('planner', 'boundary_officer', 'data_editor', 'admin')),
    full_name text,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE sessions (
    token_hash char(64) PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    client text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE feature_versions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer text NOT NULL,
    feature_id bigint NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    data jsonb NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (layer, feature_id, version)
);

-- Grants for the application role, in one place (restore calls it again).
CREATE FUNCTION geo_service_grant_app_role() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geo_service_app') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
                       AND (rolsuper OR rolcreaterole)) THEN
            RETURN false;  -- no right to create roles: the app keeps the connecting role
        END IF;
        BEGIN
            CREATE ROLE geo_service_app NOLOGIN NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by another database's migration
        END;
    END IF;
    BEGIN
        EXECUTE format('GRANT geo_service_app TO %I', current_user);
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- already a member, or a superuser (who may SET ROLE anyway)
    END;
    GRANT USAGE ON SCHEMA public TO geo_service_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO geo_service_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO geo_service_app;
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO geo_service_app',
                   current_user);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT USAGE, SELECT ON SEQUENCES TO geo_service_app', current_user);
    -- The audit log and past versions are append-only for the application.
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, feature_versions FROM geo_service_app;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version, spatial_ref_sys
        FROM geo_service_app;
    RETURN true;
END $$;

SELECT geo_service_grant_app_role();
