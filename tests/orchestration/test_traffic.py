"""The traffic profile and realised exposure, read from marts that dbt built from seeded events
(a database of this module), recomputed here from the events themselves; and Sympson-Hetter
fitted to such traffic keeps the simulated maximum exposure near r_max."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from bench.synthetic import SynthBank, create_bank, quiz_events
from ingestion.events import AnswerSubmitted, QuestionServed, QuizStarted
from orchestration.calibration import PairCalibration
from orchestration.simulation import exposure_for_pair
from orchestration.traffic import (
    TrafficProfile,
    api_randomesque_k,
    quota_membership,
    realised_exposure,
    realised_summary,
    traffic_profile,
    traffic_window,
)
from qbank.db import session_scope
from qbank.models import ItemParameterSet
from qbank.settings import Settings
from tests.support.dbt import DbtDatabase, make_dbt_database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Seeded:
    db: DbtDatabase
    bank: SynthBank
    events: list


def _with_quota(events, quota: dict[str, int]):
    return [e.model_copy(update={"quota": quota}) if isinstance(e, QuizStarted) else e
            for e in events]  # fmt: skip


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, settings: Settings) -> Iterator[Seeded]:
    """Old traffic (40 days ago, outside a 14-day window), then recent adaptive quizzes of 12
    items (1 pretest) and of 8 (no pretest, a quota on one topic), and linear quizzes."""
    for db in make_dbt_database(tmp_path_factory, settings, "traffic"):
        bank = create_bank(db.engine, n_items=40, n_users=30, seed=41)
        topic = str(bank.items[0].topic_id)
        old = list(quiz_events(bank, n_quizzes=30, items_per_quiz=20, adaptive_share=1.0,
                               seed=1, start=NOW - timedelta(days=40)))  # fmt: skip
        long_ = list(quiz_events(bank, n_quizzes=60, items_per_quiz=12, adaptive_share=1.0,
                                 pretest_share=1 / 12, seed=2, start=NOW - timedelta(days=5)))  # fmt: skip
        short = _with_quota(
            list(
                quiz_events(
                    bank,
                    n_quizzes=40,
                    items_per_quiz=8,
                    adaptive_share=1.0,
                    seed=3,
                    start=NOW - timedelta(days=3),
                )
            ),  # fmt: skip
            {topic: 2},
        )
        linear = list(quiz_events(bank, n_quizzes=50, items_per_quiz=10, adaptive_share=0.0,
                                  seed=4, start=NOW - timedelta(days=2)))  # fmt: skip
        events = old + long_ + short + linear
        db.load(events)
        # `build`, not `run`: fact_responses reads the users snapshot, which only build (or
        # `dbt snapshot`) makes; the marts' own tests are not what this module checks.
        result = db.dbt("build", "--select", "+fact_responses", "--exclude-resource-type", "test")
        assert result.success, result.exception
        yield Seeded(db, bank, events)


def _expected(events, since: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per adaptive quiz started in the window: scored and pretest answers; per item: adaptive
    quizzes that served it at a scored position — straight from the events."""
    started = {e.quiz_id: e for e in events if isinstance(e, QuizStarted)}
    served = {(e.quiz_id, e.position): e for e in events if isinstance(e, QuestionServed)}
    rows = []
    for e in events:
        if isinstance(e, AnswerSubmitted) and e.occurred_at >= since:
            s = started[e.quiz_id]
            if s.adaptive:
                v = served[(e.quiz_id, e.position)]
                rows.append((e.quiz_id, v.question_version_id, v.is_pretest))
    df = pd.DataFrame(rows, columns=["quiz", "item", "pretest"]).drop_duplicates()
    per_quiz = df.groupby("quiz")["pretest"].agg(scored=lambda p: int((~p).sum()),
                                                 pretest=lambda p: int(p.sum()))  # fmt: skip
    per_item = df[~df["pretest"]].groupby("item")["quiz"].nunique()
    return per_quiz, per_item


