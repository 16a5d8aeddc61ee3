{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['load_id'], 'unique': True},
            {'columns': ['quiz_id', 'position']},
        ],
    )
}}

with source as (

    select * from {{ source('raw', 'events') }}
    where
        event_type = 'answer_submitted'
        {{- after_watermark('load_id') }}

),

renamed as (

    select
        event_id,
        load_id,
        schema_version,
        occurred_at as answered_at,
        tenant_id,
        user_id,
        quiz_id,
        {{ payload_int('question_id') }} as question_id,
        {{ payload_int('question_version_id') }} as question_version_id,
        {{ payload_int('version', 'integer') }} as version,
        {{ payload_int('position', 'integer') }} as position,
        {{ payload_text('selected') }} as selected_label,
        {{ payload_bool('is_correct') }} as is_correct,
        {{ payload_int('time_taken_ms', 'integer') }} as time_taken_ms,
        -- A changed answer (linear exam, marked item) comes with a higher revision.
        coalesce({{ payload_int('revision', 'integer') }}, 1) as revision

    from source

)

select * from renamed
