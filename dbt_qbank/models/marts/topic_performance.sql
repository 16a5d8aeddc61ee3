{#-
    Per tenant, exam code and topic: attempts and accuracy over the topic and its subtopics
    (a topic includes its subtopics, as everywhere in QBank), with the topic's own share beside.
-#}
with responses as (

    -- Scored answers only (fact_responses.is_scored, macros/scored.sql).
    select * from {{ ref('fact_responses') }}
    where is_scored

),

topics as (

    select * from {{ ref('stg_qbank__topics') }}

),

rolled_up as (

    -- Each response counts for its topic and every ancestor of it.
    select
        r.tenant_id,
        r.exam_code,
        ancestor.topic_id,
        r.user_id,
        r.is_correct,
        r.time_taken_ms,
        ancestor.topic_id = r.topic_id as is_direct
    from responses as r
    inner join topics as own on r.topic_id = own.topic_id
    inner join topics as ancestor
        on
            own.tenant_id = ancestor.tenant_id
            and own.topic_path <@ ancestor.topic_path

),

final as (

    select
        ru.tenant_id,
        ru.exam_code,
        ru.topic_id,
        t.topic_name,
        t.topic_path::text as topic_path,
        t.depth,
        t.blueprint_code,
        count(*) as attempts,
        count(*) filter (where ru.is_correct) as correct,
        avg(ru.is_correct::int)::double precision as accuracy,
        count(distinct ru.user_id) as students,
        avg(ru.time_taken_ms)::double precision as mean_time_ms,
        count(*) filter (where ru.is_direct) as direct_attempts

    from rolled_up as ru
    inner join topics as t on ru.topic_id = t.topic_id
    group by 1, 2, 3, 4, 5, 6, 7

)

select * from final
