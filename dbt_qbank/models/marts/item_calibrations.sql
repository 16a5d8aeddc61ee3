{#-
    Every calibration set's item parameters, one row per (set, item version), with the set's
    status, fit and screening numbers, and the change of b against the previous live set.

    "Previous live set": the latest set of the same tenant and exam code created before this
    one that ever went live (`activated_at` set: active now, superseded or retired since). The
    item is matched as a psychometric item (a minor edit's version keeps its root's item), at
    its latest version in that set; an item new in this set has no previous b.
-#}
with sets as (

    select * from {{ ref('stg_qbank__item_parameter_sets') }}

),

parameters as (

    select * from {{ ref('stg_qbank__item_parameters') }}

),

versions as (

    select
        question_version_id,
        item_root_version_id,
        topic_id
    from {{ ref('stg_qbank__question_versions') }}

),

calibrations as (

    select
        p.*,
        v.item_root_version_id,
        v.topic_id
    from parameters as p
    inner join versions as v on p.question_version_id = v.question_version_id

),

previous_live as (

    select distinct on (s.set_id)
        s.set_id,
        prev.set_id as previous_set_id
    from sets as s
    inner join sets as prev
        on
            s.tenant_id = prev.tenant_id
            and s.exam_code = prev.exam_code
            and prev.activated_at is not null
            and (prev.calibrated_at, prev.set_id) < (s.calibrated_at, s.set_id)
    order by s.set_id asc, prev.calibrated_at desc, prev.set_id desc

),

previous_b as (

    select distinct on (c.set_id, c.question_version_id)
        c.set_id,
        c.question_version_id,
        pc.b as previous_b
    from calibrations as c
    inner join previous_live as pl on c.set_id = pl.set_id
    inner join calibrations as pc
        on
            pl.previous_set_id = pc.set_id
            and c.item_root_version_id = pc.item_root_version_id
            and c.version >= pc.version
    order by c.set_id asc, c.question_version_id asc, pc.version desc

),

final as (

    select
        c.set_id,
        s.tenant_id,
        s.exam_code,
        s.set_status,
        s.checks_passed,
        s.irt_model,
        s.parameter_metric,
        s.created_by_run,
        s.calibrated_at,
        s.activated_at,
        c.question_id,
        c.question_version_id,
        c.version,
        c.item_root_version_id,
        c.topic_id,
        c.a,
        c.b,
        c.c,
        c.se_a,
        c.se_b,
        c.se_c,
        c.exposure_k,
        c.n_respondents,
        c.is_anchor,
        s.converged as set_converged,
        s.iterations as set_iterations,
        s.n_persons as set_n_persons,
        s.n_responses as set_n_responses,
        s.latent_mean as set_latent_mean,
        s.latent_sd as set_latent_sd,
        s.n_anchors as set_n_anchors,
        s.n_screened_out as set_n_screened_out,
        s.anchor_drift as set_anchor_drift,
        s.parameter_bounds_passed as set_parameter_bounds_passed,
        s.convergence_passed as set_convergence_passed,
        s.drift_passed as set_drift_passed,
        s.r_max as set_r_max,
        s.max_exposure as set_max_exposure,
        pl.previous_set_id,
        pb.previous_b,
        s.set_status = 'active' as is_live,
        c.b - pb.previous_b as delta_b

    from calibrations as c
    inner join sets as s on c.set_id = s.set_id
    left join previous_live as pl on c.set_id = pl.set_id
    left join previous_b as pb
        on
            c.set_id = pb.set_id
            and c.question_version_id = pb.question_version_id

)

select * from final
