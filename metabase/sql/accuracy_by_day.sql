-- Accuracy per UTC day over every cohort: correct answers over attempts (not a mean of rates).
SELECT
    day,
    SUM(attempts) AS attempts,
    ROUND(100.0 * SUM(correct) / NULLIF(SUM(attempts), 0), 1) AS accuracy_pct
FROM marts.cohort_performance
WHERE true
    [[AND tenant_id::text = {{tenant}}]]
GROUP BY day
ORDER BY day
