-- 0005 down.
DROP TABLE IF EXISTS idempotency_keys, dispute_inspections, dispute_events, disputes,
    photo_attachments, photos, inspection_segment_notes, inspection_findings, inspections,
    marker_references, boundary_markers, boundary_derivations, boundary_lines;
DROP FUNCTION IF EXISTS inspection_signed_off_is_immutable();
DROP FUNCTION IF EXISTS inspection_child_is_immutable();
DROP FUNCTION IF EXISTS dispute_events_are_append_only();
