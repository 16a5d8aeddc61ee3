{#-
    The parameters live now: one row per published question and exam code, from
    `live_item_parameters` (the one definition: the active set's row of the live version, else of
    its latest earlier version of the same item), with that row's calibration context from
    item_calibrations (previous live set, Δb, the set's fit). Published questions without live
    parameters (cold-start defaults, pretest) have no row.
-#}
with live as (

    select * from {{ ref('stg_qbank__live_item_parameters') }}

),

calibrations as (

    select * from {{ ref('item_calibrations') }}

),

final as (

    select
        l.tenant_id,
        l.exam_code,
        l.question_id,
        l.question_version_id,
        l.version,
        l.set_id,
        l.parameters_version_id,
        l.a,
        l.b,
        l.c,
        l.se_a,
        l.se_b,
        l.se_c,
        l.exposure_k,
        l.n_respondents,
        l.is_anchor,
        ic.topic_id,
        ic.calibrated_at,
        ic.activated_at,
        ic.created_by_run,
        ic.set_anchor_drift,
        ic.previous_set_id,
        ic.previous_b,
        ic.delta_b,
        l.parameters_version_id <> l.question_version_id as is_carried_over

    from live as l
    left join calibrations as ic
        on
            l.set_id = ic.set_id
            and l.parameters_version_id = ic.question_version_id

)

select * from final
