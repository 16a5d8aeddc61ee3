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
        edit_kind,
        created_at,
        -- The psychometric item: a minor edit points at the version it keeps the item of.
        coalesce(item_root_version_id, id) as item_root_version_id

    from source

)

select * from renamed
