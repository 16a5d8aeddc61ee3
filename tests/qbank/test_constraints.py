"""Each database constraint refuses its bad row with a clear error (one test per constraint).

Every test runs in a transaction that is rolled back, so nothing leaks between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError


@dataclass
class Seed:
    tenant: uuid.UUID
    user: uuid.UUID
    topic: int
    question: int
    version: int
    quiz: uuid.UUID
    item: int


@pytest.fixture
def conn(engine) -> Iterator[Connection]:
    with engine.connect() as c:
        tx = c.begin()
        yield c
        tx.rollback()


def q(conn: Connection, sql: str, **params):
    return conn.execute(text(sql), params)


def one(conn: Connection, sql: str, **params):
    return q(conn, sql, **params).scalar_one()


def add_version(conn, question: int, tenant, user, topic: int, version: int, **over) -> int:
    cols = (
        dict(
            question_id=question,
            tenant_id=tenant,
            version=version,
            state="draft",
            stem_md="Stem",
            lead_in="Which?",
            correct_label="A",
            difficulty_label="medium",
            bloom_level=2,
            topic_id=topic,
            created_by=user,
        )
        | over
    )
    names = ", ".join(cols)
    binds = ", ".join(f":{k}" for k in cols)
    vid = one(
        conn, f"INSERT INTO question_versions ({names}) VALUES ({binds}) RETURNING id", **cols
    )
    for label in "AB":
        q(
            conn,
            "INSERT INTO question_options VALUES (:v, :l, :t)",
            v=vid,
            l=label,
            t=f"opt {label}",
        )
    return vid


def tenant_and_user(conn, name: str, role: str) -> tuple:
    """A new tenant named `name` and one user of it with `role`: (tenant id, user id)."""
    tenant = one(
        conn,
        "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), :s, :n) RETURNING id",
        s=f"t-{uuid.uuid4().hex[:8]}",
        n=name,
    )
    user = one(
        conn,
        "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
        "VALUES (gen_random_uuid(), :t, :e, 'U', 'x', ARRAY[CAST(:r AS text)]) RETURNING id",
        t=tenant,
        e=f"{uuid.uuid4().hex[:8]}@example.org",
        r=role,
    )
    return tenant, user


@pytest.fixture
def seed(conn) -> Seed:
    tenant, user = tenant_and_user(conn, "T", "author")
    topic = one(
        conn,
        "INSERT INTO topics (tenant_id, name, path) VALUES (:t, 'Cardio', 't1') RETURNING id",
        t=tenant,
    )
    question = one(
        conn,
        "INSERT INTO questions (tenant_id, created_by) VALUES (:t, :u) RETURNING id",
        t=tenant,
        u=user,
    )
    version = add_version(conn, question, tenant, user, topic, 1)
    quiz = one(
        conn,
        "INSERT INTO quiz_sessions (id, tenant_id, user_id, mode, adaptive, exam_code, "
        "num_questions) VALUES (gen_random_uuid(), :t, :u, 'tutor', true, 'STEP1', 10) "
        "RETURNING id",
        t=tenant,
        u=user,
    )
    item = one(
        conn,
        "INSERT INTO quiz_items (quiz_id, tenant_id, question_id, question_version_id, "
        "version, topic_id, position, a, b, c) VALUES (:z, :t, :q, :v, 1, :tp, 1, 1, 0, "
        "0.25) RETURNING id",
        z=quiz,
        t=tenant,
        q=question,
        v=version,
        tp=topic,
    )
    return Seed(tenant, user, topic, question, version, quiz, item)


def refused(conn: Connection, sql: str, constraint: str, **params) -> None:
    """The statement fails and the error names the constraint that refused it."""
    with pytest.raises(IntegrityError) as err, conn.begin_nested():
        q(conn, sql, **params)
        q(conn, "SET CONSTRAINTS ALL IMMEDIATE")  # deferred checks fire now, not at commit
    assert constraint in str(err.value.orig), str(err.value.orig)


def test_tenant_slug_format(conn):
    refused(
        conn,
        "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'Bad Slug!', 'x')",
        "ck_tenants_slug_format",
    )


def test_user_roles_must_be_known(conn, seed):
    refused(
        conn,
        "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
        "VALUES (gen_random_uuid(), :t, 'r@x.org', 'R', 'x', ARRAY['superuser'])",
        "ck_users_roles_known",
        t=seed.tenant,
    )


def test_user_needs_a_role(conn, seed):
    refused(
        conn,
        "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
        "VALUES (gen_random_uuid(), :t, 'r@x.org', 'R', 'x', ARRAY[]::text[])",
        "ck_users_roles_known",
        t=seed.tenant,
    )


def test_user_email_unique_in_its_tenant_case_insensitive(conn, seed):
    email = one(conn, "SELECT email FROM users WHERE id=:u", u=seed.user)
    refused(
        conn,
        "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
        "VALUES (gen_random_uuid(), :t, :e, 'R', 'x', ARRAY['student'])",
        "uq_users_tenant_email_lower",
        t=seed.tenant,
        e=email.upper(),
    )


def test_same_email_may_have_an_account_in_another_tenant(conn, seed):
    email = one(conn, "SELECT email FROM users WHERE id=:u", u=seed.user)
    other = one(
        conn,
        "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), :s, 'O') RETURNING id",
        s=f"o-{uuid.uuid4().hex[:8]}",
    )
    q(
        conn,
        "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
        "VALUES (gen_random_uuid(), :t, :e, 'R', 'x', ARRAY['student'])",
        t=other,
        e=email.upper(),
    )
    n = one(conn, "SELECT count(*) FROM users WHERE lower(email) = lower(:e)", e=email)
    assert n == 2


def test_user_tenant_must_exist(conn):
    refused(
        conn,
        "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
        "VALUES (gen_random_uuid(), gen_random_uuid(), 'n@x.org', 'N', 'x', "
        "ARRAY['student'])",
        "fk_users_tenant_id_tenants",
    )


def test_sibling_topics_have_distinct_names(conn, seed):
    refused(
        conn,
        "INSERT INTO topics (tenant_id, name, path) VALUES (:t, 'Cardio', 't2')",
        "uq_topics_sibling_name",
        t=seed.tenant,
    )


def test_version_state_must_be_known(conn, seed):
    refused(
        conn,
        "UPDATE question_versions SET state='live' WHERE id=:v",
        "ck_question_versions_state_known",
        v=seed.version,
    )


def test_version_difficulty_label_must_be_known(conn, seed):
    refused(
        conn,
        "UPDATE question_versions SET difficulty_label='tricky' WHERE id=:v",
        "ck_question_versions_difficulty_known",
        v=seed.version,
    )


def test_version_bloom_level_in_range(conn, seed):
    refused(
        conn,
        "UPDATE question_versions SET bloom_level=9 WHERE id=:v",
        "ck_question_versions_bloom_range",
        v=seed.version,
    )


def test_version_numbers_unique_per_question(conn, seed):
    with pytest.raises(IntegrityError) as err, conn.begin_nested():
        add_version(conn, seed.question, seed.tenant, seed.user, seed.topic, 1)
    assert "uq_question_versions_question_id_version" in str(err.value.orig)


def test_correct_label_must_name_one_of_its_options(conn, seed):
    refused(
        conn,
        "UPDATE question_versions SET correct_label='D' WHERE id=:v",
        "fk_question_versions_correct_option",
        v=seed.version,
    )


def test_correct_option_cannot_be_deleted(conn, seed):
    refused(
        conn,
        "DELETE FROM question_options WHERE question_version_id=:v AND label='A'",
        "fk_question_versions_correct_option",
        v=seed.version,
    )


def test_version_without_options_is_refused_at_commit(conn, seed):
    refused(
        conn,
        "INSERT INTO question_versions (question_id, tenant_id, version, stem_md, lead_in, "
        "correct_label, topic_id, created_by) VALUES (:q, :t, 2, 's', 'l', 'A', :tp, :u)",
        "fk_question_versions_correct_option",
        q=seed.question,
        t=seed.tenant,
        tp=seed.topic,
        u=seed.user,
    )


def test_option_label_is_a_letter(conn, seed):
    refused(
        conn,
        "INSERT INTO question_options VALUES (:v, '1', 'x')",
        "ck_question_options_label_letter",
        v=seed.version,
    )


def test_one_publication_per_question_tenant_exam(conn, seed):
    sql = (
        "INSERT INTO question_publications (tenant_id, question_id, question_version_id, exam_code, "
        "published_by) VALUES (:t, :q, :v, 'STEP1', :u)"
    )
    q(conn, sql, t=seed.tenant, q=seed.question, v=seed.version, u=seed.user)
    refused(
        conn,
        sql,
        "uq_question_publications_question_id_tenant_id_exam_code",
        t=seed.tenant,
        q=seed.question,
        v=seed.version,
        u=seed.user,
    )


def test_publication_version_belongs_to_its_question(conn, seed):
    other = one(
        conn,
        "INSERT INTO questions (tenant_id, created_by) VALUES (:t, :u) RETURNING id",
        t=seed.tenant,
        u=seed.user,
    )
    refused(
        conn,
        "INSERT INTO question_publications (tenant_id, question_id, question_version_id, "
        "exam_code, published_by) VALUES (:t, :q, :v, 'STEP1', :u)",
        "fk_question_publications_version_of_question",
        t=seed.tenant,
        q=other,
        v=seed.version,
        u=seed.user,
    )


def test_quiz_mode_must_be_known(conn, seed):
    refused(
        conn,
        "UPDATE quiz_sessions SET mode='practice' WHERE id=:z",
        "ck_quiz_sessions_mode_known",
        z=seed.quiz,
    )


def test_quiz_length_between_1_and_120(conn, seed):
    refused(
        conn,
        "UPDATE quiz_sessions SET num_questions=121 WHERE id=:z",
        "ck_quiz_sessions_num_questions_range",
        z=seed.quiz,
    )


def test_quiz_status_must_be_known(conn, seed):
    refused(
        conn,
        "UPDATE quiz_sessions SET status='paused' WHERE id=:z",
        "ck_quiz_sessions_status_known",
        z=seed.quiz,
    )


def test_no_item_twice_in_a_quiz(conn, seed):
    refused(
        conn,
        QUIZ_ITEM,
        "uq_quiz_items_quiz_id_question_id",
        p=2,
        z=seed.quiz,
        t=seed.tenant,
        q=seed.question,
        v=seed.version,
        tp=seed.topic,
    )


def test_one_item_per_position(conn, seed):
    other, v2 = unserved_question(conn, seed)
    refused(
        conn,
        QUIZ_ITEM,
        "uq_quiz_items_quiz_id_position",
        p=1,
        z=seed.quiz,
        t=seed.tenant,
        q=other,
        v=v2,
        tp=seed.topic,
    )


QUIZ_ITEM = (
    "INSERT INTO quiz_items (quiz_id, tenant_id, question_id, question_version_id, "
    "version, topic_id, position, a, b, c) VALUES (:z, :t, :q, :v, 1, :tp, :p, 1, 0, 0.25)"
)


def unserved_question(conn, seed: Seed) -> tuple[int, int]:
    """(question, version) of the seed's tenant and topic, not yet served in its quiz."""
    question = one(
        conn,
        "INSERT INTO questions (tenant_id, created_by) VALUES (:t, :u) RETURNING id",
        t=seed.tenant,
        u=seed.user,
    )
    return question, add_version(conn, question, seed.tenant, seed.user, seed.topic, 1)


