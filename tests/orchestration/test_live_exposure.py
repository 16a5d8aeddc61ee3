"""Sympson-Hetter K corrected by the exposure realised under the live set (no database)."""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.simulation import (
    LIVE_MIN_QUIZZES,
    PairExposure,
    correct_with_live_exposure,
)


def _exposure() -> PairExposure:
    items = pd.DataFrame({"question_version_id": [1, 2, 3, 4], "k": [0.5, 1.0, 0.8, 1.0]})
    return PairExposure("t/E", 0.25, 8, items, [0.4, 0.26], 0.26)


def test_items_realised_over_r_max_get_the_live_update() -> None:
    """Item 1 ran at K 0.6 and was realised at 0.30 (live P(S) 0.5): K = 0.25 / 0.5 = 0.5 is
    no lower than the simulated 0.5, kept. Item 3 ran at K 1.0, realised 0.40: K 0.625 < 0.8.
    Item 2 under r_max and item 4 without a live K keep the simulated K."""
    live = pd.DataFrame({"question_version_id": [1, 2, 3, 4], "exposure": [0.30, 0.2, 0.40, 0.5],
                         "k_live": [0.6, 1.0, 1.0, None]})  # fmt: skip
    out, lowered = correct_with_live_exposure(_exposure(), live, n_quizzes=300)
    k = out.k
    assert lowered == 1
    assert k[3] == pytest.approx(0.625)
    assert (k[1], k[2], k[4]) == (0.5, 1.0, 1.0)
    assert out.traffic["live_corrected_items"] == 1 and out.traffic["live_quizzes"] == 300
    assert out.max_exposure_by_iteration == [0.4, 0.26]


def test_too_few_live_quizzes_change_nothing() -> None:
    live = pd.DataFrame({"question_version_id": [3], "exposure": [0.9], "k_live": [1.0]})
    out, lowered = correct_with_live_exposure(_exposure(), live, n_quizzes=LIVE_MIN_QUIZZES - 1)
    assert lowered == 0 and out.k[3] == 0.8
