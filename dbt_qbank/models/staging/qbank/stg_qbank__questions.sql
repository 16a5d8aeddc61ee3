with source as (

    select * from {{ source('qbank', 'questions') }}

),

renamed as (

    select
        id as question_id,
        tenant_id,
        external_ref,
        created_at

    from source

)

select * from renamed
