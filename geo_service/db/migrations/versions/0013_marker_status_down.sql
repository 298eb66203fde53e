ALTER TABLE boundary_markers DROP COLUMN status;
ALTER TABLE boundary_markers DROP CONSTRAINT boundary_markers_marker_type_check;
ALTER TABLE boundary_markers ADD CONSTRAINT boundary_markers_marker_type_check
    CHECK (marker_type IN ('单面', '双面', '三面'));
