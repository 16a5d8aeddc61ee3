"""Health, readiness, metrics, JSON logs, CORS, body limit, Kafka down, exposure counters."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from serving_api.services.exposure import ExposureCounter
from tests.support.api_server import metric, start_server, stop_server
from tests.support.quizzes import answer, events_of, fresh_exam, next_item, start


def test_health_ready_metrics(client, world, engine):
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "redis": "ok"}
    exam, _ = fresh_exam(engine, world, per_topic=1)
    quiz = start(client, world.a.student, exam_code=exam, num_questions=1)
    next_item(client, world.a.student, quiz["id"])
    body = client.get("/metrics").text
    assert (
        'qbank_http_request_duration_seconds_bucket{le="0.025",method="GET",route="/v1/quizzes/{quiz_id}/next"}'
        in body
    )
    assert metric(body, "qbank_items_served_total") >= 1
    assert "qbank_exposure_cap_relaxations_total" in body
    assert metric(body, "qbank_outbox_backlog") >= 1  # no relay runs in this test session


def test_openapi_docs_with_examples(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/quizzes/{quiz_id}/next" in spec["paths"]
    assert "examples" in spec["components"]["schemas"]["QuizCreate"]
    assert client.get("/docs").status_code == 200


@pytest.fixture(scope="module")
def edge_server(migrated_db):
    """A second server: Kafka unreachable, one CORS origin, a small body limit."""
    server = start_server(
        "edge",
        {
            "KAFKA_BOOTSTRAP": "127.0.0.1:9",
            "CORS_ORIGINS": '["https://app.qbank.example"]',
            "MAX_BODY_BYTES": "4000",
        },
    )
    yield server
    stop_server(server)


def test_kafka_down_never_fails_a_student(edge_server, world, engine):
    """Seed defect 10: no Kafka at start-up or at request time; the events wait in the outbox."""
    s = world.a.student
    with httpx.Client(base_url=edge_server.url) as c:
        exam, _ = fresh_exam(engine, world, per_topic=1)
        quiz = start(c, s, exam_code=exam, num_questions=2)
        for _ in range(2):
            next_item(c, s, quiz["id"])
            answer(c, s, quiz["id"], "B")
        assert c.post(f"/v1/quizzes/{quiz['id']}/finish", headers=s.headers).status_code == 200
    assert len(events_of(engine, quiz["id"])) == 6


def test_cors_only_configured_origins(edge_server, client):
    with httpx.Client(base_url=edge_server.url) as c:
        pre = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        }
        ok = c.options("/v1/quizzes", headers={"Origin": "https://app.qbank.example", **pre})
        assert ok.headers.get("access-control-allow-origin") == "https://app.qbank.example"
        bad = c.options("/v1/quizzes", headers={"Origin": "https://evil.example", **pre})
        assert "access-control-allow-origin" not in bad.headers
        r = c.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    # The main server has no origin configured: no CORS headers at all.
    r = client.get("/health", headers={"Origin": "https://app.qbank.example"})
    assert "access-control-allow-origin" not in r.headers


def test_body_size_limit(edge_server, world):
    h = world.a.author.headers
    with httpx.Client(base_url=edge_server.url) as c:
        r = c.post("/v1/questions/import", content=b"x" * 5000, headers=h)
        assert r.status_code == 413 and "larger than 4000 bytes" in r.json()["detail"]

        def chunks():
            for _ in range(10):
                yield b"y" * 1000

        r = c.post("/v1/questions/import", content=chunks(), headers=h)  # chunked, no length
        assert r.status_code == 413


def test_logs_are_json_lines(edge_server):
    lines = [ln for ln in edge_server.logs().splitlines() if ln.strip()]
    records = [orjson.loads(ln) for ln in lines]
    requests = [r for r in records if r.get("msg") == "request"]
    assert requests and {"method", "path", "route", "status", "duration_ms", "request_id"} <= set(
        requests[0]
    )


def test_exposure_counter_is_atomic(settings, redis_client):
    async def run() -> list[bool]:
        client = aioredis.Redis.from_url(settings.redis_url)
        counter = ExposureCounter(client, settings.redis_namespace + ":atomic", cap=10)
        import uuid

        tenant = uuid.uuid4()
        results = await asyncio.gather(*(counter.try_serve(tenant, 42) for _ in range(60)))
        value = await counter.count(tenant, 42)
        await client.aclose()
        return results, value

    results, value = asyncio.run(run())
    assert sum(results) == 10 and value == 10


def test_capped_items_are_remembered_for_a_while_only(settings, redis_client):
    """A refusal is remembered (selection skips the item without asking Redis), but not for
    the rest of the day: after an operator resets a counter the item is served again."""
    import uuid

    async def run() -> tuple[set, set, bool]:
        client = aioredis.Redis.from_url(settings.redis_url)
        ns = settings.redis_namespace + ":remember"
        counter = ExposureCounter(client, ns, cap=1, remember_s=0.3)
        tenant = uuid.uuid4()
        assert await counter.try_serve(tenant, 7)
        assert not await counter.try_serve(tenant, 7)
        remembered = set(counter.capped(tenant))
        await client.delete(counter.key(tenant, 7))  # the operator's reset
        await asyncio.sleep(0.35)
        forgotten = set(counter.capped(tenant))
        served_again = await counter.try_serve(tenant, 7)
        await client.aclose()
        return remembered, forgotten, served_again

    remembered, forgotten, served_again = asyncio.run(run())
    assert remembered == {7} and forgotten == set() and served_again


def test_exposure_counted_when_served_and_cap_relaxed(
    client, world, engine, settings, redis_client
):
    """Seed defect 6: counted only for the item actually served; all capped → cap relaxed."""
    exam, qids = fresh_exam(engine, world, per_topic=1)  # 4 items
    day = datetime.now(UTC).strftime("%Y%m%d")

    def key(q):
        return f"{settings.redis_namespace}:exposure:{day}:{world.a.id}:{q}"

    s = world.a.student2
    quiz = start(client, s, exam_code=exam, num_questions=4)
    assert all(redis_client.get(key(q)) is None for q in qids)  # starting counts nothing
    served = next_item(client, s, quiz["id"])["item"]["question_id"]
    next_item(client, s, quiz["id"])  # the same item again: not counted twice
    assert int(redis_client.get(key(served))) == 1
    assert all(redis_client.get(key(q)) is None for q in qids if q != served)
    answer(client, s, quiz["id"], "B")

    before = metric(client.get("/metrics").text, "qbank_exposure_cap_relaxations_total")
    for q in qids:
        redis_client.set(key(q), settings.max_daily_exposures)
    left = [q for q in qids if q != served]
    redis_client.set(key(left[0]), settings.max_daily_exposures - 1)  # one below the cap
    assert next_item(client, s, quiz["id"])["item"]["question_id"] == left[0]
    answer(client, s, quiz["id"], "B")
    item = next_item(client, s, quiz["id"])["item"]  # everything at the cap now
    assert item is not None
    after = metric(client.get("/metrics").text, "qbank_exposure_cap_relaxations_total")
    assert after == before + 1
    assert int(redis_client.get(key(item["question_id"]))) == settings.max_daily_exposures + 1


def test_requests_get_a_request_id(client):
    r = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/health").headers["x-request-id"])


def test_outbox_rows_written_with_state(engine, client, world):
    """Every quiz row has its quiz_started event, every served item its question_served."""
    with engine.connect() as c:
        missing = c.execute(
            text(
                "SELECT count(*) FROM quiz_items i WHERE NOT EXISTS (SELECT 1 FROM event_outbox o "
                "WHERE o.partition_key = i.quiz_id::text AND o.event_type = 'question_served' "
                "AND (o.payload->>'position')::int = i.position)"
            )
        ).scalar()
    assert missing == 0


def test_redis_down_degrades_to_no_cap_not_to_errors(migrated_db, world, engine):
    """Redis holds only what may be lost: without it quizzes go on (cap not enforced, counted
    in qbank_redis_errors_total) and /ready says which dependency is down."""
    server = start_server("no-redis", {"REDIS_URL": "redis://127.0.0.1:9/0"})
    try:
        s = world.a.student
        with httpx.Client(base_url=server.url, timeout=20) as c:
            ready = c.get("/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("down")
            exam, _ = fresh_exam(engine, world, per_topic=1)
            quiz = start(c, s, exam_code=exam, num_questions=2)
            for _ in range(2):
                next_item(c, s, quiz["id"])
                answer(c, s, quiz["id"], "B")
            assert metric(c.get("/metrics").text, "qbank_redis_errors_total") >= 2
    finally:
        stop_server(server)
