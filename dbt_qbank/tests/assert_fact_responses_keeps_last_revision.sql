-- A changed answer replaces the earlier one: no answer event of a quiz item comes after the one
-- fact_responses kept (by revision, then time, then load order).
select
    f.quiz_id,
    f.position,
    kept.revision,
    later.revision as later_revision
from {{ ref('fact_responses') }} as f
inner join {{ ref('stg_events__answer_submitted') }} as kept
    on f.answer_event_id = kept.event_id
inner join {{ ref('stg_events__answer_submitted') }} as later
    on
        f.quiz_id = later.quiz_id
        and f.position = later.position
where
    (later.revision, later.answered_at, later.load_id)
    > (kept.revision, kept.answered_at, kept.load_id)
