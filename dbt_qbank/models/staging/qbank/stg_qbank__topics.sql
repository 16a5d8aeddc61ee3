with source as (

    select * from {{ source('qbank', 'topics') }}

),

renamed as (

    select
        id as topic_id,
        tenant_id,
        parent_id as parent_topic_id,
        name as topic_name,
        blueprint_code,
        -- ltree: `descendant.path <@ ancestor.path` selects a topic and its subtopics.
        path as topic_path,
        nlevel(path) as depth

    from source

)

select * from renamed
