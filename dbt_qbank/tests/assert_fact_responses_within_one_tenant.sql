-- A response, its student and its item version belong to the same tenant.
select
    f.quiz_id,
    f.position
from {{ ref('fact_responses') }} as f
left join {{ ref('stg_qbank__users') }} as u on f.user_id = u.user_id
left join {{ ref('stg_qbank__question_versions') }} as v
    on f.question_version_id = v.question_version_id
where
    u.tenant_id is distinct from f.tenant_id
    or v.tenant_id is distinct from f.tenant_id
