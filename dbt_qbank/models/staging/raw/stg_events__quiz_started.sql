{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['load_id'], 'unique': True},
            {'columns': ['quiz_id']},
        ],
    )
}}

with source as (

    select * from {{ source('raw', 'events') }}
    where
        event_type = 'quiz_started'
        {{- after_watermark('load_id') }}

),

renamed as (

    select
        event_id,
        load_id,
        schema_version,
        occurred_at as started_at,
        tenant_id,
        user_id,
        quiz_id,
        {{ payload_text('mode') }} as mode,
        {{ payload_bool('adaptive') }} as adaptive,
        {{ payload_text('exam_code') }} as exam_code,
        {{ payload_int('num_questions', 'integer') }} as num_questions,
        coalesce({{ payload_int('num_pretest', 'integer') }}, 0) as num_pretest,
        payload -> 'filters' as filters,
        payload -> 'quota' as quota

    from source

)

select * from renamed