@pytest.mark.stack  # a database of its own, built by dbt
def test_traffic_profile_reads_the_window_from_the_marts(seeded: Seeded) -> None:
    bank = seeded.bank
    profile = traffic_profile(
        seeded.db.engine, bank.tenant_id, bank.exam_code, window_days=14, now=NOW,
        randomesque_k=3, latent_mean=0.4, latent_sd=1.1,
    )  # fmt: skip
    assert profile.since == NOW - timedelta(days=14) and profile.window == "last 14 days"
    per_quiz, _ = _expected(seeded.events, profile.since)
    assert profile.n_adaptive == 100 == len(per_quiz)
    assert profile.n_quizzes == 150 and profile.adaptive_share == pytest.approx(100 / 150)
    assert profile.length_distribution() == {11: 60, 8: 40}
    assert Counter(profile.scored_lengths.tolist()) == Counter(per_quiz["scored"].tolist())
    assert profile.pretest_share == pytest.approx(60 / (60 * 12 + 40 * 8))
    assert profile.n_with_quota == 40 and profile.quota_share == pytest.approx(0.4)
    assert profile.top_quotas == [({bank.items[0].topic_id: 2}, 40)]
    topic = bank.items[0].topic_id
    assert profile.quota_topics() == [topic]
    matrix = profile.quota_matrix([topic])
    assert sorted(matrix[:, 0].tolist()) == [-1] * 60 + [2] * 40
    assert (matrix[profile.scored_lengths == 8] == 2).all()  # each quiz keeps its own quota
    summary = profile.summary()
    assert (summary["randomesque_k"], summary["latent_mean"], summary["latent_sd"]) == (3, 0.4, 1.1)
    assert summary["scored_length_min"] == 8 and summary["scored_length_max"] == 11


@pytest.mark.stack  # a database of its own, built by dbt
def test_a_wider_window_takes_the_old_traffic_too(seeded: Seeded) -> None:
    bank = seeded.bank
    profile = traffic_profile(seeded.db.engine, bank.tenant_id, bank.exam_code, window_days=60,
                              now=NOW)  # fmt: skip
    assert profile.n_adaptive == 130 and profile.length_distribution()[20] == 30


@pytest.mark.stack  # a database of its own, built by dbt
def test_realised_exposure_is_the_share_of_adaptive_quizzes_serving_the_item(
    seeded: Seeded,
) -> None:
    bank = seeded.bank
    since = NOW - timedelta(days=14)
    items, n = realised_exposure(seeded.db.engine, bank.tenant_id, bank.exam_code, since, NOW)
    _, per_item = _expected(seeded.events, since)
    assert n == 100
    got = items.set_index("question_version_id")
    assert got["quizzes"].to_dict() == per_item.to_dict()
    assert np.allclose(got["exposure"], got["quizzes"] / 100)
    assert items["exposure"].is_monotonic_decreasing
    # what the check reports: at r_max 0.2 the items above 0.23, the worst with 95% intervals
    summary = realised_summary(items, n, 0.2, "test")
    assert summary["n_over"] == int((items["exposure"] > 0.23).sum()) > 0
    assert summary["max_exposure"] == items["exposure"].max()
    worst = summary["worst"][0]
    assert worst["quizzes"] == items["quizzes"].iloc[0]
    assert worst["ci95"][0] < worst["exposure"] < worst["ci95"][1]
    assert realised_summary(items, n, 1.0, "test")["n_over"] == 0


@pytest.mark.stack  # a database of its own, built by dbt
def test_quota_membership_includes_subtopics(seeded: Seeded) -> None:
    bank = seeded.bank
    root, leaf = bank.topic_ids[0], bank.items[0].topic_id
    versions = [it.question_version_id for it in bank.items]
    member = quota_membership(seeded.db.engine, bank.tenant_id, versions, [leaf, root])
    assert member[:, 1].all()  # every item sits below the root
    assert member[:, 0].tolist() == [it.topic_id == leaf for it in bank.items]
    assert member[:, 0].sum() == 14  # 40 items over 3 leaves, round robin
    assert quota_membership(seeded.db.engine, uuid.uuid4(), versions, [leaf]).sum() == 0


@pytest.mark.stack  # a database of its own, built by dbt
def test_the_window_starts_when_the_first_set_went_live(seeded: Seeded) -> None:
    """Cold start is not the traffic K answer for: once a set has been live for enough adaptive
    quizzes, the window starts at its activation."""
    bank, engine = seeded.bank, seeded.db.engine
    with session_scope(engine) as s:
        s.add(ItemParameterSet(
            tenant_id=bank.tenant_id, exam_code=bank.exam_code, status="superseded",
            created_by_run="test", checks_passed=True, metrics={},
            activated_at=NOW - timedelta(days=4),
        ))  # fmt: skip
    since, until, why = traffic_window(engine, bank.tenant_id, bank.exam_code, now=NOW)
    assert since == NOW - timedelta(days=4) and until == NOW and "first parameter set" in why
    profile = traffic_profile(engine, bank.tenant_id, bank.exam_code, now=NOW)
    assert profile.length_distribution() == {8: 40}  # the 12-item quizzes began on day −5
    other = traffic_window(engine, uuid.uuid4(), bank.exam_code, now=NOW)
    assert other[2] == "last 14 days"


