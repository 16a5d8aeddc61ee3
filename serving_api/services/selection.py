"""From a quiz's state and the live pool to irt_models' item selection.

This module only builds the masks and counts irt_models asks for; the rules (hard quotas that
include subtopics, daily-cap exclusion and its relaxation, Sympson-Hetter with the redraw among
rejected candidates, maximum information or random order, `pool_exhausted`) live in
`irt_models.selection`.

- Eligible: live items of the exam code matching the quiz's filters, not served in this quiz.
- Scored positions: once the exam code has an active parameter set, calibrated items only.
- Pretest positions (drawn when the quiz started): uncalibrated items at random, outside the quotas;
  when none is left the position is served as a scored one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serving_api.services.item_pool import ItemPool
from serving_api.services.quiz_state import QuizState

_EMPTY_MEMBERSHIP_KEY = ()


@dataclass(frozen=True, slots=True)
class Choice:
    index: int | None
    is_pretest: bool = False
    cap_relaxed: bool = False
    sh_redraws: int = 0


def _selection_pool(pool: ItemPool, quota_topics: tuple[int, ...]):
    """irt_models' pool object for these quota topics, built once per live pool."""
    from irt_models import selection as irt_selection

    return pool.derived(
        ("selection_pool", quota_topics),
        lambda: irt_selection.ItemPool(
            a=pool.a, b=pool.b, c=pool.c, k=pool.k, membership=pool.membership(quota_topics)
        ),
    )


def eligible_mask(st: QuizState, pool: ItemPool) -> np.ndarray:
    f = st.filters or {}
    mask = pool.filter_mask(tuple(f.get("topic_ids") or ()), tuple(f.get("difficulty") or ()))
    resolved = f.get("resolved") or {}
    if "include_question_ids" in resolved:
        ids = resolved["include_question_ids"]
        mask = mask & pool.derived(("include", st.id, pool.generation), lambda: pool.mask_of(ids))
    if "exclude_question_ids" in resolved:
        ids = resolved["exclude_question_ids"]
        mask = mask & ~pool.derived(("exclude", st.id, pool.generation), lambda: pool.mask_of(ids))
    return mask


def choose(
    st: QuizState,
    pool: ItemPool,
    position: int,
    capped_ids: set[int],
    *,
    randomesque_k: int = 1,
    rng: np.random.Generator | None = None,
) -> Choice:
    from irt_models import selection as irt_selection

    rng = rng or np.random.default_rng()
    served = pool.mask_of(i.question_id for i in st.items)
    unavailable = served | ~eligible_mask(st, pool)
    capped = pool.mask_of(capped_ids) if capped_ids else np.zeros(pool.size, dtype=bool)
    pretest_slot = position in st.pretest_positions and pool.has_parameter_set

    if pretest_slot:
        sel = irt_selection.select_random_item(
            _selection_pool(pool, _EMPTY_MEMBERSHIP_KEY),
            served_mask=unavailable | pool.calibrated,
            quota_remaining=np.zeros(0, dtype=int),
            positions_remaining=1,
            capped_mask=capped,
            rng=rng,
        )
        if sel.index is not None:
            return Choice(int(sel.index), True, bool(sel.cap_relaxed), int(sel.sh_redraws))
        # No uncalibrated item left: this position is scored like the others.

    if pool.has_parameter_set:
        unavailable = unavailable | ~pool.calibrated
    quota_topics = tuple(sorted(int(t) for t in (st.quota or {})))
    sel_pool = _selection_pool(pool, quota_topics)
    quota_remaining = np.array([st.quota[str(t)] for t in quota_topics], dtype=int)
    if quota_topics:
        topic_cols = pool.membership(quota_topics)
        for item in st.items:
            if item.is_pretest:
                continue
            i = pool.index.get(item.question_id)
            if i is not None:
                quota_remaining -= topic_cols[i]
            else:  # no longer live: count it by its own topic
                for j, t in enumerate(quota_topics):
                    quota_remaining[j] -= item.topic_id == t
        quota_remaining = np.maximum(quota_remaining, 0)
    # Scored positions still to fill, this one included (pretest slots ahead are not).
    future_pretest = sum(1 for p in st.pretest_positions if p > position)
    positions_remaining = max(st.num_questions - position + 1 - future_pretest, 1)

    if st.adaptive:
        theta, _se = st.ability()
        sel = irt_selection.select_next_item(
            sel_pool,
            theta,
            served_mask=unavailable,
            quota_remaining=quota_remaining,
            positions_remaining=positions_remaining,
            capped_mask=capped,
            rng=rng,
            randomesque_k=randomesque_k,
            use_sympson_hetter=True,
        )
    else:
        sel = irt_selection.select_random_item(
            sel_pool,
            served_mask=unavailable,
            quota_remaining=quota_remaining,
            positions_remaining=positions_remaining,
            capped_mask=capped,
            rng=rng,
        )
    if sel.index is None:
        return Choice(None)
    return Choice(int(sel.index), False, bool(sel.cap_relaxed), int(sel.sh_redraws))
