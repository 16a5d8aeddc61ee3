{#-
    One row per answered quiz item: the last answer (highest revision) with the quiz's context
    (tenant, student and the cohort they were in when they answered, exam code, mode, adaptive)
    and the served item's context (exact version, topic, position, pretest flag) and its lineage:
    the parameter set and the a, b, c that chose and scored it (null for events from before
    lineage, schema_version 1; a null set with a, b, c: the cold-start defaults).

    `is_scored` (macros/scored.sql, the one definition): a non-pretest answer of a tutor quiz or
    of a sealed exam; `quiz_status` is `active` until the quiz's quiz_finished event lands.

    Incremental: a run recomputes every quiz that has a new answer_submitted, question_served,
    quiz_started or quiz_finished event since the last run (`_watermark`, the highest staging
    load_id the fact has seen), so a changed answer replaces the earlier one, a sealed exam's
    answers become scored, and an answer that arrived before its quiz's context is picked up as
    soon as the context lands. Lookups go through the (quiz_id, position) / quiz_id indexes of
    the staging tables, so the cost of a refresh follows the number of new events, not the size
    of the history.
-#}
{#- on_schema_change: new columns (lineage) are added to a built table; rows built before keep
    null in them until a --full-refresh recomputes them from staging. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['quiz_id', 'position'],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['quiz_id', 'position'], 'unique': True},
            {'columns': ['_watermark']},
            {'columns': ['tenant_id', 'exam_code']},
            {'columns': ['question_version_id']},
        ],
    )
}}

{%- set high_watermark = [
    max_of(ref('stg_events__quiz_started'), 'load_id') | int,
    max_of(ref('stg_events__question_served'), 'load_id') | int,
    max_of(ref('stg_events__answer_submitted'), 'load_id') | int,
    max_of(ref('stg_events__quiz_finished'), 'load_id') | int,
] | max -%}
{%- if is_incremental() -%}
    {%- set watermark = max_of(this, '_watermark') | int -%}
    {#- A table built before `is_scored` (and the cohort as of the answer) existed: this run
        recomputes every quiz once (on_schema_change adds the columns first), so an upgrade
        needs no manual --full-refresh and no row keeps a null is_scored or a today's cohort. -#}
    {%- set upgrade = has_column(this, 'is_scored') | trim == 'False' -%}
{%- endif %}

with

{% if is_incremental() -%}
    touched_quizzes as (

        select quiz_id from {{ ref('stg_events__answer_submitted') }}
        where load_id > {{ watermark }}
        union
        select quiz_id from {{ ref('stg_events__question_served') }}
        where load_id > {{ watermark }}
        union
        select quiz_id from {{ ref('stg_events__quiz_started') }}
        where load_id > {{ watermark }}
        union
        -- Sealing an exam makes its answers scored: the quiz's rows are written again.
        select quiz_id from {{ ref('stg_events__quiz_finished') }}
        where load_id > {{ watermark }}
        {%- if upgrade %}
            union
            select quiz_id from {{ this }}
        {%- endif %}

    ),
{%- endif %}

answers as (

    select * from {{ ref('stg_events__answer_submitted') }}
    {%- if is_incremental() %}
        where quiz_id in (select touched_quizzes.quiz_id from touched_quizzes)
    {%- endif %}

),

served as (

    select distinct on (quiz_id, position) *
    from {{ ref('stg_events__question_served') }}
    {%- if is_incremental() %}
        where quiz_id in (select touched_quizzes.quiz_id from touched_quizzes)
    {%- endif %}
    order by quiz_id, position, load_id

),

started as (

    select distinct on (quiz_id) *
    from {{ ref('stg_events__quiz_started') }}
    {%- if is_incremental() %}
        where quiz_id in (select touched_quizzes.quiz_id from touched_quizzes)
    {%- endif %}
    order by quiz_id, load_id

),

finished as (

    -- The first seal counts (a quiz is sealed once; a relayed duplicate changes nothing).
    select distinct on (quiz_id) *
    from {{ ref('stg_events__quiz_finished') }}
    {%- if is_incremental() %}
        where quiz_id in (select touched_quizzes.quiz_id from touched_quizzes)
    {%- endif %}
    order by quiz_id, load_id

),

last_answer as (

    -- The marts keep the last answer per quiz item.
    select distinct on (quiz_id, position) *
    from answers
    order by quiz_id asc, position asc, revision desc, answered_at desc, load_id desc

),

cohorts as (

    -- Each user's cohort periods (users_snapshot, UTC). The first period also covers answers
    -- given before the snapshot's history starts (its first run came after them): the earliest
    -- known cohort is the best evidence for those.
    select
        user_id,
        cohort,
        case
            when row_number() over (partition by user_id order by dbt_valid_from) = 1
                then '-infinity'::timestamptz
            else dbt_valid_from at time zone 'UTC'
        end as valid_from,
        coalesce(dbt_valid_to at time zone 'UTC', 'infinity'::timestamptz) as valid_to
    from {{ ref('users_snapshot') }}

),

final as (

    select
        a.tenant_id,
        a.user_id,
        coalesce(u.cohort, 'unknown') as cohort,
        a.quiz_id,
        s.exam_code,
        s.mode,
        s.adaptive,
        a.question_id,
        a.question_version_id,
        a.version,
        v.topic_id,
        a.position,
        v.is_pretest,
        a.answered_at as ts,
        a.is_correct,
        a.time_taken_ms,
        a.revision,
        coalesce(f.status, 'active') as quiz_status,
        f.finished_at as quiz_finished_at,
        {{ is_scored('s.mode', "coalesce(f.status, 'active')", 'v.is_pretest') }} as is_scored,
        a.selected_label,
        a.event_id as answer_event_id,
        v.parameter_set_id,
        v.a_used,
        v.b_used,
        v.c_used,
        {{ high_watermark }}::bigint as _watermark

    from last_answer as a
    inner join started as s
        on a.quiz_id = s.quiz_id
    inner join served as v
        on
            a.quiz_id = v.quiz_id
            and a.position = v.position
    left join finished as f
        on a.quiz_id = f.quiz_id
    left join cohorts as u
        on
            a.user_id = u.user_id
            and a.answered_at >= u.valid_from
            and a.answered_at < u.valid_to

)

select * from final
