"""The student page in a real browser: headless Debian Chromium driven by Playwright.

It fails (never skips) when /usr/bin/chromium is missing: `make install` provides it.
"""

from __future__ import annotations

from playwright.sync_api import expect, sync_playwright

from tests.support.api_server import ARTIFACTS
from tests.support.people import PASSWORD
from tests.support.quizzes import fresh_exam

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def test_student_takes_a_quiz_in_the_browser(api, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=1)
    student = world.a.student2
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(api.url + "/")
        page.fill("#login-email", student.email)
        page.fill("#login-password", "wrong password")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_contain_text("wrong")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#view-home")).to_be_visible()
        page.select_option("#exam-code", exam)
        page.fill("#num-questions", "3")
        page.click("#start-quiz")
        for k in range(3):
            expect(page.locator("#q-position")).to_have_text(f"#{k + 1}")
            expect(page.locator("#q-stem strong")).to_be_visible()  # markdown rendered
            page.keyboard.press("2")  # option B, keyboard only
            expect(page.locator(".option.selected .letter")).to_have_text("B")
            page.keyboard.press("Enter")
            expect(page.locator("#feedback")).to_contain_text("Correct")
            expect(page.locator("#feedback .rationale em")).to_be_visible()
            if k == 1:
                page.screenshot(path=str(ARTIFACTS / "student-feedback.png"), full_page=True)
            page.keyboard.press("Enter")
        expect(page.locator("#view-report")).to_be_visible()
        expect(page.locator("#r-raw")).to_have_text("3 / 3")
        scaled = int(page.locator("#r-scaled").inner_text())
        assert 500 < scaled <= 800
        expect(page.locator(".review-item")).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "student-report.png"), full_page=True)
        page.click("#back-home")
        expect(page.locator("#history tr")).not_to_have_count(0)
        expect(page.locator("#performance")).to_contain_text("Overall")
        page.screenshot(path=str(ARTIFACTS / "student-dashboard.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert (ARTIFACTS / "student-report.png").stat().st_size > 10_000
