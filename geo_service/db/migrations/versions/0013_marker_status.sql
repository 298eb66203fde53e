-- 0013: a marker's lifecycle status, set by officers (its condition comes from inspections),
-- and the survey types of 界桩 (单立, 双立同号/异号, 三立同号/异号) beside 单面/双面/三面.
ALTER TABLE boundary_markers ADD COLUMN status text NOT NULL DEFAULT '在用'
    CONSTRAINT boundary_markers_status_check
    CHECK (status IN ('在用', '损毁待修', '已重建', '已废止'));
ALTER TABLE boundary_markers DROP CONSTRAINT boundary_markers_marker_type_check;
ALTER TABLE boundary_markers ADD CONSTRAINT boundary_markers_marker_type_check
    CHECK (marker_type IN ('单面', '双面', '三面', '单立', '双立同号', '双立异号', '三立同号',
                           '三立异号'));
