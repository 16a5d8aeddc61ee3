-- Drift per calibration set: the pipeline's anchor drift (free re-estimation of the anchors
-- linked onto the live scale; drifted anchors are dropped, only an unsafe link blocks
-- publishing) and, beside it, the mean |change of b| of every item against the previous live
-- set of the tenant and exam code. Reads the mart
-- marts.item_calibrations (one row per set and item; delta_b null for an item new in the set).
SELECT
    exam_code || ' #' || set_id || ' (' || set_status || ')' AS calibration_set,
    calibrated_at,
    ROUND(MAX(set_anchor_drift)::numeric, 3) AS anchor_drift,
    ROUND(AVG(ABS(delta_b))::numeric, 3) AS mean_abs_delta_b,
    COUNT(delta_b) AS items_compared
FROM marts.item_calibrations
WHERE true
    [[AND tenant_id::text = {{tenant}}]]
GROUP BY exam_code, set_id, set_status, calibrated_at
ORDER BY calibrated_at, set_id
