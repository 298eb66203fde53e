-- 0006: the area (township, district or neighbouring county) each boundary officer belongs to
-- — the only side of a line they may sign — and no one signs both sides of an inspection.
CREATE TABLE officer_areas (
    username text PRIMARY KEY,
    area_code varchar(12) NOT NULL CHECK (area_code ~ '^[0-9]{12}$'),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE inspections ADD CONSTRAINT inspections_one_signer_per_side
    CHECK (side_a_signed_by IS NULL OR side_b_signed_by IS NULL
           OR lower(side_a_signed_by) <> lower(side_b_signed_by));
