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
