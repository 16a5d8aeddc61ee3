"""The student's dashboard in headless Debian Chromium: the start form's filters and quota
builder (with the API's 422s shown next to the field they concern), topics with their path, and
the weekly progress chart drawn from /v1/me/progress."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import expect
from sqlalchemy import text

from tests.serving_api.browser import chromium_page, log_in, screenshot_path
from tests.support.people import PASSWORD, login, make_user
from tests.support.quizzes import fresh_exam

FIELD_ERRORS = ("#err-exam", "#err-length", "#err-topics", "#err-difficulty", "#err-seen")


def _student(api, engine, world, key: str):
    return login(api, make_user(engine, world.a, f"{key}-{uuid.uuid4().hex[:6]}", ["student"]))


def _only_error(page, where: str, text_part: str) -> None:
    """The message shows at `where`, and nowhere else on the form."""
    expect(page.locator(where)).to_contain_text(text_part)
    for other in (*FIELD_ERRORS, "#err-quota", "#start-error"):
        if other != where:
            expect(page.locator(other)).to_have_text("")
    expect(page.locator("#view-home")).to_be_visible()


def test_filters_and_quota_builder_with_errors_next_to_their_field(api, world, engine):
    # Three items per topic: one easy, one medium, one hard (bank.publish_items cycles them).
    exam, _ = fresh_exam(engine, world, per_topic=3)
    student = _student(api, engine, world, "filters")
    t = world.topics
    with chromium_page(height=1300) as (page, errors):
        log_in(page, api.url, student.email, world.a.slug)
        # Topics with their path, in the chips and in the quota builder.
        chips = page.locator("#topic-chips .chip")
        expect(chips.filter(has_text="Cardiology › Arrhythmias")).to_have_count(1)
        expect(chips.filter(has_text="Cardiology › Heart failure")).to_have_count(1)
        page.select_option("#exam-code", exam)

        # An adaptive exam says beforehand that answers are final; a linear one does not.
        page.check("input[name=mode][value=exam]")
        expect(page.locator("#adaptive-exam-note")).to_be_visible()
        expect(page.locator("#adaptive-exam-note")).to_contain_text("cannot go back")
        page.check("input[name=order][value=linear]")
        expect(page.locator("#adaptive-exam-note")).to_be_hidden()
        page.check("input[name=mode][value=tutor]")

        # Quota larger than the quiz: the API's 422 shows under the quota builder.
        page.fill("#num-questions", "3")
        page.click("#quota-add")
        row = page.locator(".quota-row").nth(0)
        row.locator(".quota-topic").select_option(label="Renal")
        row.locator(".quota-count").fill("5")
        page.click("#start-quiz")
        _only_error(page, "#err-quota", "the blueprint quota totals 5 but the quiz has 3")
        expect(page.locator("#quota")).to_have_class("quota invalid")

        # Within the length, but only one easy Renal question exists.
        row.locator(".quota-count").fill("2")
        page.check("input[name=difficulty][value=easy]")
        page.click("#start-quiz")
        _only_error(page, "#err-quota", "quota for topic 'Renal' (2) exceeds the 1 eligible")
        page.locator("#start-form").locator("..").screenshot(
            path=str(screenshot_path("start-form.png"))
        )

        # A count the schema refuses (a pydantic check on the whole body): still the quota's.
        row.locator(".quota-count").fill("0")
        page.click("#start-quiz")
        _only_error(page, "#err-quota", "must be between 1 and 120 (got 0)")

        # The same topic twice is caught on the page (a JSON object cannot hold it twice).
        page.click("#quota-add")
        page.locator(".quota-row").nth(1).locator(".quota-topic").select_option(label="Renal")
        page.click("#start-quiz")
        _only_error(page, "#err-quota", "Renal is in two quota rows")
        page.locator(".quota-row").nth(1).locator(".quota-remove").click()
        expect(page.locator(".quota-row")).to_have_count(1)

        # A field error from pydantic's `loc`: the length.
        row.locator(".quota-count").fill("1")
        page.fill("#num-questions", "0")
        page.click("#start-quiz")
        _only_error(page, "#err-length", "greater than or equal to 1")
        page.fill("#num-questions", "3")

        # A topic the tenant no longer has (a page left open while the topics changed, simulated
        # by editing a chip): the API's 422 names the topics, so it shows under the chips.
        first_chip = chips.first
        real_id = first_chip.get_attribute("data-id")
        first_chip.evaluate("(c) => { c.dataset.id = '999999'; }")
        first_chip.click()
        page.click("#start-quiz")
        _only_error(page, "#err-topics", "topic id 999999 does not exist in your tenant")
        first_chip.click()
        first_chip.evaluate("(c, id) => { c.dataset.id = id; }", real_id)

        # Nothing answered yet, so nothing was previously incorrect: the filters as a whole.
        page.check("#only-incorrect")
        page.click("#start-quiz")
        _only_error(page, "#start-error", "matches these filters")

        # A valid combination: Cardiology (with its subtopics), easy + medium, only unseen, and
        # at least one Arrhythmias question.
        page.check("#only-unseen")
        page.check("input[name=difficulty][value=medium]")
        chips.filter(has_text="Cardiology").first.click()
        expect(chips.filter(has_text="Cardiology").first).to_have_attribute("aria-pressed", "true")
        row.locator(".quota-topic").select_option(label="Cardiology › Arrhythmias")
        page.click("#start-quiz")
        expect(page.locator("#view-quiz")).to_be_visible()
        served_topics = []
        for k in range(3):
            expect(page.locator("#q-position")).to_have_text(f"#{k + 1}")
            served_topics.append(page.locator("#q-topic").inner_text())
            page.keyboard.press("2")
            page.keyboard.press("Enter")
            expect(page.locator("#feedback")).to_contain_text("Correct")
            page.keyboard.press("Enter")
        expect(page.locator("#view-report")).to_be_visible()
    assert not errors, errors

    assert all(s.startswith("Cardiology") for s in served_topics), served_topics
    assert "Cardiology › Arrhythmias" in served_topics, served_topics
    with httpx.Client(base_url=api.url, headers=student.headers, timeout=10) as c:
        quiz = c.get("/v1/quizzes?limit=1").json()[0]
        report = c.get(f"/v1/quizzes/{quiz['id']}/report").json()
    assert quiz["filters"]["topic_ids"] == [t["Cardiology"]]
    assert quiz["filters"]["difficulty"] == ["easy", "medium"]
    assert quiz["filters"]["only_unseen"] is True
    assert quiz["filters"]["only_previously_incorrect"] is False
    assert quiz["quota"] == {str(t["Arrhythmias"]): 1}
    with engine.connect() as conn:
        difficulties = conn.execute(
            text(
                "SELECT v.difficulty_label FROM quiz_items i "
                "JOIN question_versions v ON v.question_id = i.question_id AND v.version = i.version "
                "WHERE i.quiz_id = :q"
            ),
            {"q": quiz["id"]},
        ).scalars()
        assert set(difficulties) <= {"easy", "medium"}
    assert report["raw_score"] == 3


def _take_tutor_quiz(c: httpx.Client, exam: str, answers: str) -> str:
    r = c.post("/v1/quizzes", json={"exam_code": exam, "num_questions": len(answers)})
    assert r.status_code == 201, r.text
    quiz_id = r.json()["id"]
    for choice in answers:
        assert c.get(f"/v1/quizzes/{quiz_id}/next").status_code == 200
        assert (
            c.post(f"/v1/quizzes/{quiz_id}/answers", json={"selected": choice}).status_code == 200
        )
    assert c.post(f"/v1/quizzes/{quiz_id}/finish").status_code == 200
    return quiz_id


def test_progress_chart_by_week(api, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=6)
    student = _student(api, engine, world, "progress")
    with chromium_page() as (page, errors):
        log_in(page, api.url, student.email, world.a.slug)
        expect(page.locator("#progress-chart .empty")).to_contain_text("No answers yet")
        expect(page.locator("#progress-chart svg")).to_have_count(0)

        # Five weeks of practice, improving; the week three weeks back has no quiz at all.
        with httpx.Client(base_url=api.url, headers=student.headers, timeout=10) as c:
            history = {5: "BAAA", 4: "BBAA", 2: "BBBA", 1: "BBBB", 0: "BBBBB"}
            quizzes = {ago: _take_tutor_quiz(c, exam, a) for ago, a in history.items()}
            unfinished = c.post("/v1/quizzes", json={"exam_code": exam, "num_questions": 2})
            assert unfinished.status_code == 201
        with engine.begin() as conn:  # move each quiz back in time by whole weeks
            for ago, quiz_id in quizzes.items():
                shift = {"q": quiz_id, "d": f"{7 * ago} days"}
                conn.execute(
                    text(
                        "UPDATE user_responses SET updated_at = updated_at - CAST(:d AS interval) "
                        "WHERE quiz_id = :q"
                    ),
                    shift,
                )
                conn.execute(
                    text(
                        "UPDATE quiz_sessions SET finished_at = finished_at - CAST(:d AS interval), "
                        "started_at = started_at - CAST(:d AS interval) WHERE id = :q"
                    ),
                    shift,
                )
        progress = httpx.get(
            api.url + "/v1/me/progress",
            params={"exam_code": exam},
            headers=student.headers,
            timeout=10,
        ).json()
        weeks = progress["weeks"]
        assert len(weeks) == 5, weeks

        page.reload()  # the dashboard again, with the session kept
        expect(page.locator("#view-home")).to_be_visible()
        page.select_option("#progress-exam", exam)
        chart = page.locator("#progress-chart svg")
        expect(chart).to_have_count(1)
        acc = chart.locator(".series.acc circle")
        expect(acc).to_have_count(5)
        expect(chart.locator(".series.scaled circle")).to_have_count(5)
        # One line per run of consecutive weeks: weeks −5…−4 and −2…0.
        expect(chart.locator(".series.acc polyline")).to_have_count(2)
        for k, w in enumerate(weeks):
            expect(acc.nth(k).locator("title")).to_have_text(
                f"week of {w['week_start']}: {round(w['accuracy'] * 100)}% correct "
                f"({w['answered']} answered, 1 quiz)"
            )
        # Higher accuracy is drawn higher: the points climb as the history improves.
        ys = [float(acc.nth(k).get_attribute("cy")) for k in range(5)]
        assert ys == sorted(ys, reverse=True), ys
        expect(chart.locator(".tick")).to_contain_text(["100%", "800"])
        page.locator("#progress-chart").locator("..").screenshot(
            path=str(screenshot_path("progress-chart.png"))
        )
    assert not errors, errors


def test_login_names_the_tenant_and_the_page_remembers_it(api, world, engine):
    student = _student(api, engine, world, "tenant")
    with chromium_page() as (page, errors):
        page.goto(api.url + "/")
        expect(page.locator("#login-tenant")).to_have_value("")
        # The other tenant has no such account: refused.
        page.fill("#login-tenant", world.b.slug)
        page.fill("#login-email", student.email)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_contain_text("wrong")
        # Its own tenant, typed with capitals and spaces as people do: sent as `tenant`.
        page.fill("#login-tenant", f"  {world.a.slug.upper()} ")
        with page.expect_request("**/v1/auth/login") as sent:
            page.click("#login-submit")
        assert sent.value.post_data_json["tenant"] == world.a.slug
        expect(page.locator("#view-home")).to_be_visible()
        expect(page.locator("#user-name")).to_contain_text(world.a.slug)
        # Remembered on this device (the slug as the API spells it), across a logout and a reload.
        page.click("#logout")
        expect(page.locator("#login-tenant")).to_have_value(world.a.slug)
        page.reload()
        expect(page.locator("#login-tenant")).to_have_value(world.a.slug)
        # An empty field sends no `tenant` (the API then uses the one matching account).
        page.fill("#login-tenant", "")
        page.fill("#login-email", student.email)
        page.fill("#login-password", PASSWORD)
        with page.expect_request("**/v1/auth/login") as sent:
            page.click("#login-submit")
        assert "tenant" not in sent.value.post_data_json
        expect(page.locator("#view-home")).to_be_visible()
    assert not errors, errors
