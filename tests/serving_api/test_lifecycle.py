"""Items that change (SPEC §3): edit kinds, quizzes that never dead-end on too few calibrated
items, and the operator's switch of the live parameter set — against the running API."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text
from typer.testing import CliRunner

from qbank.cli import app as qbank_cli
from tests.serving_api import bank
from tests.serving_api.helpers import answer, events_of, fresh_exam, next_item, start

runner = CliRunner()


def _edit(client, world, qid: int, **changes) -> dict:
    """PUT an edit of question `qid` built from its latest version, with `changes` on top."""
    v = client.get(f"/v1/questions/{qid}", headers=world.a.author.headers).json()["versions"][-1]
    body = {
        k: v[k]
        for k in ("topic_id", "stem_md", "lead_in", "rationale_md", "difficulty_label", "options")
    }
    body["correct_label"] = v["correct_label"]
    body |= changes
    return client.put(f"/v1/questions/{qid}", json=body, headers=world.a.author.headers)


def _publish(client, world, qid: int, version: int, exam: str) -> dict:
    a = world.a
    for action, who in (("submit", a.author), ("approve", a.publisher)):
        r = client.post(f"/v1/questions/{qid}/versions/{version}/{action}", headers=who.headers)
        assert r.status_code == 200, r.text
    r = client.post(
        f"/v1/questions/{qid}/versions/{version}/publish",
        json={"exam_codes": [exam]},
        headers=a.publisher.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _served_rows(engine, quiz_id) -> list:
    with engine.connect() as c:
        return c.execute(
            text(
                "SELECT question_id, version, is_pretest, calibrated, parameter_set_id, a, b, c "
                "FROM quiz_items WHERE quiz_id = :q ORDER BY position"
            ),
            {"q": quiz_id},
        ).all()


def test_edit_kind_is_required_once_published_and_checked(client, world, engine):
    exam, (qid,) = fresh_exam(engine, world, per_topic=1, topics={"Renal": world.topics["Renal"]})
    r = _edit(client, world, qid, stem_md="Reworded")
    assert r.status_code == 422 and "edit_kind is required" in r.json()["detail"]
    assert "'minor'" in r.json()["detail"] and "'substantive'" in r.json()["detail"]
    r = _edit(client, world, qid, stem_md="Reworded", edit_kind="major")
    assert r.status_code == 422 and "edit_kind" in r.text
    # Nothing was stored by the refused edits.
    versions = client.get(f"/v1/questions/{qid}", headers=world.a.author.headers).json()
    assert [v["version"] for v in versions["versions"]] == [1]

    # A never-published question has no parameters to keep: edit_kind is refused, not ignored.
    new = client.post(
        "/v1/questions",
        json={k: versions["versions"][0][k] for k in ("topic_id", "stem_md", "lead_in")}
        | {"options": versions["versions"][0]["options"], "correct_label": "B"},
        headers=world.a.author.headers,
    ).json()
    r = _edit(client, world, new["id"], edit_kind="minor")
    assert r.status_code == 422 and "never been published" in r.json()["detail"]
    assert _edit(client, world, new["id"], stem_md="Draft again").status_code == 200

    # The pending draft of a published question keeps its kind when edited again.
    r = _edit(client, world, qid, stem_md="Reworded", edit_kind="minor")
    assert r.status_code == 200
    r = _edit(client, world, qid, stem_md="Reworded twice")
    assert r.status_code == 200
    v2 = r.json()["versions"][-1]
    assert (v2["version"], v2["edit_kind"], v2["item_root_version"]) == (2, "minor", 1)
    r = _edit(client, world, qid, edit_kind="substantive")  # the author changes their mind
    v2 = r.json()["versions"][-1]
    assert (v2["edit_kind"], v2["item_root_version"]) == ("substantive", 2)


def test_minor_edit_carries_the_calibrated_parameters_substantive_does_not(client, world, engine):
    topics = {"Renal": world.topics["Renal"]}
    exam, qids = fresh_exam(engine, world, per_topic=2, topics=topics)
    minor_q, subst_q = qids
    set_id = bank.activate_parameter_set(
        engine, world.a.id, exam, {minor_q: (1.7, 0.8, 0.2, 1.0), subst_q: (0.9, -0.4, 0.2, 1.0)}
    )
    assert _edit(client, world, minor_q, stem_md="Typo fixed", edit_kind="minor").status_code == 200
    r = _edit(client, world, subst_q, correct_label="C", edit_kind="substantive")
    assert r.status_code == 200
    assert _publish(client, world, minor_q, 2, exam)["live"] == {exam: 2}
    assert _publish(client, world, subst_q, 2, exam)["live"] == {exam: 2}

    # The one definition of the live parameters: the minor edit's row comes from version 1.
    with engine.connect() as c:
        rows = {
            r.question_id: r
            for r in c.execute(
                text(
                    "SELECT l.question_id, l.version, l.set_id, l.a, l.b, v.version AS from_version "
                    "FROM live_item_parameters l JOIN question_versions v "
                    "ON v.id = l.parameters_version_id WHERE l.exam_code = :e"
                ),
                {"e": exam},
            )
        }
    assert set(rows) == {minor_q}
    assert (rows[minor_q].version, rows[minor_q].from_version) == (2, 1)
    assert (rows[minor_q].set_id, rows[minor_q].a, rows[minor_q].b) == (set_id, 1.7, 0.8)

    # Served: the minor edit is calibrated with the carried parameters; the substantive one is
    # a new item, and since it is the only one left for a scored position the quiz still starts
    # (no 422) and says so.
    s = world.a.student2
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=2)
    assert quiz["calibrated_short"] == 1 and quiz["num_pretest"] == 0
    assert len(quiz["notices"]) == 1 and "only 1 calibrated" in quiz["notices"][0]
    feedback = {}
    for _ in range(2):
        item = next_item(client, s, quiz["id"])["item"]
        feedback[item["question_id"]] = answer(client, s, quiz["id"], "B")
    assert feedback[minor_q]["calibrated_b"] == 0.8
    assert feedback[subst_q]["calibrated_b"] is None
    served = {r.question_id: r for r in _served_rows(engine, quiz["id"])}
    assert tuple(served[minor_q])[1:] == (2, False, True, set_id, 1.7, 0.8, 0.2)
    # Cold-start defaults for the new item: a = 1, b from 'easy'/'medium' label, c = 1/4.
    assert tuple(served[subst_q])[1:5] == (2, False, False, None)
    assert served[subst_q].a == 1.0 and served[subst_q].c == 0.25
    got = client.get(f"/v1/quizzes/{quiz['id']}", headers=s.headers).json()
    assert got["calibrated_short"] == 1 and got["notices"] == quiz["notices"]

    # Lineage in the event (question_served, schema_version 2), as the quiz rows keep it.
    lineage = {
        p["question_id"]: (
            p["schema_version"],
            p["parameter_set_id"],
            p["a_used"],
            p["b_used"],
            p["c_used"],
        )
        for t, p in events_of(engine, quiz["id"])
        if t == "question_served"
    }
    assert lineage == {
        minor_q: (2, set_id, 1.7, 0.8, 0.2),
        subst_q: (2, None, 1.0, 0.0, 0.25),  # 'medium': b = 0
    }


def test_quiz_starts_and_runs_when_calibrated_items_run_short(client, world, engine):
    topics = {k: world.topics[k] for k in ("Arrhythmias", "Renal")}
    exam, qids = fresh_exam(engine, world, per_topic=5, topics=topics)  # 5 + 5 items
    arr, renal = qids[:5], qids[5:]
    # Only two Arrhythmias items are calibrated; Renal is all new.
    bank.activate_parameter_set(
        engine, world.a.id, exam, {q: (1.2, 0.0, 0.2, 1.0) for q in arr[:2]}
    )
    s = world.a.student
    time.sleep(0.3)  # the NOTIFY reaches the API's listener

    # Renal only: no calibrated item matches at all, and it still starts.
    quiz = start(client, s, exam_code=exam, num_questions=4, topics=["Renal"])
    assert quiz["calibrated_short"] == 4 and quiz["num_pretest"] == 0
    for _ in range(4):
        assert next_item(client, s, quiz["id"])["item"]["question_id"] in renal
        answer(client, s, quiz["id"], "B")
    rows = _served_rows(engine, quiz["id"])
    assert all(not r.is_pretest and not r.calibrated and r.parameter_set_id is None for r in rows)
    report = client.post(f"/v1/quizzes/{quiz['id']}/finish", headers=s.headers).json()
    assert report["num_scored"] == 4 and report["raw_score"] == 4

    # A quota beyond the calibrated items of its topic is served from the new ones.
    quiz = start(client, s, exam_code=exam, num_questions=8, quota={"Arrhythmias": 4})
    assert quiz["calibrated_short"] == 6
    assert any("quota for topic 'Arrhythmias' (4): only 2 calibrated" in n for n in quiz["notices"])
    served = []
    for _ in range(8):
        served.append(next_item(client, s, quiz["id"])["item"]["question_id"])
        answer(client, s, quiz["id"], "B")
    assert sum(q in arr for q in served) >= 4 and set(arr[:2]) <= set(served)
    # Calibrated items come first, for as long as there are.
    assert set(served[:2]) == set(arr[:2])

    # Still a 422: a quota above every live item of its topic, and an exam code with no items.
    r = client.post(
        "/v1/quizzes",
        json={"exam_code": exam, "num_questions": 8, "quota": {"Arrhythmias": 6}},
        headers=s.headers,
    )
    assert r.status_code == 422 and "exceeds the 5 eligible" in r.json()["detail"]
    r = client.post(
        "/v1/quizzes", json={"exam_code": f"NONE-{uuid.uuid4().hex[:6]}"}, headers=s.headers
    )
    assert r.status_code == 422 and "no published questions" in r.json()["detail"]


def _wait_for_b(client, person, exam: str, expect_b, timeout: float = 10.0) -> list:
    """Start one-item tutor quizzes until the served item's calibrated b is `expect_b` (the
    API reloads its pool on NOTIFY; no restart)."""
    deadline = time.monotonic() + timeout
    while True:
        quiz = start(client, person, mode="tutor", exam_code=exam, num_questions=1)
        next_item(client, person, quiz["id"])
        got = answer(client, person, quiz["id"], "B")["calibrated_b"]
        if got == expect_b or time.monotonic() > deadline:
            return [got, quiz]
        time.sleep(0.2)


def test_operator_retires_and_rolls_back_the_live_set_without_restart(client, world, engine):
    exam, (qid,) = fresh_exam(engine, world, per_topic=1, topics={"Renal": world.topics["Renal"]})
    first = bank.activate_parameter_set(engine, world.a.id, exam, {qid: (1.1, 0.5, 0.2, 1.0)})
    second = bank.activate_parameter_set(engine, world.a.id, exam, {qid: (1.3, -0.7, 0.2, 1.0)})
    s, slug = world.a.student2, world.a.slug
    assert _wait_for_b(client, s, exam, -0.7)[0] == -0.7

    listed = runner.invoke(qbank_cli, ["params", "list", "--tenant", slug, "--exam-code", exam])
    assert listed.exit_code == 0, listed.output
    assert f"{second:>6}  active" in listed.output and f"{first:>6}  superseded" in listed.output

    out = runner.invoke(qbank_cli, ["params", "retire", "--tenant", slug, "--exam-code", exam])
    assert out.exit_code == 0 and "out of service" in out.output, out.output
    got, quiz = _wait_for_b(client, s, exam, None)
    assert got is None
    row = _served_rows(engine, quiz["id"])[0]
    # Cold-start defaults again: b from the label ('easy' → −1), no set in the lineage.
    assert (row.calibrated, row.parameter_set_id, row.a, row.b, row.c) == (
        False, None, 1.0, -1.0, 0.25,
    )  # fmt: skip
    r = client.post("/v1/quizzes", json={"exam_code": exam}, headers=s.headers)
    assert r.status_code == 201 and "no calibrated parameters yet" in r.json()["notices"][0]

    # Rollback without --set: the last set live before (the second one, retired just now).
    out = runner.invoke(qbank_cli, ["params", "rollback", "--tenant", slug, "--exam-code", exam])
    assert out.exit_code == 0 and f"set {second} is live" in out.output, out.output
    assert _wait_for_b(client, s, exam, -0.7)[0] == -0.7
    out = runner.invoke(
        qbank_cli,
        ["params", "rollback", "--tenant", slug, "--exam-code", exam, "--set", str(first)],
    )
    assert out.exit_code == 0 and f"set {first} is live (was set {second})" in out.output
    got, quiz = _wait_for_b(client, s, exam, 0.5)
    assert got == 0.5 and _served_rows(engine, quiz["id"])[0].parameter_set_id == first

    # Refused: a set that failed its checks, a set of another exam code, an unknown tenant.
    with engine.begin() as c:
        rejected = c.execute(
            text(
                "INSERT INTO item_parameter_sets (tenant_id, exam_code, status, created_by_run, "
                "checks_passed) VALUES (:t, :e, 'rejected', 'test', false) RETURNING id"
            ),
            {"t": world.a.id, "e": exam},
        ).scalar_one()
    for args, message in (
        (["--set", str(rejected)], "failed its checks"),
        (["--set", str(rejected + 10_000)], "does not exist"),
    ):
        out = runner.invoke(
            qbank_cli, ["params", "rollback", "--tenant", slug, "--exam-code", exam, *args]
        )
        assert out.exit_code == 2 and message in out.output, out.output
    out = runner.invoke(qbank_cli, ["params", "retire", "--tenant", "nobody", "--exam-code", exam])
    assert out.exit_code == 2 and "no tenant" in out.output
    with engine.connect() as c:
        statuses = dict(
            c.execute(
                text("SELECT id, status FROM item_parameter_sets WHERE exam_code = :e"),
                {"e": exam},
            ).all()
        )
    assert statuses == {first: "active", second: "superseded", rejected: "rejected"}


def test_forced_serve_after_refusals_counts_as_a_cap_relaxation(
    client, world, engine, settings, redis_client
):
    """Every item is at its cap in Redis but this API process has not learned it: it is
    refused 7 times, then the 8th choice is served anyway — over the cap, so counted."""
    from datetime import UTC, datetime

    from tests.serving_api.test_operations import metric

    exam, qids = fresh_exam(engine, world, per_topic=12, topics={"Renal": world.topics["Renal"]})
    day = datetime.now(UTC).strftime("%Y%m%d")
    for q in qids:
        key = f"{settings.redis_namespace}:exposure:{day}:{world.a.id}:{q}"
        redis_client.set(key, settings.max_daily_exposures)
    before = client.get("/metrics").text
    quiz = start(client, world.a.student, exam_code=exam, num_questions=1)
    item = next_item(client, world.a.student, quiz["id"])["item"]
    after = client.get("/metrics").text
    name = "qbank_exposure_cap_relaxations_total"
    assert metric(after, name) == metric(before, name) + 1
    refusals = "qbank_exposure_cap_refusals_total"
    assert metric(after, refusals) == metric(before, refusals) + 7
    key = f"{settings.redis_namespace}:exposure:{day}:{world.a.id}:{item['question_id']}"
    assert int(redis_client.get(key)) == settings.max_daily_exposures + 1
