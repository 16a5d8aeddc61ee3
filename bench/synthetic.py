"""Synthetic content rows and contract events for the data-platform tests and benchmarks.

`create_bank` writes a tenant, students (with cohorts), a two-level topic tree and published
single-best-answer items through the ORM; each item keeps its true 3PL parameters aside.
`quiz_events` simulates students (θ ~ N(0, 1) per student) taking linear or adaptive-looking
quizzes and yields the events the serving API would emit, answers drawn from the 3PL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from kafka import KafkaProducer
from sqlalchemy import Engine, update

from ingestion.events import (
    AnswerSubmitted,
    EventEnvelope,
    QuestionServed,
    QuizFinished,
    QuizStarted,
    serialize_event,
)
from qbank.db import session_scope
from qbank.models import (
    Question,
    QuestionOption,
    QuestionPublication,
    QuestionVersion,
    Tenant,
    Topic,
    User,
)


@dataclass(frozen=True)
class SynthItem:
    question_id: int
    question_version_id: int
    version: int
    topic_id: int
    a: float
    b: float
    c: float


@dataclass
class SynthBank:
    tenant_id: uuid.UUID
    exam_code: str
    users: list[tuple[uuid.UUID, str]]  # (user id, cohort)
    items: list[SynthItem]
    topic_ids: list[int] = field(default_factory=list)
    theta: dict[uuid.UUID, float] = field(default_factory=dict)


def create_bank(
    engine: Engine,
    *,
    n_items: int,
    n_users: int,
    exam_code: str = "STEP1",
    cohorts: tuple[str, ...] = ("all",),
    seed: int = 7,
    slug: str | None = None,
) -> SynthBank:
    """Tenant, users, topics, published items (true a, b, c kept in the returned bank)."""
    rng = np.random.default_rng(seed)
    slug = slug or f"synth-{uuid.uuid4().hex[:10]}"
    with session_scope(engine) as s:
        tenant = Tenant(slug=slug, name=f"Synthetic {slug}")
        s.add(tenant)
        s.flush()
        author = User(
            tenant_id=tenant.id,
            email=f"author@{slug}.test",
            display_name="Author",
            password_hash="x",
            roles=["author", "publisher"],
        )
        s.add(author)
        users = [
            User(
                tenant_id=tenant.id,
                email=f"student{i}@{slug}.test",
                display_name=f"Student {i}",
                password_hash="x",
                roles=["student"],
                cohort=cohorts[i % len(cohorts)],
            )
            for i in range(n_users)
        ]
        s.add_all(users)
        s.flush()
        # ltree paths are built from ids: insert under a unique placeholder, then set the path.
        root = Topic(tenant_id=tenant.id, name="Medicine", blueprint_code="MED", path="tmp.root")
        s.add(root)
        s.flush()
        root.path = f"t{root.id}"
        leaves = []
        for name in ("Cardiology", "Renal", "Neurology"):
            t = Topic(
                tenant_id=tenant.id, parent_id=root.id, name=name, blueprint_code=name[:4].upper()
            )
            t.path = f"tmp.{name.lower()}"
            s.add(t)
            s.flush()
            t.path = f"{root.path}.t{t.id}"
            leaves.append(t)
        s.flush()
        items: list[SynthItem] = []
        for i in range(n_items):
            topic = leaves[i % len(leaves)]
            q = Question(tenant_id=tenant.id, external_ref=f"SYN-{i:05d}", created_by=author.id)
            s.add(q)
            s.flush()
            v = QuestionVersion(
                question_id=q.id,
                tenant_id=tenant.id,
                version=1,
                state="published",
                stem_md=f"Synthetic stem {i}",
                lead_in="Which is correct?",
                correct_label="A",
                topic_id=topic.id,
                created_by=author.id,
                options=[QuestionOption(label=lab, text_md=f"Option {lab}") for lab in "ABCD"],
            )
            s.add(v)
            s.flush()
            s.add(
                QuestionPublication(
                    tenant_id=tenant.id,
                    question_id=q.id,
                    question_version_id=v.id,
                    exam_code=exam_code,
                    published_by=author.id,
                )
            )
            items.append(
                SynthItem(
                    question_id=q.id,
                    question_version_id=v.id,
                    version=1,
                    topic_id=topic.id,
                    a=float(rng.lognormal(np.log(1.2), 0.2)),
                    b=float(rng.normal(0.0, 1.0)),
                    c=float(rng.uniform(0.12, 0.22)),
                )
            )
        bank = SynthBank(
            tenant_id=tenant.id,
            exam_code=exam_code,
            users=[(u.id, u.cohort) for u in users],
            items=items,
            topic_ids=[root.id, *(t.id for t in leaves)],
        )
    bank.theta = {uid: float(rng.normal()) for uid, _ in bank.users}
    return bank


def add_item_version(engine: Engine, bank: SynthBank, index: int, *, b_shift: float) -> SynthItem:
    """Publish version 2 of item `index` (a new version starts uncalibrated)."""
    old = bank.items[index]
    with session_scope(engine) as s:
        v1 = s.get(QuestionVersion, old.question_version_id)
        v = QuestionVersion(
            question_id=old.question_id,
            tenant_id=bank.tenant_id,
            version=old.version + 1,
            state="published",
            stem_md=v1.stem_md + " (revised)",
            lead_in=v1.lead_in,
            correct_label="A",
            topic_id=old.topic_id,
            created_by=v1.created_by,
            options=[QuestionOption(label=lab, text_md=f"Option {lab}") for lab in "ABCD"],
        )
        s.add(v)
        s.flush()
        s.execute(
            update(QuestionPublication)
            .where(
                QuestionPublication.question_id == old.question_id,
                QuestionPublication.exam_code == bank.exam_code,
            )
            .values(question_version_id=v.id)
        )
        new = SynthItem(
            old.question_id, v.id, old.version + 1, old.topic_id, old.a, old.b + b_shift, old.c
        )
    bank.items[index] = new
    return new


def _p3pl(theta: float, it: SynthItem) -> float:
    return it.c + (1.0 - it.c) / (1.0 + np.exp(-it.a * (theta - it.b)))


def quiz_events(
    bank: SynthBank,
    *,
    n_quizzes: int,
    items_per_quiz: int,
    seed: int = 11,
    adaptive_share: float = 0.0,
    pretest_share: float = 0.0,
    revise_share: float = 0.0,
    start: datetime | None = None,
    items: list[SynthItem] | None = None,
    parameter_set_id: int | None = None,
) -> Iterator[EventEnvelope]:
    """Events of `n_quizzes` finished quizzes, in the order the API would emit them.

    `revise_share` of linear exam answers are changed once (a second answer_submitted with
    revision 2), as a student revisiting marked items would. Served items carry their lineage:
    with `parameter_set_id`, the items' own a, b, c as that set's (pretest items: the cold-start
    defaults, no set); without, the cold-start defaults.
    """
    rng = np.random.default_rng(seed)
    pool = items if items is not None else bank.items
    start = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    k = min(items_per_quiz, len(pool))
    for qn in range(n_quizzes):
        user_id, _cohort = bank.users[int(rng.integers(len(bank.users)))]
        theta = bank.theta[user_id]
        quiz_id = uuid.uuid4()
        adaptive = bool(rng.random() < adaptive_share)
        mode = "tutor" if adaptive or rng.random() < 0.5 else "exam"
        t = start + timedelta(minutes=7 * qn)
        common = {"tenant_id": bank.tenant_id, "user_id": user_id, "quiz_id": quiz_id}
        n_pretest = int(round(k * pretest_share))
        yield QuizStarted(
            **common,
            occurred_at=t,
            mode=mode,
            adaptive=adaptive,
            exam_code=bank.exam_code,
            num_questions=k,
            num_pretest=n_pretest,
        )
        chosen = rng.choice(len(pool), size=k, replace=False)
        pretest_positions = set(rng.choice(k, size=n_pretest, replace=False) + 1)
        score = 0
        for pos, idx in enumerate(chosen, start=1):
            it = pool[int(idx)]
            ids = {
                "question_id": it.question_id,
                "question_version_id": it.question_version_id,
                "version": it.version,
                "position": pos,
            }
            t += timedelta(seconds=40)
            calibrated = parameter_set_id is not None and pos not in pretest_positions
            yield QuestionServed(
                **common,
                occurred_at=t,
                **ids,
                topic_id=it.topic_id,
                is_pretest=pos in pretest_positions,
                parameter_set_id=parameter_set_id if calibrated else None,
                a_used=it.a if calibrated else 1.0,
                b_used=it.b if calibrated else 0.0,
                c_used=it.c if calibrated else 0.25,
            )
            correct = bool(rng.random() < _p3pl(theta, it))
            t += timedelta(seconds=35)
            yield AnswerSubmitted(
                **common,
                occurred_at=t,
                **ids,
                selected="A" if correct else "B",
                is_correct=correct,
                time_taken_ms=int(rng.integers(5_000, 90_000)),
            )
            if not adaptive and mode == "exam" and rng.random() < revise_share:
                # The student changes the answer to the marked item: the later revision counts.
                correct = not correct
                yield AnswerSubmitted(
                    **common,
                    occurred_at=t + timedelta(minutes=20),
                    **ids,
                    selected="A" if correct else "C",
                    is_correct=correct,
                    time_taken_ms=int(rng.integers(5_000, 90_000)),
                    revision=2,
                )
            score += int(correct and pos not in pretest_positions)
        yield QuizFinished(
            **common,
            occurred_at=t + timedelta(minutes=30),
            score=score,
            num_scored=k - n_pretest,
            theta=0.0,
            se=0.5,
            scaled_score=500,
        )


def produce(
    bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Send (key, value) pairs to `topic`, wait for every ack; returns how many were sent."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, acks="all"
    )
    n = 0
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
            n += 1
        producer.flush()
    finally:
        producer.close()
    return n


def as_messages(events: Iterable[EventEnvelope]) -> Iterator[tuple[bytes, bytes]]:
    for e in events:
        yield e.key, serialize_event(e)
