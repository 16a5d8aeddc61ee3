"""Fast test banks: topics and published questions written straight into the database.

The authoring workflow itself is tested over HTTP; these helpers only give delivery tests a
pool quickly (in one transaction per call).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text

LABELS = "ABCD"


def make_topics(engine: Engine, tenant_id: uuid.UUID, tree: dict[str, list[str]]) -> dict[str, int]:
    """{root name: [child names]} → {name: id} (names unique in these trees)."""
    out: dict[str, int] = {}
    with engine.begin() as c:
        for root, children in tree.items():
            rid = c.execute(
                text("SELECT nextval(pg_get_serial_sequence('topics','id'))")
            ).scalar_one()
            c.execute(
                text(
                    "INSERT INTO topics (id, tenant_id, name, path) VALUES (:i, :t, :n, CAST(:p AS ltree))"
                ),
                {"i": rid, "t": tenant_id, "n": root, "p": f"t{rid}"},
            )
            out[root] = rid
            for child in children:
                cid = c.execute(
                    text("SELECT nextval(pg_get_serial_sequence('topics','id'))")
                ).scalar_one()
                c.execute(
                    text(
                        "INSERT INTO topics (id, tenant_id, parent_id, name, path) "
                        "VALUES (:i, :t, :parent, :n, CAST(:p AS ltree))"
                    ),
                    {"i": cid, "t": tenant_id, "parent": rid, "n": child, "p": f"t{rid}.t{cid}"},
                )
                out[child] = cid
    return out


def publish_items(
    engine: Engine,
    tenant_id: uuid.UUID,
    author_id: uuid.UUID,
    exam_code: str,
    topics: dict[str, int],
    per_topic: int,
    difficulties=("easy", "medium", "hard"),
    correct: str = "B",
) -> list[int]:
    """`per_topic` published 4-option questions in every topic; the key is `correct`."""
    qids = []
    with engine.begin() as c:
        for name, tid in topics.items():
            for k in range(per_topic):
                qid = c.execute(
                    text(
                        "INSERT INTO questions (tenant_id, created_by) VALUES (:t, :u) RETURNING id"
                    ),
                    {"t": tenant_id, "u": author_id},
                ).scalar_one()
                vid = c.execute(
                    text(
                        "INSERT INTO question_versions (question_id, tenant_id, version, state, stem_md, "
                        "lead_in, rationale_md, correct_label, difficulty_label, topic_id, created_by) "
                        "VALUES (:q, :t, 1, 'published', :stem, 'Which is right?', :rat, :key, :d, :topic, :u) "
                        "RETURNING id"
                    ),
                    {
                        "q": qid,
                        "t": tenant_id,
                        "stem": f"**{name}** question {k + 1}",
                        "rat": f"Because *{correct}* is right for {name} {k + 1}.",
                        "key": correct,
                        "d": difficulties[k % len(difficulties)],
                        "topic": tid,
                        "u": author_id,
                    },
                ).scalar_one()
                for lab in LABELS:
                    c.execute(
                        text(
                            "INSERT INTO question_options (question_version_id, label, text_md) VALUES (:v, :l, :x)"
                        ),
                        {"v": vid, "l": lab, "x": f"Option {lab}"},
                    )
                c.execute(
                    text(
                        "INSERT INTO question_publications (tenant_id, question_id, question_version_id, "
                        "exam_code, published_by) VALUES (:t, :q, :v, :e, :u)"
                    ),
                    {"t": tenant_id, "q": qid, "v": vid, "e": exam_code, "u": author_id},
                )
                qids.append(qid)
    return qids


def activate_parameter_set(
    engine: Engine,
    tenant_id: uuid.UUID,
    exam_code: str,
    params: dict[int, tuple[float, float, float, float]],
    run: str = "test-run",
) -> int:
    """Make a set live the way the pipeline does: one transaction, then NOTIFY.

    `params`: question id → (a, b, c, K) for the live version of each question.
    """
    import orjson

    from qbank.models import PARAMETER_SET_CHANNEL

    with engine.begin() as c:
        c.execute(
            text(
                "UPDATE item_parameter_sets SET status = 'superseded' "
                "WHERE tenant_id = :t AND exam_code = :e AND status = 'active'"
            ),
            {"t": tenant_id, "e": exam_code},
        )
        set_id = c.execute(
            text(
                "INSERT INTO item_parameter_sets (tenant_id, exam_code, status, created_by_run, "
                "checks_passed, activated_at) VALUES (:t, :e, 'active', :r, true, now()) RETURNING id"
            ),
            {"t": tenant_id, "e": exam_code, "r": run},
        ).scalar_one()
        for qid, (a, b, cc, k) in params.items():
            c.execute(
                text(
                    "INSERT INTO item_parameters (set_id, question_version_id, question_id, version, "
                    "a, b, c, se_a, se_b, se_c, k, n_respondents) "
                    "SELECT :s, p.question_version_id, p.question_id, v.version, :a, :b, :c, 0.1, 0.1, "
                    "0.02, :k, 600 FROM question_publications p JOIN question_versions v "
                    "ON v.id = p.question_version_id WHERE p.question_id = :q AND p.exam_code = :e"
                ),
                {"s": set_id, "a": a, "b": b, "c": cc, "k": k, "q": qid, "e": exam_code},
            )
        payload = orjson.dumps({"tenant_id": str(tenant_id), "exam_code": exam_code}).decode()
        c.execute(text("SELECT pg_notify(:ch, :p)"), {"ch": PARAMETER_SET_CHANNEL, "p": payload})
    return set_id
