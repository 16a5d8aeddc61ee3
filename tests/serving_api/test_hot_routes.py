"""next and answers on their fast path (serving_api.api.hot_routes) behave as the documented
routes: the usual request is served, anything unusual gets the documented answer."""

from __future__ import annotations

import uuid

from tests.support.people import login, make_user
from tests.support.quizzes import fresh_exam, next_item, start


def test_fast_path_and_the_documented_answers_to_the_rest(client, world, engine, api):
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = login(api, make_user(engine, world.a, f"hot{uuid.uuid4().hex[:4]}", ["student"]))
    quiz = start(client, s, mode="tutor", adaptive=False, exam_code=exam, num_questions=4)
    qid = quiz["id"]

    first = next_item(client, s, qid)
    assert first["status"] == "active" and first["position"] == 1
    # Upper-case id: still the fast path; same item until answered.
    again = client.get(f"/v1/quizzes/{qid.upper()}/next", headers=s.headers)
    assert again.status_code == 200 and again.json()["position"] == 1
    # A query string goes to the documented route (it parses `skip`): same item, and a bad
    # `skip` is its 422.
    assert (
        client.get(f"/v1/quizzes/{qid}/next?skip=false", headers=s.headers).json()["position"] == 1
    )
    bad_skip = client.get(f"/v1/quizzes/{qid}/next?skip=maybe", headers=s.headers)
    assert bad_skip.status_code == 422 and bad_skip.json()["errors"][0]["field"] == "query.skip"
    # A non-canonical id (no hyphens) is the documented route's to parse: it accepts it.
    hexed = client.get(f"/v1/quizzes/{uuid.UUID(qid).hex}/next", headers=s.headers)
    assert hexed.status_code == 200 and hexed.json()["position"] == 1
    bad_id = client.get("/v1/quizzes/not-a-uuid/next", headers=s.headers)
    assert bad_id.status_code == 422 and bad_id.json()["errors"][0]["field"] == "path.quiz_id"
    # HEAD was never a route here, and is not one now.
    assert client.head(f"/v1/quizzes/{qid}/next", headers=s.headers).status_code == 405
    # No token: the documented 401, from the same dependency.
    anon = client.get(f"/v1/quizzes/{qid}/next")
    assert anon.status_code == 401 and "missing bearer token" in anon.json()["detail"]

    url = f"/v1/quizzes/{qid}/answers"
    invalid = client.post(
        url, content=b"{not json", headers={**s.headers, "Content-Type": "application/json"}
    )
    assert invalid.status_code == 422 and "not valid JSON" in invalid.json()["detail"]
    unknown = client.post(url, json={"selected": "B", "extra": 1}, headers=s.headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "extra"
    text = client.post(
        url, content=b'{"selected":"B"}', headers={**s.headers, "Content-Type": "text/plain"}
    )
    assert text.status_code == 422  # not JSON to the documented route either
    missing = client.post(url, json={"selected": "Z"}, headers=s.headers)
    assert missing.status_code == 422  # the pattern A–J, as documented
    # Nothing above was recorded: the fast path answers now, once.
    ok = client.post(url, json={"selected": " B "}, headers=s.headers)  # whitespace stripped
    assert ok.status_code == 200 and ok.json()["position"] == 1 and ok.json()["recorded"]
    twice = client.post(url, json={"selected": "B"}, headers=s.headers)
    assert twice.status_code == 409  # an ApiError from delivery, through the app's handler
    assert twice.json() == {"detail": twice.json()["detail"]} and "call GET next" in twice.text

    metrics = client.get("/metrics").text
    assert 'route="/v1/quizzes/{quiz_id}/next"' in metrics
    assert 'route="/v1/quizzes/{quiz_id}/answers"' in metrics
