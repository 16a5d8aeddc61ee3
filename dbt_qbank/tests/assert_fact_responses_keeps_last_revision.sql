-- A changed answer replaces the earlier one: no answer event of a quiz item comes after the one
-- fact_responses kept (by revision, then time, then load order).
select f.quiz_id, f.position, kept.revision, later.revision as later_revision
from {{ ref('fact_responses') }} as f
inner join {{ ref('stg_events__answer_submitted') }} as kept
    on kept.event_id = f.answer_event_id
inner join {{ ref('stg_events__answer_submitted') }} as later
    on later.quiz_id = f.quiz_id
    and later.position = f.position
where (later.revision, later.answered_at, later.load_id)
    > (kept.revision, kept.answered_at, kept.load_id)
