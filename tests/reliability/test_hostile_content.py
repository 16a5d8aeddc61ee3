"""Markdown and HTML in stems, options, rationales, lead-ins and topic names: stored exactly as
the author wrote them, rendered inert on the student page.

The content goes through the real workflow (author → review → publisher → published), then a
student takes it in headless Debian Chromium, in tutor mode (feedback with the rationale) and
exam mode (review at the end). The page runs with its Content-Security-Policy *bypassed*, so the
server-side sanitizer alone must keep every injected script from running.
"""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import expect, sync_playwright

from tests.serving_api.test_student_page import CHROMIUM_ARGS
from tests.support.api_server import ARTIFACTS, start_server, stop_server
from tests.support.banks import seed_bank
from tests.support.people import PASSWORD

# Every payload sets window.__xss (to its number) if it ever runs.
STEM = (
    "A **bold** claim with `code` and a list:\n\n- one\n- two\n\n"
    "<script>window.__xss = 1</script>\n\n"
    '<img src=x onerror="window.__xss = 2"> and [a link](javascript:window.__xss=3) and '
    '<iframe src="javascript:window.__xss=4"></iframe> and <a href="https://ok.example">ok</a>'
)
OPTIONS = {
    "A": "<img src=x onerror=window.__xss=5>",
    "B": "Right *answer* <svg onload=window.__xss=6></svg>",
    "C": '"><script>window.__xss=7</script>',
    "D": "[click](javascript:window.__xss=8) <details open ontoggle=window.__xss=13>",
}
RATIONALE = (
    '*Because* <a href="javascript:window.__xss=9">this</a> '
    "<style>body{display:none}</style> <math><mtext><script>window.__xss=14</script>"
)
LEAD_IN = "<b onmouseover=window.__xss=10>Which one?</b> ${window.__xss=15}"
TOPIC = '<img src=x onerror="window.__xss=11">Cardio'


def test_hostile_markup_is_stored_as_written_and_never_runs(rel_db, rel_engine, settings):
    bank = seed_bank(rel_engine, settings, n_students=0, per_topic=0)
    server = start_server(
        "rel-xss", {"DATABASE_URL": rel_db, "REDIS_NAMESPACE": f"rel-xss-{uuid.uuid4().hex}"}
    )
    exam = f"XSS-{uuid.uuid4().hex[:6]}"
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            topic = c.post("/v1/topics", json={"name": TOPIC}, headers=bank.author.headers)
            assert topic.status_code == 201, topic.text
            content = {
                "topic_id": topic.json()["id"],
                "stem_md": STEM,
                "lead_in": LEAD_IN,
                "options": [{"label": k, "text_md": v} for k, v in OPTIONS.items()],
                "correct_label": "B",
                "rationale_md": RATIONALE,
            }
            r = c.post("/v1/questions", json=content, headers=bank.author.headers)
            assert r.status_code == 201, r.text
            qid = r.json()["id"]
            base = f"/v1/questions/{qid}/versions/1"
            for step, person, body in (
                ("submit", bank.author, None),
                ("approve", bank.publisher, None),
                ("publish", bank.publisher, {"exam_codes": [exam]}),
            ):
                r = c.post(f"{base}/{step}", json=body, headers=person.headers)
                assert r.status_code == 200, (step, r.text)

            # Stored as written, to the character.
            stored = c.get(f"/v1/questions/{qid}", headers=bank.author.headers).json()
            live = stored["versions"][-1] if "versions" in stored else stored
            text = orjson_dumps(live)
            for written in (STEM, LEAD_IN, RATIONALE, *OPTIONS.values()):
                assert orjson_dumps(written)[1:-1] in text, f"not stored as written: {written!r}"
            topics = c.get("/v1/topics", headers=bank.author.headers).json()
            assert TOPIC in [t["name"] for t in topics]

        seen = _take_quizzes_in_browser(server.url, bank.student.email, exam)
    finally:
        stop_server(server)
    assert seen["xss"] is None, f"an injected script ran: window.__xss = {seen['xss']}"
    assert not seen["dialogs"] and not seen["errors"], seen
    # What was shown: the markdown rendered, the raw HTML as inert text.
    assert "<script>window.__xss = 1</script>" in seen["stem_text"]
    assert seen["stem_bold"] == "bold"
    assert "Which one?" in seen["lead_in"] and "${window.__xss=15}" in seen["lead_in"]
    assert TOPIC in seen["topic"]
    assert TOPIC in seen["chips"] and TOPIC in seen["quota_options"], seen
    assert TOPIC in seen["nav_title"]
    assert seen["dangerous_nodes"] == 0, seen


def orjson_dumps(value) -> str:
    import orjson

    return orjson.dumps(value).decode()


