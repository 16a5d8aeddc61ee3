"""The ORM writes and reads the migrated schema: a question with versions and options."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qbank.models import Question, QuestionOption, QuestionVersion, Tenant, Topic, User


def make_owner(s: Session) -> tuple[Tenant, User, Topic]:
    tenant = Tenant(slug=f"orm-{uuid.uuid4().hex[:8]}", name="ORM")
    s.add(tenant)
    s.flush()
    user = User(
        tenant_id=tenant.id,
        email=f"{uuid.uuid4().hex[:8]}@x.org",
        display_name="A",
        password_hash="x",
        roles=["author"],
    )
    topic = Topic(tenant_id=tenant.id, name="Renal", path="renal")
    s.add_all([user, topic])
    s.flush()
    return tenant, user, topic


def version(tenant, user, topic, n: int, correct: str) -> QuestionVersion:
    return QuestionVersion(
        tenant_id=tenant.id,
        version=n,
        stem_md="A 54-year-old man…",
        lead_in="Most likely?",
        correct_label=correct,
        topic_id=topic.id,
        created_by=user.id,
        options=[QuestionOption(label=lbl, text_md=f"Option {lbl}") for lbl in "ABCD"],
    )


def test_question_with_versions_round_trips(engine):
    with Session(engine) as s, s.begin():
        tenant, user, topic = make_owner(s)
        q = Question(
            tenant_id=tenant.id,
            created_by=user.id,
            versions=[version(tenant, user, topic, 1, "C"), version(tenant, user, topic, 2, "B")],
        )
        s.add(q)
        s.flush()
        qid = q.id
    with Session(engine) as s:
        q = s.get(Question, qid)
        assert [v.version for v in q.versions] == [1, 2]
        assert [o.label for o in q.versions[0].options] == list("ABCD")
        assert q.versions[0].state == "draft" and q.versions[0].tags == {}


def test_orm_commit_refuses_correct_label_without_option(engine):
    with (
        pytest.raises(IntegrityError, match="fk_question_versions_correct_option"),
        Session(engine) as s,
        s.begin(),
    ):
        tenant, user, topic = make_owner(s)
        s.add(
            Question(
                tenant_id=tenant.id,
                created_by=user.id,
                versions=[version(tenant, user, topic, 1, "F")],
            )
        )
    with Session(engine) as s:
        assert s.scalar(select(QuestionVersion).where(QuestionVersion.correct_label == "F")) is None
