"""What the hot path keeps between requests instead of recomputing: the served-items mask kept
with a quiz state, and the day label of the exposure counters. Each must equal what it replaces."""

from __future__ import annotations

import gc
import uuid
import weakref
from datetime import UTC, datetime

import numpy as np
import pytest

from serving_api.services import exposure
from serving_api.services.exam_pool import build_pool
from serving_api.services.quiz_state import QuizState, ServedItem
from serving_api.services.selection import served_mask

TENANT = uuid.uuid4()


def pool_of(question_ids):
    rows = [(q, q * 10, 1, 1, "t1", "medium", 4, 1.0, 0.0, 0.2, 1.0) for q in question_ids]
    return build_pool(TENANT, "X", 1, 1, rows)


def served(question_id: int, position: int) -> ServedItem:
    return ServedItem(
        position, question_id, question_id * 10, 1, 1, position, False, False, 1.0, 0.0, 0.2,
        True, None, None, None, 0.0,
    )  # fmt: skip


def empty_quiz() -> QuizState:
    return QuizState(
        id=uuid.uuid4(), tenant_id=TENANT, user_id=uuid.uuid4(), status="active", mode="tutor",
        adaptive=True, exam_code="X", num_questions=50, num_pretest=0, pretest_positions=[],
        filters={}, quota={}, parameter_set_id=1, sh_rejected=[], started_at=datetime.now(UTC),
        expires_at=None, finished_at=None, theta=0.0, theta_se=1.0, raw_score=None,
        scaled_score=None, state_version=1, calibrated_short=0, notices=[], items=[],
    )  # fmt: skip


def full_mask(st: QuizState, pool) -> np.ndarray:
    return pool.mask_of(i.question_id for i in st.items)


def test_served_mask_grows_with_the_quiz_and_equals_a_full_mapping():
    pool = pool_of(range(100, 140))
    st = empty_quiz()
    rng = np.random.default_rng(5)
    order = [int(q) for q in rng.permutation(np.arange(100, 140))]
    assert not served_mask(st, pool).any()
    for position, q in enumerate(order[:25], start=1):
        st.items.append(served(q, position))
        if position % 3:  # some requests find the mask current, others several items behind
            mask = served_mask(st, pool)
            np.testing.assert_array_equal(mask, full_mask(st, pool))
            assert served_mask(st, pool) is mask  # nothing new: the kept mask itself
    np.testing.assert_array_equal(served_mask(st, pool), full_mask(st, pool))
    assert served_mask(st, pool).sum() == 25


def test_served_mask_is_rebuilt_for_another_pool_and_cannot_be_changed_in_place():
    st = empty_quiz()
    st.items += [served(q, p) for p, q in enumerate((101, 102, 199), start=1)]
    old = pool_of(range(100, 110))
    np.testing.assert_array_equal(served_mask(st, old), full_mask(st, old))
    # A reloaded pool (an item retired, another published): its own row order.
    new = pool_of([99, 100, 102, 103, 199])
    st.items.append(served(103, 4))
    mask = served_mask(st, new)
    assert mask.tolist() == [False, False, True, True, True]
    with pytest.raises(ValueError):
        mask[0] = True  # a caller combining masks must make a new array


def test_fresh_state_does_not_inherit_a_mask():
    pool = pool_of(range(100, 110))
    st = empty_quiz()
    st.items.append(served(105, 1))
    served_mask(st, pool)
    fresh = empty_quiz()  # a read from the database: a new state object, no memo
    assert fresh.served_in_pool is None
    assert not served_mask(fresh, pool).any()


def test_day_label_is_the_utc_date_and_turns_at_midnight(monkeypatch):
    assert exposure.today() == datetime.now(UTC).strftime("%Y%m%d")
    midnight = datetime(2031, 3, 9, tzinfo=UTC).timestamp()
    monkeypatch.setattr(exposure.time, "time", lambda: midnight - 0.001)
    assert exposure.today() == "20310308"
    monkeypatch.setattr(exposure.time, "time", lambda: midnight)
    assert exposure.today() == "20310309"


def test_a_kept_mask_does_not_keep_an_old_pool_alive():
    """Pools are reloaded every few minutes; states idle in the cache must not hold the old ones."""
    st = empty_quiz()
    st.items.append(served(105, 1))
    old = pool_of(range(100, 110))
    served_mask(st, old)
    gone = weakref.ref(old)
    del old
    gc.collect()
    assert gone() is None
    new = pool_of(range(100, 110))  # may even reuse the old object's address
    np.testing.assert_array_equal(served_mask(st, new), full_mask(st, new))
