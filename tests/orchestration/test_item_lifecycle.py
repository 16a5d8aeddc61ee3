"""Calibration sees minor edits as the same item (SPEC §3), through the one definition of the
live parameters (`live_item_parameters`), on a database of its own with a hand-made
`marts.fact_responses` (only the columns calibration reads)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from orchestration.calibration import (
    load_active_set,
    load_live_items,
    load_responses,
    select_anchors,
)
from orchestration.publishing import live_bank
from qbank import migrations
from tests.conftest import RUN_ID, create_database, drop_database


@pytest.fixture(scope="module")
def db() -> Iterator[Engine]:
    name = f"qbank_lifecycle_{RUN_ID}"
    url = create_database(name)
    migrations.upgrade(url)
    eng = create_engine(url)
    yield eng
    eng.dispose()
    drop_database(name)


def _version(c, q: int, tenant, user, topic: int, version: int, state: str, **kw) -> int:
    vid = c.execute(
        text(
            "INSERT INTO question_versions (question_id, tenant_id, version, state, stem_md, "
            "lead_in, correct_label, topic_id, created_by, edit_kind, item_root_version_id) "
            "VALUES (:q, :t, :v, :s, 'stem', 'lead', 'A', :topic, :u, :kind, :root) RETURNING id"
        ),
        {"q": q, "t": tenant, "v": version, "s": state, "topic": topic, "u": user}
        | {"kind": kw.get("kind"), "root": kw.get("root")},
    ).scalar_one()
    for label in "ABCD":
        c.execute(text("INSERT INTO question_options VALUES (:v, :l, 'x')"), {"v": vid, "l": label})
    return vid


def test_minor_edit_pools_responses_and_keeps_its_anchor(db):
    exam = "LIFE-1"
    with db.begin() as c:
        tenant = c.execute(
            text(
                "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'life', 'Life') RETURNING id"
            )
        ).scalar_one()
        user = c.execute(
            text(
                "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
                "VALUES (gen_random_uuid(), :t, 'a@life.example', 'A', 'x', ARRAY['admin']) RETURNING id"
            ),
            {"t": tenant},
        ).scalar_one()
        topic = c.execute(
            text("INSERT INTO topics (tenant_id, name, path) VALUES (:t, 'T', 't1') RETURNING id"),
            {"t": tenant},
        ).scalar_one()
        qs = [
            c.execute(
                text("INSERT INTO questions (tenant_id, created_by) VALUES (:t, :u) RETURNING id"),
                {"t": tenant, "u": user},
            ).scalar_one()
            for _ in range(3)
        ]
        minor_q, subst_q, same_q = qs
        # minor_q: v1 → v2 (minor) → v3 (minor, live); subst_q: v1 → v2 (substantive, live);
        # same_q: v1 live.
        m1 = _version(c, minor_q, tenant, user, topic, 1, "retired")
        m2 = _version(c, minor_q, tenant, user, topic, 2, "retired", kind="minor", root=m1)
        m3 = _version(c, minor_q, tenant, user, topic, 3, "published", kind="minor", root=m1)
        s1 = _version(c, subst_q, tenant, user, topic, 1, "retired")
        s2 = _version(c, subst_q, tenant, user, topic, 2, "published", kind="substantive")
        k1 = _version(c, same_q, tenant, user, topic, 1, "published")
        for q, v in ((minor_q, m3), (subst_q, s2), (same_q, k1)):
            c.execute(
                text(
                    "INSERT INTO question_publications (tenant_id, question_id, "
                    "question_version_id, exam_code, published_by) VALUES (:t, :q, :v, :e, :u)"
                ),
                {"t": tenant, "q": q, "v": v, "e": exam, "u": user},
            )
        # The active set was calibrated while version 1 of each question was live.
        set_id = c.execute(
            text(
                "INSERT INTO item_parameter_sets (tenant_id, exam_code, status, created_by_run, "
                "checks_passed) VALUES (:t, :e, 'active', 'test', true) RETURNING id"
            ),
            {"t": tenant, "e": exam},
        ).scalar_one()
        for q, v, b in ((minor_q, m1, 0.7), (subst_q, s1, -0.3), (same_q, k1, 1.1)):
            c.execute(
                text(
                    "INSERT INTO item_parameters (set_id, question_version_id, question_id, "
                    "version, a, b, c, se_a, se_b, se_c, k, n_respondents) "
                    "VALUES (:s, :v, :q, 1, 1.4, :b, 0.2, 0.05, 0.08, 0.02, 0.9, 800)"
                ),
                {"s": set_id, "v": v, "q": q, "b": b},
            )
        c.execute(text("CREATE SCHEMA marts"))
        c.execute(
            text(
                "CREATE TABLE marts.fact_responses (tenant_id uuid, exam_code text, quiz_id uuid, "
                "question_id bigint, question_version_id bigint, is_correct boolean)"
            )
        )
        answered = [(minor_q, m1), (minor_q, m2), (minor_q, m3), (subst_q, s1), (subst_q, s2)]
        answered += [(same_q, k1)]
        for q, v in answered:
            c.execute(
                text(
                    "INSERT INTO marts.fact_responses VALUES (:t, :e, :quiz, :q, :v, true), "
                    "(:t, :e, :quiz2, :q, :v, false)"
                ),
                {"t": tenant, "e": exam, "quiz": uuid.uuid4(), "quiz2": uuid.uuid4(), "q": q}
                | {"v": v},
            )

    # Responses to every version of the minor chain count for the live version 3; the
    # substantive edit's predecessor keeps its own id (a different item).
    responses = load_responses(db, tenant, exam)
    counts = responses.groupby("item").size().to_dict()
    assert counts == {m3: 6, s1: 2, s2: 2, k1: 2}
    assert not responses.duplicated(["person", "item"]).any()

    # The live parameters: version 3 carries version 1's row; the substantive edit has none.
    active_id, active = load_active_set(db, tenant, exam)
    assert active_id == set_id
    by_version = active.set_index("question_version_id")
    assert set(by_version.index) == {m3, k1}
    assert by_version.loc[m3, "b"] == 0.7 and by_version.loc[m3, "n_respondents"] == 800
    # ... so it stays an anchor (n ≥ 500, SE(b) ≤ 0.15) instead of starting over.
    anchors = select_anchors(active, load_live_items(db, tenant, exam))
    assert set(anchors["item"]) == {m3, k1}
    bank = live_bank(db, tenant, exam)
    assert dict(zip(bank["question_version_id"], bank["b"], strict=True)) == {m3: 0.7, k1: 1.1}
    assert set(bank["set_id"]) == {set_id}

    # Once the next set has a row of its own for version 3, that row wins.
    with db.begin() as c:
        c.execute(
            text(
                "INSERT INTO item_parameters (set_id, question_version_id, question_id, version, "
                "a, b, c, k, n_respondents) VALUES (:s, :v, :q, 3, 1.2, 0.75, 0.2, 1, 1200)"
            ),
            {"s": set_id, "v": m3, "q": minor_q},
        )
    _, active = load_active_set(db, tenant, exam)
    assert active.set_index("question_version_id").loc[m3, "b"] == 0.75