def test_quiz_item_is_of_its_quizs_tenant(conn, seed):
    """Another tenant that exists is not enough: the item's tenant is its quiz's."""
    tenant, _user = tenant_and_user(conn, "T2", "student")
    question, version = unserved_question(conn, seed)
    item = dict(z=seed.quiz, q=question, v=version, tp=seed.topic, p=2)
    refused(conn, QUIZ_ITEM, "fk_quiz_items_quiz_of_tenant", t=tenant, **item)
    q(conn, QUIZ_ITEM, t=seed.tenant, **item)


def test_quiz_item_is_its_versions_question_and_topic(conn, seed):
    other_topic = one(
        conn,
        "INSERT INTO topics (tenant_id, name, path) VALUES (:t, 'Renal', 't2') RETURNING id",
        t=seed.tenant,
    )
    question, version = unserved_question(conn, seed)
    item = dict(z=seed.quiz, t=seed.tenant, p=2)
    fk = "fk_quiz_items_version_of_question_topic"
    refused(conn, QUIZ_ITEM, fk, q=question, v=version, tp=other_topic, **item)
    refused(conn, QUIZ_ITEM, fk, q=question, v=seed.version, tp=seed.topic, **item)
    q(conn, QUIZ_ITEM, q=question, v=version, tp=seed.topic, **item)


