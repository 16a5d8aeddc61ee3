with source as (

    select * from {{ source('qbank', 'question_publications') }}

),

renamed as (

    select
        id as publication_id,
        tenant_id,
        question_id,
        question_version_id,
        exam_code,
        published_at

    from source

)

select * from renamed