def test_randomesque_k_is_the_apis(monkeypatch) -> None:
    monkeypatch.delenv("QBANK_API_RANDOMESQUE_K", raising=False)
    assert api_randomesque_k() == 1
    monkeypatch.setenv("QBANK_API_RANDOMESQUE_K", "4")
    assert api_randomesque_k() == 4
    monkeypatch.setenv("QBANK_API_RANDOMESQUE_K", "four")
    with pytest.raises(ValueError, match="must be an integer"):
        api_randomesque_k()


def _bank_pair(n_items: int, seed: int, latent_mean: float, latent_sd: float) -> PairCalibration:
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({
        "question_version_id": np.arange(1, n_items + 1), "question_id": np.arange(1, n_items + 1),
        "version": 1, "a": rng.lognormal(0, 0.3, n_items), "b": rng.normal(0, 1, n_items),
        "c": rng.uniform(0.1, 0.25, n_items), "calibrated": True, "is_anchor": False,
    })  # fmt: skip
    return PairCalibration(
        tenant_id=uuid.uuid4(), exam_code="STEP1", items=items, converged=True, iterations=1,
        n_persons=1, n_responses=1, latent_mean=latent_mean, latent_sd=latent_sd,
        previous_set_id=None, n_anchors=0,
    )  # fmt: skip


def test_sympson_hetter_fitted_to_live_traffic_holds_r_max() -> None:
    """Adaptive quizzes of 27 and 12 scored items, randomesque k = 2, a cohort N(0.4, 1.1²):
    with the final K the simulated maximum exposure is within 0.03 of r_max, where K = 1 gave
    far more."""
    pair = _bank_pair(150, 5, 0.4, 1.1)
    lengths = np.array([27] * 80 + [12] * 20)
    profile = TrafficProfile(
        tenant_id=pair.tenant_id, exam_code="STEP1", since=NOW, until=NOW, window="test",
        n_quizzes=120, n_adaptive=100, scored_lengths=lengths, pretest_lengths=lengths // 9,
        randomesque_k=2, latent_mean=0.4, latent_sd=1.1,
    )  # fmt: skip
    result = exposure_for_pair(pair, r_max=0.25, n_simulees=1500, n_iter=8, seed=3,
                               profile=profile)  # fmt: skip
    assert result.iterations == 8 and result.test_length == 27
    assert result.max_exposure_by_iteration[0] > 0.5  # no control: the best items in most quizzes
    assert result.final_max_exposure <= 0.25 + 0.03
    assert result.traffic["randomesque_k"] == 2 and result.traffic["latent_mean"] == 0.4
    assert (result.items["k"] < 1).any() and result.items["k"].between(0, 1).all()


def test_sympson_hetter_simulates_the_observed_quotas() -> None:
    """Half the quizzes had a quota of 6 items on a topic holding the 20 hardest items: those
    items are served far more than without the quota, and the K hold them too."""
    pair = _bank_pair(120, 6, 0.0, 1.0)
    hard = pair.items["b"].rank(ascending=False).to_numpy() <= 20
    membership = hard[:, None]
    lengths = np.array([15] * 100)
    profile = TrafficProfile(
        tenant_id=pair.tenant_id, exam_code="STEP1", since=NOW, until=NOW, window="test",
        n_quizzes=100, n_adaptive=100, scored_lengths=lengths, pretest_lengths=lengths * 0,
        quiz_quotas=[{7: 6}] * 50 + [{}] * 50,
    )  # fmt: skip
    args = dict(r_max=0.25, n_simulees=1000, n_iter=6, seed=4, profile=profile)
    with_quota = exposure_for_pair(pair, membership=membership, **args)
    without = exposure_for_pair(pair, **args)
    assert with_quota.traffic["quotas_simulated"] == 50
    assert without.traffic["quotas_simulated"] == 0  # no membership: quotas not simulated
    first = with_quota.max_exposure_by_iteration[0]
    sel = with_quota.items.set_index("question_version_id")["selection_rate"]
    sel_free = without.items.set_index("question_version_id")["selection_rate"]
    ids = pair.items["question_version_id"][hard]
    assert sel[ids].mean() > 1.5 * sel_free[ids].mean() and first > 0.5
    assert with_quota.final_max_exposure <= 0.25 + 0.03
