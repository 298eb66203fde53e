ALTER TABLE inspections DROP CONSTRAINT inspections_one_signer_per_side;
DROP TABLE officer_areas;
