"""From a quiz's state and the live pool to irt_models' item selection.

This module only builds the masks and counts `irt_models.selection` asks for; the rules (hard
quotas that include subtopics, daily-cap exclusion and its relaxation, Sympson-Hetter with the
redraw among rejected candidates and set-asides, maximum information or random order,
`pool_exhausted`) live there, shared with the pipeline's simulations.

- Eligible: live items of the exam code matching the quiz's filters, not served in this quiz.
- Scored positions: once the exam code has an active parameter set, calibrated items first; when
  no calibrated item is eligible (filters, quotas, a topic whose items were all edited), an
  uncalibrated one with its cold-start defaults rather than ending the quiz early (SPEC §3: a
  quiz can always start and go on while the exam code has live items).
- Pretest positions (drawn when the quiz started): uncalibrated items at random, outside the
  quotas; when none is left the position is served as a scored one.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from irt_models.selection import ItemPool, select_next_item
from serving_api.services.exam_pool import ExamPool
from serving_api.services.quiz_state import QuizState

# One generator per process (seeded from the OS): a fresh one per call costs more than the
# selection itself.
_RNG = np.random.default_rng()


@dataclass(frozen=True, slots=True)
class Choice:
    index: int | None
    is_pretest: bool = False
    cap_relaxed: bool = False
    sh_redraws: int = 0
    rejected_question_ids: tuple[int, ...] = ()
    scored_uncalibrated: bool = False  # a scored position filled with cold-start defaults


def selection_pool(pool: ExamPool, quota_topics: tuple[int, ...]) -> ItemPool:
    """irt_models' pool for these quota topics, built once per live pool."""
    return pool.derived(
        ("selection_pool", quota_topics),
        lambda: ItemPool.build(pool.a, pool.b, pool.c, pool.k, pool.membership(quota_topics)),
    )


def served_mask(st: QuizState, pool: ExamPool) -> np.ndarray:
    """The pool's items this quiz has served (read-only). Items are only ever appended to a
    quiz, so the mask kept with the state for the same pool is extended, not rebuilt."""
    n = len(st.items)
    memo = st.served_in_pool
    if memo is not None and memo[0]() is pool and memo[1] <= n:
        if memo[1] == n:
            return memo[2]
        mask = memo[2].copy()
        for i in pool.rows_of(item.question_id for item in st.items[memo[1] :]):
            mask[i] = True  # a scalar store per row: cheaper than fancy indexing for one or two
    else:
        mask = pool.mask_of(i.question_id for i in st.items)
    mask.flags.writeable = False
    # A weak reference: the pool is reloaded every few minutes, and an idle state in the
    # process's cache must not keep each old pool (megabytes with its derived arrays) alive.
    st.served_in_pool = (weakref.ref(pool), n, mask)
    return mask


def eligible_mask(st: QuizState, pool: ExamPool) -> np.ndarray:
    f = st.filters or {}
    mask = pool.filter_mask(tuple(f.get("topic_ids") or ()), tuple(f.get("difficulty") or ()))
    resolved = f.get("resolved") or {}
    if "include_question_ids" in resolved:
        ids = resolved["include_question_ids"]
        mask = mask & pool.derived(("include", st.id), lambda: pool.mask_of(ids))
    if "exclude_question_ids" in resolved:
        ids = resolved["exclude_question_ids"]
        mask = mask & ~pool.derived(("exclude", st.id), lambda: pool.mask_of(ids))
    return mask


def quota_remaining(st: QuizState, pool: ExamPool, quota_topics: tuple[int, ...]) -> np.ndarray:
    """Quota left per topic: served scored items count toward every quota topic above them."""
    left = np.array([st.quota[str(t)] for t in quota_topics], dtype=np.int64)
    if not quota_topics:
        return left
    cols = pool.membership(quota_topics)
    for item in st.items:
        if item.is_pretest:
            continue
        i = pool.index.get(item.question_id)
        if i is not None:
            left -= cols[i]
        else:  # retired since it was served: count it by its own topic
            left -= np.array([item.topic_id == t for t in quota_topics], dtype=np.int64)
    return np.maximum(left, 0)


def choose(
    st: QuizState,
    pool: ExamPool,
    position: int,
    capped_ids: set[int],
    *,
    randomesque_k: int = 1,
    rng: np.random.Generator | None = None,
) -> Choice:
    rng = rng or _RNG
    served = served_mask(st, pool)
    unavailable = served | ~eligible_mask(st, pool)
    capped = pool.mask_of(capped_ids) if capped_ids else None

    if position in st.pretest_positions and pool.has_parameter_set:
        sel = select_next_item(
            selection_pool(pool, ()),
            0.0,
            served_mask=unavailable | pool.calibrated,
            capped_mask=capped,
            rng=rng,
            adaptive=False,
        )
        if sel.index is not None:
            return Choice(sel.index, True, sel.cap_relaxed)
        # No uncalibrated item left: this position is scored like the others.

    quota_topics = tuple(sorted(int(t) for t in (st.quota or {})))
    # Scored positions still to fill, this one included (pretest slots ahead are not).
    future_pretest = sum(1 for p in st.pretest_positions if p > position)
    # θ after the last answer is stored with it (EAP, recomputed by every answer).
    theta = st.theta if st.adaptive else 0.0

    def scored(served_mask: np.ndarray):
        return select_next_item(
            selection_pool(pool, quota_topics),
            theta,
            served_mask=served_mask,
            quota_remaining=quota_remaining(st, pool, quota_topics),
            positions_remaining=max(st.num_questions - position + 1 - future_pretest, 1),
            capped_mask=capped,
            rejected_mask=pool.mask_of(st.sh_rejected) if st.sh_rejected else None,
            rng=rng,
            randomesque_k=randomesque_k,
            use_sympson_hetter=True,
            adaptive=st.adaptive,
        )

    fallback = False
    if pool.has_parameter_set:
        sel = scored(unavailable | ~pool.calibrated)
        if sel.index is None and not pool.calibrated.all():
            # No calibrated item left for this position: serve an uncalibrated one, scored with
            # its cold-start defaults, rather than end the quiz (the start said so).
            sel = scored(unavailable)
            fallback = sel.index is not None
    else:
        sel = scored(unavailable)
    if sel.index is None:
        return Choice(None)
    rejected = tuple(int(pool.question_ids[i]) for i in sel.rejected)
    return Choice(sel.index, False, sel.cap_relaxed, sel.sh_redraws, rejected, fallback)
