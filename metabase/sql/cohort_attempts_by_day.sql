-- Answers per cohort and UTC day, with the cohort's active students that day.
SELECT
    day,
    cohort,
    SUM(attempts) AS attempts,
    SUM(active_users) AS active_students
FROM marts.cohort_performance
WHERE true
    [[AND tenant_id::text = {{tenant}}]]
GROUP BY day, cohort
ORDER BY day, cohort
