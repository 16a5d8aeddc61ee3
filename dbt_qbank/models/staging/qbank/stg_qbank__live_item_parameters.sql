-- The one definition of live parameters (the view `live_item_parameters`, migration 0006): per
-- published version, the active set's row of that version, else of its latest earlier version
-- of the same psychometric item (a minor edit carries the calibration over).
with source as (

    select * from {{ source('qbank', 'live_item_parameters') }}

),

renamed as (

    select
        tenant_id,
        exam_code,
        question_id,
        question_version_id,
        version,
        set_id,
        parameters_version_id,
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
