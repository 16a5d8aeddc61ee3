{#-
    Classical item statistics per item version and exam code.

    p-value, point-biserial and mean time use linear and pretest responses only: adaptive selection
    targets each student's level, which drives p-values towards the middle and flattens
    discrimination. Adaptive (scored) responses are counted beside. The point-biserial is the
    corrected item–rest correlation: Pearson r between the 0/1 response and the proportion correct
    on the quiz's other scored answers (fact_responses.is_scored: pretest items and the answers
    of a running exam are not part of a score). Exposure rate = quizzes that served the version / quizzes
    started for the exam code.
-#}
with responses as (

    select * from {{ ref('fact_responses') }}

),

quiz_totals as (

    -- The quiz's score: its scored answers only (fact_responses.is_scored). Pretest answers
    -- are not part of what the item is correlated with, and an exam still running has no
    -- score yet.
    select
        quiz_id,
        count(*) filter (where is_scored) as n_scored,
        count(*) filter (where is_scored and is_correct) as n_correct
    from responses
    group by 1

),

classical_responses as (

    select
        r.*,
        (q.n_correct - (r.is_scored and r.is_correct)::int)::double precision
        / nullif(q.n_scored - r.is_scored::int, 0) as rest_proportion
    from responses as r
    inner join quiz_totals as q on r.quiz_id = q.quiz_id
    where not r.adaptive or r.is_pretest

),

classical as (

    select
        tenant_id,
        exam_code,
        question_version_id,
        count(*) as attempts,
        count(*) filter (where is_correct) as correct,
        avg(is_correct::int)::double precision as p_value,
        corr(is_correct::int, rest_proportion) as point_biserial,
        avg(time_taken_ms)::double precision as mean_time_ms
    from classical_responses
    group by 1, 2, 3

),

adaptive as (

    select
        tenant_id,
        exam_code,
        question_version_id,
        count(*) as adaptive_attempts,
        avg(is_correct::int)::double precision as adaptive_p_value
    from responses
    where adaptive and not is_pretest
    group by 1, 2, 3

),

served as (

    select
        v.tenant_id,
        s.exam_code,
        v.question_id,
        v.question_version_id,
        v.version,
        count(distinct v.quiz_id) as times_served,
        count(distinct v.quiz_id) filter (where v.is_pretest) as times_served_pretest
    from {{ ref('stg_events__question_served') }} as v
    inner join {{ ref('stg_events__quiz_started') }} as s on v.quiz_id = s.quiz_id
    group by 1, 2, 3, 4, 5

),

exam_quizzes as (

    select
        tenant_id,
        exam_code,
        count(distinct quiz_id) as quizzes
    from {{ ref('stg_events__quiz_started') }}
    group by 1, 2

),

final as (

    select
        sv.tenant_id,
        sv.exam_code,
        sv.question_id,
        sv.question_version_id,
        sv.version,
        qv.topic_id,
        c.p_value,
        c.point_biserial,
        c.mean_time_ms,
        a.adaptive_p_value,
        sv.times_served,
        sv.times_served_pretest,
        coalesce(c.attempts, 0) as attempts,
        coalesce(c.correct, 0) as correct,
        coalesce(a.adaptive_attempts, 0) as adaptive_attempts,
        sv.times_served::double precision / eq.quizzes as exposure_rate

    from served as sv
    inner join exam_quizzes as eq
        on sv.tenant_id = eq.tenant_id and sv.exam_code = eq.exam_code
    left join classical as c
        on
            sv.tenant_id = c.tenant_id
            and sv.exam_code = c.exam_code
            and sv.question_version_id = c.question_version_id
    left join adaptive as a
        on
            sv.tenant_id = a.tenant_id
            and sv.exam_code = a.exam_code
            and sv.question_version_id = a.question_version_id
    left join {{ ref('stg_qbank__question_versions') }} as qv
        on sv.question_version_id = qv.question_version_id

)

select * from final
