-- People without their credentials or e-mail: the marts need the tenant and the cohort.
with source as (

    select * from {{ source('qbank', 'users') }}

),

renamed as (

    select
        id as user_id,
        tenant_id,
        cohort,
        roles,
        is_active,
        created_at

    from source

)

select * from renamed
