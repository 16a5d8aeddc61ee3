{#- on_schema_change: columns added later (lineage, schema_version 2) are added to a built
    table; its earlier rows keep null in them, as their events had no such fields. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
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
        {{ payload_bool('is_pretest') }} as is_pretest,
        -- Lineage (schema_version ≥ 2; null in version 1 events): the parameter set whose
        -- a, b, c chose and scored the item (null: cold-start defaults) and those a, b, c.
        {{ payload_int('parameter_set_id') }} as parameter_set_id,
        {{ payload_float('a_used') }} as a_used,
        {{ payload_float('b_used') }} as b_used,
        {{ payload_float('c_used') }} as c_used

    from source

)

select * from renamed
