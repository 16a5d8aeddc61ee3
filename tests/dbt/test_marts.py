"""The dbt project on real PostgreSQL: schemas, marts against independent computations,
incremental refresh equal to a full rebuild, and tests that catch bad data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from bench.synthetic import SynthBank, create_bank, quiz_events
from ingestion.events import (
    AnswerSubmitted,
    EventEnvelope,
    QuestionServed,
    QuestionServedV1,
    QuizStarted,
)
from tests.dbt.conftest import DbtDatabase

SPEC_FACT_COLUMNS = {
    "tenant_id", "user_id", "cohort", "quiz_id", "exam_code", "mode", "adaptive", "question_id",
    "question_version_id", "version", "topic_id", "position", "is_pretest", "ts", "is_correct",
    "time_taken_ms",
}  # fmt: skip
LINEAGE = ("parameter_set_id", "a_used", "b_used", "c_used")


def _as_v1(e: EventEnvelope) -> EventEnvelope:
    """A question_served as written before lineage (schema_version 1)."""
    if not isinstance(e, QuestionServed):
        return e
    return QuestionServedV1(**e.model_dump(exclude={"schema_version", *LINEAGE}))


def _fact(db: DbtDatabase) -> pd.DataFrame:
    with db.engine.connect() as c:
        df = pd.read_sql(text("SELECT * FROM marts.fact_responses"), c)
    return df.sort_values(["quiz_id", "position"]).reset_index(drop=True)


def _expected_fact(events: list[EventEnvelope], bank: SynthBank) -> pd.DataFrame:
    """fact_responses computed in Python straight from the events."""
    cohort = dict(bank.users)
    started = {e.quiz_id: e for e in events if isinstance(e, QuizStarted)}
    served = {
        (e.quiz_id, e.position): e
        for e in events
        if isinstance(e, QuestionServed | QuestionServedV1)
    }
    last: dict = {}
    for e in events:
        if isinstance(e, AnswerSubmitted):
            k = (e.quiz_id, e.position)
            if k not in last or (e.revision, e.occurred_at) > (
                last[k].revision,
                last[k].occurred_at,
            ):
                last[k] = e
    rows = []
    for (quiz, pos), a in last.items():
        if quiz not in started or (quiz, pos) not in served:
            continue
        s, v = started[quiz], served[(quiz, pos)]
        rows.append(
            {
                "tenant_id": a.tenant_id, "user_id": a.user_id, "cohort": cohort[a.user_id],
                "quiz_id": quiz, "exam_code": s.exam_code, "mode": s.mode, "adaptive": s.adaptive,
                "question_id": a.question_id, "question_version_id": a.question_version_id,
                "version": a.version, "topic_id": v.topic_id, "position": pos,
                "is_pretest": v.is_pretest, "ts": a.occurred_at, "is_correct": a.is_correct,
                "time_taken_ms": a.time_taken_ms, "revision": a.revision,
            } | {k: getattr(v, k, None) for k in LINEAGE}
        )  # fmt: skip
    return pd.DataFrame(rows).sort_values(["quiz_id", "position"]).reset_index(drop=True)


def _same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    cols = list(expected.columns)
    a = actual[cols].reset_index(drop=True)
    a["ts"] = pd.to_datetime(a["ts"], utc=True)
    e = expected.copy()
    e["ts"] = pd.to_datetime(e["ts"], utc=True)
    for col in ("tenant_id", "user_id", "quiz_id"):
        a[col] = a[col].astype(str)
        e[col] = e[col].astype(str)
    pd.testing.assert_frame_equal(a, e, check_dtype=False)


def _orphan_quiz(bank: SynthBank) -> tuple[list[EventEnvelope], list[EventEnvelope]]:
    """A quiz whose answer arrives before its quiz_started and question_served (late context)."""
    events = list(
        quiz_events(
            bank, n_quizzes=1, items_per_quiz=3, seed=99, start=datetime(2026, 2, 1, tzinfo=UTC)
        )
    )
    answers = [e for e in events if isinstance(e, AnswerSubmitted)]
    context = [e for e in events if not isinstance(e, AnswerSubmitted)]
    return answers, context


@pytest.fixture(scope="module")
def history(dbt_db: DbtDatabase) -> dict:
    """Build, then three incremental refreshes: new quizzes and a changed answer, an answer
    without its context, then the context. Observations are kept for the tests below."""
    db = dbt_db
    bank = create_bank(db.engine, n_items=24, n_users=30, cohorts=("2026-spring", "2026-fall"))
    first = list(
        quiz_events(bank, n_quizzes=120, items_per_quiz=8, adaptive_share=0.3, pretest_share=0.125)
    )
    db.load(first)
    built = db.dbt("build")
    seen = {"build_ok": built.success, "build_results": db.run_results()}

    # A student revisits a marked item of an earlier linear exam quiz and changes the answer.
    exam_answer = next(
        e
        for e in first
        if isinstance(e, AnswerSubmitted)
        and any(
            isinstance(s, QuizStarted)
            and s.quiz_id == e.quiz_id
            and s.mode == "exam"
            and not s.adaptive
            for s in first
        )
    )
    changed = exam_answer.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "is_correct": not exam_answer.is_correct,
            "selected": "D",
            "revision": 2,
            "occurred_at": exam_answer.occurred_at + timedelta(minutes=30),
        }
    )
    # Served under a calibrated set (lineage: set 7 and the items' a, b, c).
    second = list(
        quiz_events(bank, n_quizzes=40, items_per_quiz=8, seed=12, revise_share=0.3,
                    start=datetime(2026, 1, 20, tzinfo=UTC), parameter_set_id=7,
                    pretest_share=0.125)
    )  # fmt: skip
    db.load([*second, changed])
    seen["run2_ok"] = db.dbt("run").success

    answers, context = _orphan_quiz(bank)
    # Other complete quizzes in the same load move the watermark past the orphan's answers;
    # written before lineage (question_served version 1), they still land, with null lineage.
    third = [
        _as_v1(e)
        for e in quiz_events(bank, n_quizzes=5, items_per_quiz=4, seed=13,
                             start=datetime(2026, 1, 25, tzinfo=UTC))
    ]  # fmt: skip
    db.load([*answers, *third])
    seen["run3_ok"] = db.dbt("run").success
    seen["orphan_after_answers"] = int((_fact(db).quiz_id == answers[0].quiz_id).sum())
    db.load(context)
    seen["run4_ok"] = db.dbt("build").success
    seen["orphan_after_context"] = int((_fact(db).quiz_id == answers[0].quiz_id).sum())
    seen["incremental_fact"] = _fact(db)
    seen["changed"] = changed
    seen["events"] = [*first, *second, changed, *answers, *third, *context]
    seen["bank"] = bank
    return seen


def test_build_succeeds_with_every_test_passing(history: dict) -> None:
    assert history["build_ok"]
    statuses = history["build_results"]
    tests = {k: v for k, v in statuses.items() if k.startswith("test.")}
    assert len(tests) > 60 and set(tests.values()) == {"pass"}
    marts = {"fact_responses", "cohort_performance", "item_statistics", "topic_performance"}
    tested = {m for m in marts for k in tests if m in k}
    assert tested == marts  # every mart carries tests
    assert all(history[k] for k in ("run2_ok", "run3_ok", "run4_ok"))


def test_models_build_into_exactly_staging_and_marts(dbt_db: DbtDatabase, history: dict) -> None:
    with dbt_db.engine.connect() as c:
        schemas = dict(
            c.execute(
                text(
                    "SELECT table_schema, count(*) FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'public', 'raw') "
                    "GROUP BY 1"
                )
            ).all()
        )
    assert schemas == {"staging": 11, "marts": 4}


def test_fact_responses_matches_the_events(history: dict) -> None:
    fact = history["incremental_fact"]
    assert set(fact.columns) >= SPEC_FACT_COLUMNS
    _same(fact, _expected_fact(history["events"], history["bank"]))
    changed = history["changed"]
    row = fact[(fact.quiz_id == changed.quiz_id) & (fact.position == changed.position)]
    assert row[["revision", "is_correct"]].values.tolist() == [[2, changed.is_correct]]
    # Lineage: a set and its a, b, c; the cold-start defaults without a set; nothing before v2.
    with_set = fact[fact.parameter_set_id.notna()]
    assert len(with_set) and (with_set.parameter_set_id == 7).all() and (with_set.a_used > 0).all()
    cold = fact[fact.parameter_set_id.isna() & fact.a_used.notna()]
    assert len(cold) and (cold.a_used == 1.0).all() and (cold.c_used == 0.25).all()
    assert fact.a_used.isna().sum() == 5 * 4  # the five version-1 quizzes of four items


def test_late_context_is_picked_up(history: dict) -> None:
    assert history["orphan_after_answers"] == 0
    assert history["orphan_after_context"] == 3


def test_incremental_refresh_equals_full_rebuild(dbt_db: DbtDatabase, history: dict) -> None:
    assert dbt_db.dbt("run", "--full-refresh").success
    rebuilt = _fact(dbt_db)
    cols = [c for c in rebuilt.columns if c != "_watermark"]
    pd.testing.assert_frame_equal(history["incremental_fact"][cols], rebuilt[cols])


def test_cohort_item_and_topic_marts_match_pandas(dbt_db: DbtDatabase, history: dict) -> None:
    with dbt_db.engine.connect() as c:
        fact = pd.read_sql(text("SELECT * FROM marts.fact_responses"), c)
        cohort = pd.read_sql(text("SELECT * FROM marts.cohort_performance"), c)
        items = pd.read_sql(text("SELECT * FROM marts.item_statistics"), c)
        topics = pd.read_sql(text("SELECT * FROM marts.topic_performance"), c)
    fact["day"] = pd.to_datetime(fact.ts, utc=True).dt.date
    fact["correct"] = fact.is_correct.astype(int)

    exp = fact.groupby(["cohort", "day"]).agg(
        attempts=("correct", "size"),
        accuracy=("correct", "mean"),
        active_users=("user_id", "nunique"),
    )
    got = cohort.set_index(["cohort", "day"])[["attempts", "accuracy", "active_users"]]
    pd.testing.assert_frame_equal(got.sort_index(), exp.sort_index(), check_dtype=False)
    assert set(cohort.cohort) == {"2026-spring", "2026-fall"}

    totals = fact.groupby("quiz_id").correct.agg(["sum", "size"])
    fact = fact.join(totals, on="quiz_id")
    fact["rest"] = (fact["sum"] - fact.correct) / (fact["size"] - 1)
    classical = fact[~fact.adaptive | fact.is_pretest]
    items = items.set_index("question_version_id")
    for version_id, g in classical.groupby("question_version_id"):
        row = items.loc[version_id]
        assert row.attempts == len(g)
        assert row.p_value == pytest.approx(g.correct.mean())
        assert row.point_biserial == pytest.approx(np.corrcoef(g.correct, g.rest)[0, 1])
    adaptive = fact[fact.adaptive & ~fact.is_pretest].groupby("question_version_id").size()
    assert (items.adaptive_attempts.reindex(adaptive.index) == adaptive).all()
    n_quizzes = sum(isinstance(e, QuizStarted) for e in history["events"])
    served = pd.Series(
        [
            e.question_version_id
            for e in history["events"]
            if isinstance(e, QuestionServed | QuestionServedV1)
        ]
    ).value_counts()
    assert np.allclose(items.exposure_rate.reindex(served.index), served / n_quizzes)

    root = topics[topics.depth == 1].iloc[0]
    assert (root.attempts, root.direct_attempts) == (len(fact), 0)
    assert root.accuracy == pytest.approx(fact.correct.mean())
    leaves = topics[topics.depth == 2].set_index("topic_id")
    assert (leaves.attempts == fact.groupby("topic_id").size().reindex(leaves.index)).all()


def test_dbt_tests_catch_bad_data(scratch_dbt_db: DbtDatabase) -> None:
    """An answer to an item version that does not exist fails the relationships test."""
    db = scratch_dbt_db
    bank = create_bank(db.engine, n_items=4, n_users=2)
    events = list(quiz_events(bank, n_quizzes=2, items_per_quiz=3))
    ghost = 10_000_000
    events = [
        e.model_copy(update={"question_version_id": ghost})
        if isinstance(e, AnswerSubmitted | QuestionServed) and e.position == 1
        else e
        for e in events
    ]
    db.load(events)
    result = db.dbt("build")
    assert not result.success
    failed = {k for k, v in db.run_results().items() if v in ("fail", "error")}
    assert any("relationships_fact_responses_question_version_id" in k for k in failed), failed
    assert db.dbt("source", "freshness").success  # just loaded: fresh
    with db.engine.begin() as c:
        c.execute(text("UPDATE raw.events SET ingested_at = now() - interval '2 days'"))
    assert not db.dbt("source", "freshness").success  # a day without data is an error


def test_docs_generate(dbt_db: DbtDatabase, history: dict) -> None:
    assert dbt_db.dbt("docs", "generate").success
    catalog = (dbt_db.target_path / "catalog.json").read_text()
    assert "model.dbt_qbank.fact_responses" in catalog
