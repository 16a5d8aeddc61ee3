-- The most exposed items: share of an exam code's quizzes that served them. The goal line is
-- the Sympson-Hetter target r_max (0.25 by default).
SELECT
    s.exam_code || ' · Q' || s.question_id || ' v' || s.version AS item,
    s.times_served,
    s.times_served_pretest,
    ROUND((100 * s.exposure_rate)::numeric, 1) AS exposure_pct
FROM marts.item_statistics AS s
WHERE true
    [[AND s.tenant_id::text = {{tenant}}]]
ORDER BY s.exposure_rate DESC, s.times_served DESC
LIMIT 20
