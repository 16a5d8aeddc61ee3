{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[{'columns': ['load_id'], 'unique': True}],
    )
}}

with source as (

    select * from {{ source('raw', 'events') }}
    where
        event_type = 'question_marked'
        {{- after_watermark('load_id') }}

),

renamed as (

    select
        event_id,
        load_id,
        schema_version,
        occurred_at as marked_at,
        tenant_id,
        user_id,
        quiz_id,
        {{ payload_int('question_id') }} as question_id,
        {{ payload_int('position', 'integer') }} as position,
        {{ payload_bool('marked') }} as marked

    from source

)

select * from renamed
