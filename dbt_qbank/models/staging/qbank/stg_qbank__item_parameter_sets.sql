-- Calibration sets as the pipeline (orchestration.publishing) and the operators' `qbank params`
-- leave them, with the set-level numbers of `metrics` typed.
with source as (

    select * from {{ source('qbank', 'item_parameter_sets') }}

),

renamed as (

    select
        id as set_id,
        tenant_id,
        exam_code,
        status as set_status,
        model as irt_model,
        metric as parameter_metric,
        created_by_run,
        checks_passed,
        created_at as calibrated_at,
        activated_at,
        (metrics ->> 'converged')::boolean as converged,
        (metrics ->> 'iterations')::integer as iterations,
        (metrics ->> 'n_persons')::integer as n_persons,
        (metrics ->> 'n_responses')::integer as n_responses,
        (metrics ->> 'n_items_calibrated')::integer as n_items_calibrated,
        (metrics ->> 'n_anchors')::integer as n_anchors,
        (metrics ->> 'n_screened_out')::integer as n_screened_out,
        (metrics ->> 'latent_mean')::double precision as latent_mean,
        (metrics ->> 'latent_sd')::double precision as latent_sd,
        (metrics ->> 'drift_mean_abs_delta_b')::double precision as anchor_drift,
        (metrics ->> 'r_max')::double precision as r_max,
        (metrics ->> 'max_exposure')::double precision as max_exposure,
        (metrics #>> '{checks,parameter_bounds,passed}')::boolean as parameter_bounds_passed,
        (metrics #>> '{checks,convergence,passed}')::boolean as convergence_passed,
        (metrics #>> '{checks,drift,passed}')::boolean as drift_passed

    from source

)

select * from renamed
