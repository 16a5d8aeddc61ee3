-- The lowest p-values over linear and pretest answers (adaptive answers bias p towards 0.5),
-- among items with enough of them to mean something.
SELECT
    s.exam_code,
    s.question_id,
    s.version,
    t.topic_name,
    s.attempts,
    ROUND(s.p_value::numeric, 3) AS p_value,
    ROUND(s.point_biserial::numeric, 3) AS point_biserial,
    ROUND((s.mean_time_ms / 1000.0)::numeric, 1) AS mean_time_s,
    s.adaptive_attempts
FROM marts.item_statistics AS s
LEFT JOIN marts.topic_performance AS t
    ON t.tenant_id = s.tenant_id
    AND t.exam_code = s.exam_code
    AND t.topic_id = s.topic_id
WHERE s.p_value IS NOT NULL
    AND s.attempts >= {{min_attempts}}
    [[AND s.tenant_id::text = {{tenant}}]]
ORDER BY s.p_value ASC, s.attempts DESC
LIMIT 25
