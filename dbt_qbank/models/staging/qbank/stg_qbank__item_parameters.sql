-- One row per calibration set and item version: 3PL a, b, c (logistic, D = 1), their standard
-- errors, the Sympson-Hetter K, respondents, anchor flag.
with source as (

    select * from {{ source('qbank', 'item_parameters') }}

),

renamed as (

    select
        set_id,
        question_version_id,
        question_id,
        version,
        a,
        b,
        c,
        se_a,
        se_b,
        se_c,
        k as exposure_k,
        n_respondents,
        is_anchor

    from source

)

select * from renamed
