-- Versions without their text: analytics needs what identifies and classifies an item.
with source as (

    select * from {{ source('qbank', 'question_versions') }}

),

renamed as (

    select
        id as question_version_id,
        question_id,
        tenant_id,
        version,
        state,
        difficulty_label,
        bloom_level,
        topic_id,
        correct_label,
        created_at

    from source

)

select * from renamed