RESPONSE = (
    "INSERT INTO user_responses (quiz_item_id, quiz_id, tenant_id, user_id, question_id, "
    "question_version_id, selected_label, is_correct, time_taken_ms) "
    "VALUES (:i, :z, :t, :u, :q, :v, 'A', true, :ms)"
)


def test_one_answer_per_served_item(conn, seed):
    args = dict(
        i=seed.item,
        z=seed.quiz,
        t=seed.tenant,
        u=seed.user,
        q=seed.question,
        v=seed.version,
        ms=1200,
    )
    q(conn, RESPONSE, **args)
    refused(conn, RESPONSE, "uq_user_responses_quiz_item_id", **args)


def test_answer_is_of_its_quizs_student(conn, seed):
    tenant, user = tenant_and_user(conn, "T2", "student")
    answer = dict(i=seed.item, z=seed.quiz, q=seed.question, v=seed.version, ms=900)
    fk = "fk_user_responses_quiz_of_student"
    refused(conn, RESPONSE, fk, t=seed.tenant, u=user, **answer)
    refused(conn, RESPONSE, fk, t=tenant, u=seed.user, **answer)


def test_answer_is_to_the_item_served(conn, seed):
    """The answer's question and version are the served item's, in the served item's quiz."""
    other, v_other = unserved_question(conn, seed)
    v2 = add_version(conn, seed.question, seed.tenant, seed.user, seed.topic, 2)
    quiz2 = one(
        conn,
        "INSERT INTO quiz_sessions (id, tenant_id, user_id, mode, adaptive, exam_code, "
        "num_questions) VALUES (gen_random_uuid(), :t, :u, 'tutor', true, 'STEP1', 10) "
        "RETURNING id",
        t=seed.tenant,
        u=seed.user,
    )
    answer = dict(i=seed.item, t=seed.tenant, u=seed.user, ms=900)
    fk = "fk_user_responses_served_item"
    refused(conn, RESPONSE, fk, z=seed.quiz, q=seed.question, v=v2, **answer)
    refused(conn, RESPONSE, fk, z=seed.quiz, q=other, v=v_other, **answer)
    refused(conn, RESPONSE, fk, z=quiz2, q=seed.question, v=seed.version, **answer)
    q(conn, RESPONSE, z=seed.quiz, q=seed.question, v=seed.version, **answer)


