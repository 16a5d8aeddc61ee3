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
        event_type = 'quiz_finished'
        {{- after_watermark('load_id') }}

),

renamed as (

    select
        event_id,
        load_id,
        schema_version,
        occurred_at as finished_at,
        tenant_id,
        user_id,
        quiz_id,
        {{ payload_text('status') }} as status,
        {{ payload_int('score', 'integer') }} as score,
        {{ payload_int('num_scored', 'integer') }} as num_scored,
        (payload ->> 'theta')::double precision as theta,
        (payload ->> 'se')::double precision as theta_se,
        {{ payload_int('scaled_score', 'integer') }} as scaled_score

    from source

)

select * from renamed