# Anything that could execute: script/iframe/svg/math/style/details elements, on* attributes,
# javascript: URLs.
DANGER = """() => {
  const bad = document.querySelectorAll(
    '#view-quiz script, #view-report script, #view-quiz iframe, #view-report iframe, ' +
    '#view-quiz svg, #view-report svg, #view-quiz math, #view-report math, ' +
    '#view-quiz style, #view-report style, #view-quiz details, #view-report details');
  let n = bad.length;
  for (const e of document.querySelectorAll('#view-quiz *, #view-report *')) {
    for (const a of e.attributes) {
      if (a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value)) n++;
    }
  }
  return n;
}"""


# The dashboard names topics in chips, the quota builder, the performance panel and the progress
# chart's labels: all plain text. Its one legitimate SVG is the chart the page draws itself.
HOME_DANGER = """() => {
  let n = document.querySelectorAll(
    '#view-home script, #view-home iframe, #view-home img, #view-home style, #view-home math, ' +
    '#view-home details, #view-home svg:not(.progress-svg), #view-home svg svg').length;
  for (const e of document.querySelectorAll('#view-home *')) {
    for (const a of e.attributes) {
      if (a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value)) n++;
    }
  }
  return n;
}"""


def _assert_no_script_ran(page, when: str) -> None:
    page.wait_for_timeout(200)  # an onerror of a broken image fires asynchronously
    ran = page.evaluate("() => window.__xss ?? null")
    assert ran is None, f"an injected script ran ({when}): window.__xss = {ran}"


def _click_inert_links(page, selector: str) -> None:
    """Click the links the sanitizer left without a (javascript:) target; http(s) ones would
    navigate away."""
    for link in page.locator(selector).all():
        if not (link.get_attribute("href") or "").startswith("http"):
            link.dispatch_event("click")


def _take_quizzes_in_browser(url: str, email: str, exam: str) -> dict:
    out: dict = {"dialogs": [], "errors": [], "dangerous_nodes": 0}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.on("dialog", lambda d: (out["dialogs"].append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: out["errors"].append(str(e)))
        page.goto(url + "/")
        page.fill("#login-email", email)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#view-home")).to_be_visible()
        out["chips"] = page.locator("#topic-chips .chip").all_text_contents()
        page.click("#quota-add")
        out["quota_options"] = page.locator(".quota-topic option").all_text_contents()
        page.click(".quota-remove")

        for mode, order in (("tutor", "adaptive"), ("exam", "adaptive"), ("exam", "linear")):
            page.select_option("#exam-code", exam)
            page.check(f"input[name=mode][value={mode}]")
            page.check(f"input[name=order][value={order}]")
            page.fill("#num-questions", "1")
            page.click("#start-quiz")
            expect(page.locator("#q-position")).to_have_text("#1")
            if mode == "tutor":
                out["stem_text"] = page.locator("#q-stem").inner_text()
                out["stem_bold"] = page.locator("#q-stem strong").inner_text()
                out["lead_in"] = page.locator("#q-leadin").inner_text()
                out["topic"] = page.locator("#q-topic").inner_text()
            page.dispatch_event("#q-leadin", "mouseover")
            _click_inert_links(page, "#q-stem a, .option a")
            _assert_no_script_ran(page, f"{mode}: question shown")
            page.keyboard.press("2")  # option B
            page.keyboard.press("Enter")
            if mode == "tutor":
                expect(page.locator("#feedback")).to_contain_text("Correct")
                expect(page.locator("#feedback .rationale em")).to_have_text("Because")
                _click_inert_links(page, "#feedback a")
                _assert_no_script_ran(page, "tutor: feedback shown")
            elif order == "linear":
                expect(page.locator("#feedback")).to_contain_text("Answer B saved")
                out["nav_title"] = page.locator("#nav-grid .nav-cell").first.get_attribute("title")
            else:
                expect(page.locator("#feedback")).to_contain_text("Answer recorded")
            out["dangerous_nodes"] += page.evaluate(DANGER)
            page.keyboard.press("Enter")  # next: the quiz is complete, the report shows
            if order == "linear":  # a linear exam asks first
                page.click("#finish-confirm")
            expect(page.locator(".review-item")).to_have_count(1)
            _assert_no_script_ran(page, f"{mode} {order}: report shown")
            expect(page.locator("#view-report")).to_be_visible()
            expect(page.locator(".review-item")).to_have_count(1)
            out["dangerous_nodes"] += page.evaluate(DANGER)
            if mode == "exam" and order == "adaptive":
                page.screenshot(path=str(ARTIFACTS / "student-hostile-review.png"), full_page=True)
            page.click("#back-home")
            expect(page.locator("#view-home")).to_be_visible()
        expect(page.locator("#performance")).to_contain_text(TOPIC)
        expect(page.locator("#progress-chart svg")).to_have_count(1)
        _assert_no_script_ran(page, "dashboard shown")
        out["dangerous_nodes"] += page.evaluate(HOME_DANGER)
        page.wait_for_timeout(300)  # an onerror of a broken image fires asynchronously
        out["xss"] = page.evaluate("() => window.__xss ?? null")
        browser.close()
    return out
