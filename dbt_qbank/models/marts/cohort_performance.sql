-- Per tenant, cohort and UTC day: attempts, accuracy and active students over scored answers.
with responses as (

    -- Scored answers only (fact_responses.is_scored, macros/scored.sql).
    select * from {{ ref('fact_responses') }}
    where is_scored

),

final as (

    select
        tenant_id,
        cohort,
        (ts at time zone 'UTC')::date as day,
        count(*) as attempts,
        count(*) filter (where is_correct) as correct,
        avg(is_correct::int)::double precision as accuracy,
        count(distinct user_id) as active_users,
        count(distinct quiz_id) as quizzes,
        avg(time_taken_ms)::double precision as mean_time_ms

    from responses
    group by 1, 2, 3

)

select * from final