def test_time_taken_not_negative(conn, seed):
    refused(
        conn,
        RESPONSE,
        "ck_user_responses_time_nonnegative",
        i=seed.item,
        z=seed.quiz,
        t=seed.tenant,
        u=seed.user,
        q=seed.question,
        v=seed.version,
        ms=-5,
    )


def test_outbox_event_id_unique(conn, seed):
    sql = (
        "INSERT INTO event_outbox (event_id, event_type, tenant_id, partition_key, payload) "
        "VALUES (:e, 'quiz_started', :t, 'k', '{}')"
    )
    e = uuid.uuid4()
    q(conn, sql, e=e, t=seed.tenant)
    refused(conn, sql, "uq_event_outbox_event_id", e=e, t=seed.tenant)


def test_raw_event_id_unique(conn, seed):
    sql = (
        "INSERT INTO raw.events (event_id, event_type, schema_version, occurred_at, tenant_id, "
        "user_id, quiz_id, payload, source_topic, source_partition, source_offset) VALUES "
        "(:e, 'quiz_started', 1, now(), :t, :u, :z, '{}', 'events.qbank', 0, :o)"
    )
    e = uuid.uuid4()
    q(conn, sql, e=e, t=seed.tenant, u=seed.user, z=seed.quiz, o=1)
    refused(conn, sql, "pk_events", e=e, t=seed.tenant, u=seed.user, z=seed.quiz, o=2)


def test_dead_letter_source_unique(conn):
    sql = (
        'INSERT INTO raw.dead_letters (topic, partition, "offset", value, reason) '
        "VALUES ('events.qbank', 0, 7, 'x', 'bad json')"
    )
    q(conn, sql)
    refused(conn, sql, "uq_dead_letters_source")


PARAM_SET = (
    "INSERT INTO item_parameter_sets (tenant_id, exam_code, status, created_by_run) "
    "VALUES (:t, 'STEP1', :s, 'run-1') RETURNING id"
)


def test_one_active_parameter_set_per_tenant_and_exam(conn, seed):
    one(conn, PARAM_SET, t=seed.tenant, s="active")
    one(conn, PARAM_SET, t=seed.tenant, s="superseded")  # any number of inactive sets
    refused(conn, PARAM_SET, "uq_item_parameter_sets_one_active", t=seed.tenant, s="active")


def test_parameter_set_status_known(conn, seed):
    refused(conn, PARAM_SET, "ck_item_parameter_sets_status_known", t=seed.tenant, s="live")


@pytest.mark.parametrize(
    ("a", "c", "k", "constraint"),
    [
        (0.0, 0.2, 1.0, "ck_item_parameters_a_positive"),
        (1.0, 1.0, 1.0, "ck_item_parameters_c_range"),
        (1.0, 0.2, 1.5, "ck_item_parameters_k_range"),
    ],
)
def test_item_parameter_bounds(conn, seed, a, c, k, constraint):
    set_id = one(conn, PARAM_SET, t=seed.tenant, s="candidate")
    refused(
        conn,
        "INSERT INTO item_parameters (set_id, question_version_id, question_id, version, "
        "a, b, c, k, n_respondents) VALUES (:s, :v, :q, 1, :a, 0, :c, :k, 10)",
        constraint,
        s=set_id,
        v=seed.version,
        q=seed.question,
        a=a,
        c=c,
        k=k,
    )
