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
    where event_type = 'question_served'
    {{- after_watermark('load_id') }}

),

renamed as (

    select
        event_id,
        load_id,
        schema_version,
        occurred_at as served_at,
        tenant_id,
        user_id,
        quiz_id,
        {{ payload_int('question_id') }} as question_id,
        {{ payload_int('question_version_id') }} as question_version_id,
        {{ payload_int('version', 'integer') }} as version,
        {{ payload_int('position', 'integer') }} as position,
        {{ payload_int('topic_id') }} as topic_id,
        {{ payload_bool('is_pretest') }} as is_pretest

    from source

)

select * from renamed
