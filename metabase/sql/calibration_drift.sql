-- Drift per calibration set: the pipeline's anchor drift (mean |Δb| of the anchors kept, after
-- linking a free re-estimation onto the live scale; drifted anchors are dropped, only an unsafe
-- link blocks publishing) and, beside it, the mean |change of b| of
-- every item against the previous set that went live. Reads the calibration tables the
-- pipeline writes (there is no mart over them yet).
WITH sets AS (
    SELECT
        s.id AS set_id,
        s.tenant_id,
        s.exam_code,
        s.status,
        s.created_at,
        (s.metrics ->> 'drift_mean_abs_delta_b')::double precision AS anchor_drift
    FROM public.item_parameter_sets AS s
    WHERE true
        [[AND s.tenant_id::text = {{tenant}}]]
),

changes AS (
    SELECT
        p.set_id,
        AVG(ABS(p.b - prev.b)) AS mean_abs_delta_b,
        COUNT(*) AS items_compared
    FROM public.item_parameters AS p
    JOIN sets AS s ON s.set_id = p.set_id
    JOIN LATERAL (
        SELECT p2.b
        FROM public.item_parameters AS p2
        JOIN public.item_parameter_sets AS s2 ON s2.id = p2.set_id
        WHERE s2.tenant_id = s.tenant_id
            AND s2.exam_code = s.exam_code
            AND s2.status IN ('active', 'superseded')
            AND s2.created_at < s.created_at
            AND p2.question_version_id = p.question_version_id
        ORDER BY s2.created_at DESC, s2.id DESC
        LIMIT 1
    ) AS prev ON true
    GROUP BY p.set_id
)

SELECT
    s.exam_code || ' #' || s.set_id || ' (' || s.status || ')' AS calibration_set,
    s.created_at AS calibrated_at,
    ROUND(s.anchor_drift::numeric, 3) AS anchor_drift,
    ROUND(c.mean_abs_delta_b::numeric, 3) AS mean_abs_delta_b,
    COALESCE(c.items_compared, 0) AS items_compared
FROM sets AS s
LEFT JOIN changes AS c ON c.set_id = s.set_id
ORDER BY s.created_at, s.set_id
