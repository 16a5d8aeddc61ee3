"""A linear exam on the student page, in headless Debian Chromium: the navigator, marks, skips,
changed answers, the review-marked pass, the finish confirmation and the timer's automatic
finish. What the page shows is checked against the API's own report and events."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import expect
from sqlalchemy import text

from tests.serving_api.browser import chromium_page, log_in, screenshot_path
from tests.support.people import login, make_user
from tests.support.quizzes import events_of, fresh_exam


def _student(api, engine, world):
    return login(api, make_user(engine, world.a, f"exam-{uuid.uuid4().hex[:6]}", ["student"]))


def _nav(page, position: int):
    return page.locator(f"#nav-grid .nav-cell[data-position='{position}']")


def _at(page, position: int) -> None:
    expect(page.locator("#q-position")).to_have_text(f"#{position}")
    expect(_nav(page, position)).to_have_class(_has("current"))


def _has(*classes: str) -> re.Pattern:
    """Matches a class attribute holding all of `classes` (or a text holding all the parts)."""
    return re.compile("".join(rf"(?=.*\b{c}\b)" for c in classes))


def test_linear_exam_navigator_marks_skips_changes_and_finishes(api, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=2)  # 8 items, key B everywhere
    student = _student(api, engine, world)
    with chromium_page() as (page, errors):
        log_in(page, api.url, student.email, world.a.slug)
        page.select_option("#exam-code", exam)
        page.check("input[name=mode][value=exam]")
        page.check("input[name=order][value=linear]")
        expect(page.locator("#adaptive-exam-note")).to_be_hidden()
        page.fill("#num-questions", "6")
        page.click("#start-quiz")

        expect(page.locator("#navigator")).to_be_visible()
        expect(page.locator("#nav-grid .nav-cell")).to_have_count(6)
        _at(page, 1)
        expect(page.locator("#nav-grid .nav-cell.unserved")).to_have_count(5)
        expect(page.locator("#timer")).to_contain_text("left")

        # 1: answer A (wrong; changed to B at the end), keyboard only.
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        expect(page.locator("#feedback")).to_contain_text("Answer A saved")
        expect(_nav(page, 1)).to_have_class(_has("answered"))
        page.keyboard.press("Enter")
        _at(page, 2)
        # 2: mark and leave unanswered (Next skips it).
        page.keyboard.press("m")
        expect(page.locator("#mark-btn")).to_have_text("★ Marked")
        expect(page.locator("#next-question")).to_have_text("Skip for now →")
        page.click("#next-question")
        _at(page, 3)
        expect(_nav(page, 2)).to_have_class(_has("unanswered", "marked"))
        # 3: answer B and mark.
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        expect(page.locator("#feedback")).to_contain_text("Answer B saved")
        page.keyboard.press("m")
        expect(_nav(page, 3)).to_have_class(_has("answered", "marked"))
        page.keyboard.press("Enter")
        _at(page, 4)
        # 4: skip.
        expect(page.locator("#next-question")).to_have_text("Skip for now →")
        page.click("#next-question")
        _at(page, 5)
        expect(_nav(page, 4)).to_have_class(_has("unanswered"))
        # Every state at once: answered, marked, unanswered, current, not yet reached.
        page.locator("#navigator").screenshot(path=str(screenshot_path("exam-navigator.png")))
        page.screenshot(path=str(screenshot_path("exam-page.png")), full_page=True)
        # 5: B; 6: C (wrong, stays).
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        expect(page.locator("#feedback")).to_contain_text("Answer B saved")
        page.keyboard.press("Enter")
        _at(page, 6)
        expect(page.locator("#nav-grid .nav-cell.unserved")).to_have_count(0)
        page.keyboard.press("3")
        page.keyboard.press("Enter")
        expect(page.locator("#feedback")).to_contain_text("Answer C saved")
        page.keyboard.press("Enter")  # past the last question: the confirmation opens

        dialog = page.locator("#finish-dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#finish-counts .count-unanswered")).to_have_text("2 unanswered")
        expect(page.locator("#finish-counts .count-marked")).to_have_text("2 marked for review")
        page.screenshot(path=str(screenshot_path("exam-finish-dialog.png")))
        page.click("#finish-review")  # the review-marked pass: 2, then 3
        expect(dialog).to_be_hidden()
        _at(page, 2)
        expect(page.locator("#review-status")).to_have_text("Reviewing marked questions: 1 of 2.")
        page.keyboard.press("2")
        page.keyboard.press("Enter")  # the marked item is answered now
        expect(_nav(page, 2)).to_have_class(_has("answered", "marked"))
        expect(page.locator("#next-question")).to_have_text("Next marked →")
        page.keyboard.press("Enter")
        _at(page, 3)
        expect(page.locator("#review-status")).to_have_text("Reviewing marked questions: 2 of 2.")
        expect(page.locator(".option.selected .letter")).to_have_text("B")  # kept
        page.keyboard.press("Enter")  # end of the pass: the confirmation again
        expect(dialog).to_be_visible()
        expect(page.locator("#finish-counts .count-unanswered")).to_have_text("1 unanswered")
        page.click("#finish-cancel")
        expect(dialog).to_be_hidden()

        # Leave and come back (a reload, then Resume): the navigator is rebuilt from the API.
        page.reload()
        page.click("#history button:has-text('Resume')")
        expect(page.locator("#navigator")).to_be_visible()
        expect(_nav(page, 2)).to_have_class(_has("answered", "marked"))
        expect(_nav(page, 3)).to_have_class(_has("answered", "marked"))
        expect(_nav(page, 4)).to_have_class(_has("unanswered"))
        expect(page.locator("#nav-grid .nav-cell.unserved")).to_have_count(0)
        expect(page.locator("#review-marked")).to_have_text("Review marked (2)")
        expect(dialog).to_be_hidden()  # reaching the end again is not news

        # Back to the skipped item through the navigator, and answer it.
        _nav(page, 4).click()
        _at(page, 4)
        page.keyboard.press("2")
        page.click("#submit-answer")
        expect(_nav(page, 4)).to_have_class(_has("answered"))
        # Change the first answer, A → B.
        _nav(page, 1).click()
        _at(page, 1)
        expect(page.locator(".option.selected .letter")).to_have_text("A")
        expect(page.locator("#submit-answer")).to_be_disabled()
        page.click("#q-options .option[data-label=B]")
        page.click("#submit-answer")
        expect(page.locator("#feedback")).to_contain_text("Answer B saved")

        page.click("#finish-quiz")
        expect(dialog).to_be_visible()
        expect(page.locator("#finish-counts .count-unanswered")).to_have_text("0 unanswered")
        expect(page.locator("#finish-counts .count-marked")).to_have_text("2 marked for review")
        page.click("#finish-confirm")

        expect(page.locator("#view-report")).to_be_visible()
        expect(page.locator("#r-raw")).to_have_text("5 / 6")
        expect(page.locator("#r-status")).to_have_text("finished")
        first = page.locator(".review-item[data-position='1']")
        expect(first.locator(".badge")).to_have_text("correct")
        expect(first.locator(".your-answer")).to_have_text("your answer: B")
        expect(page.locator(".review-item[data-position='2'] .badge")).to_have_text("correct")
        expect(page.locator(".review-item[data-position='6'] .badge")).to_have_text("incorrect")
        expect(page.locator("#r-topics")).to_contain_text("Cardiology › ")
    assert not errors, errors

    # The API's report says the same, and the change is a second answer event for position 1.
    with httpx.Client(base_url=api.url, headers=student.headers, timeout=10) as c:
        quiz = c.get("/v1/quizzes?limit=1").json()[0]
        report = c.get(f"/v1/quizzes/{quiz['id']}/report").json()
    assert report["status"] == "finished" and report["raw_score"] == 5
    by_pos = {r["position"]: r for r in report["review"]}
    assert (by_pos[1]["selected"], by_pos[1]["correct"]) == ("B", True)
    assert (by_pos[2]["selected"], by_pos[2]["correct"], by_pos[2]["marked"]) == ("B", True, True)
    assert by_pos[3]["marked"] and by_pos[3]["correct"]
    assert (by_pos[4]["selected"], by_pos[4]["correct"]) == ("B", True)
    assert (by_pos[6]["selected"], by_pos[6]["correct"]) == ("C", False)
    answers_1 = [
        p["selected"]
        for t, p in events_of(engine, quiz["id"])
        if t == "answer_submitted" and p["position"] == 1
    ]
    assert answers_1 == ["A", "B"]


def test_exam_timer_finishes_the_exam_at_expiry(api, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=1)
    student = _student(api, engine, world)
    with httpx.Client(base_url=api.url, headers=student.headers, timeout=10) as c:
        r = c.post(
            "/v1/quizzes",
            json={"exam_code": exam, "mode": "exam", "adaptive": False, "num_questions": 3},
        )
        assert r.status_code == 201, r.text
        quiz_id = r.json()["id"]
        assert c.get(f"/v1/quizzes/{quiz_id}/next").status_code == 200
        assert c.post(f"/v1/quizzes/{quiz_id}/answers", json={"selected": "B"}).status_code == 200
    with chromium_page() as (page, errors):
        log_in(page, api.url, student.email, world.a.slug)
        resume = page.locator("#history button:has-text('Resume')")
        expect(resume).to_have_count(1)
        with engine.begin() as conn:  # the exam's time runs out a few seconds from now
            conn.execute(
                text(
                    "UPDATE quiz_sessions SET expires_at = now() + interval '6 seconds' "
                    "WHERE id = :q"
                ),
                {"q": quiz_id},
            )
        resume.click()
        expect(page.locator("#navigator")).to_be_visible()
        expect(page.locator("#timer")).to_have_text(_has("0:0[0-7] left"))
        expect(_nav(page, 1)).to_have_class(_has("answered"))
        expect(page.locator("#view-report")).to_be_visible(timeout=15_000)
        expect(page.locator("#r-status")).to_have_text("expired")
        # Resuming served position 2, left unanswered (wrong); position 3 was never reached.
        expect(page.locator("#r-raw")).to_have_text("1 / 2")
    assert not errors, errors


def test_an_exam_finished_elsewhere_shows_its_report(api, world, engine):
    """Another tab (here: the API directly) finishes the exam; the page's next answer is
    refused with a 409 and the page shows the report instead of a dead question."""
    exam, _ = fresh_exam(engine, world, per_topic=1)
    student = _student(api, engine, world)
    with chromium_page() as (page, errors):
        log_in(page, api.url, student.email, world.a.slug)
        page.select_option("#exam-code", exam)
        page.check("input[name=mode][value=exam]")
        page.check("input[name=order][value=linear]")
        page.fill("#num-questions", "3")
        page.click("#start-quiz")
        _at(page, 1)
        with httpx.Client(base_url=api.url, headers=student.headers, timeout=10) as c:
            quiz = c.get("/v1/quizzes?limit=1").json()[0]
            assert c.post(f"/v1/quizzes/{quiz['id']}/finish").status_code == 200
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        expect(page.locator("#view-report")).to_be_visible()
        expect(page.locator("#r-status")).to_have_text("finished")
        expect(page.locator("#r-raw")).to_have_text("0 / 1")
    assert not errors, errors
