-- 0010: failed logins per (case-folded user name, client address), shared by every worker.
-- A row counts the failures since window_start; locked_until is set when they reach the limit.
CREATE TABLE login_throttle (
    key text PRIMARY KEY,
    failures integer NOT NULL CHECK (failures >= 0),
    window_start timestamptz NOT NULL,
    locked_until timestamptz
);
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO geo_service_app;
