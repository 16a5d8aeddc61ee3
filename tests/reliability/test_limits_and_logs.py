"""Oversized bodies get 413 at the default limit (declared or streamed) and change nothing; the
API's logs never hold a password, a token or the signing secret, whatever the requests did.

The small-limit variant (MAX_BODY_BYTES=4000) is tests/serving_api/test_operations.py.
"""

from __future__ import annotations

import secrets
import uuid

import httpx
import pytest

from serving_api.security import issue_token
from tests.support.api_server import start_server, stop_server
from tests.support.banks import seed_bank
from tests.support.people import PASSWORD
from tests.support.quizzes import snapshot

LIMIT = 1_000_000  # the default MAX_BODY_BYTES


@pytest.fixture(scope="module")
def secret_server(rel_db, rel_engine, settings):
    app_secret = "rel-log-secret-" + secrets.token_hex(16)
    signed = settings.model_copy(update={"app_secret": app_secret})
    bank = seed_bank(rel_engine, signed, n_students=1, per_topic=2)
    server = start_server(
        "rel-limits",
        {
            "DATABASE_URL": rel_db,
            "APP_SECRET": app_secret,
            "REDIS_NAMESPACE": f"rel-limits-{uuid.uuid4().hex}",
        },
    )
    yield server, bank, app_secret, signed
    stop_server(server)


def test_oversized_bodies_get_413_and_change_nothing(secret_server, rel_engine):
    server, bank, _secret, _ = secret_server
    quiz = httpx.post(
        server.url + "/v1/quizzes",
        json={"exam_code": bank.exam, "num_questions": 2},
        headers=bank.students[0].headers,
    ).json()["id"]
    huge = b'{"email": "' + b"a" * (LIMIT + 10) + b'"}'
    targets = [
        ("/v1/auth/login", {}),
        ("/v1/quizzes", bank.students[0].headers),
        (f"/v1/quizzes/{quiz}/answers", bank.students[0].headers),
        ("/v1/questions", bank.author.headers),
        ("/v1/questions/import", bank.author.headers),
        ("/v1/users", bank.admin.headers),
    ]
    before = snapshot(rel_engine)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for path, headers in targets:
            h = {**headers, "content-type": "application/json"}
            r = c.post(path, content=huge, headers=h)  # declared by Content-Length
            assert r.status_code == 413, (path, r.status_code, r.text[:200])
            assert f"larger than {LIMIT} bytes" in r.json()["detail"]

            def chunks():
                for _ in range(LIMIT // 65536 + 2):
                    yield b"x" * 65536

            r = c.post(path, content=chunks(), headers=h)  # streamed, no length
            assert r.status_code == 413, (path, "chunked", r.status_code)
        # Just under the limit is read and judged on its content (a 4xx, not a 413).
        line = b'{"topic": "Renal", "stem_md": "' + b"x" * (LIMIT - 100) + b'"}\n'
        r = c.post("/v1/questions/import", content=line, headers=bank.author.headers)
        assert r.status_code != 413 and r.status_code < 500, r.text[:300]
        assert c.get("/ready").status_code == 200
    assert snapshot(rel_engine) == before


def test_logs_hold_no_password_token_or_secret(secret_server):
    server, bank, app_secret, signed = secret_server
    wrong = "wrong-" + secrets.token_hex(8)
    student = bank.students[0]
    forged = issue_token(
        signed.model_copy(update={"app_secret": "x" * 40}), student.id, bank.tenant.id, ["admin"]
    )[0]
    with httpx.Client(base_url=server.url, timeout=30) as c:
        ok = c.post("/v1/auth/login", json={"email": student.email, "password": PASSWORD})
        issued = ok.json()["access_token"]
        c.post("/v1/auth/login", json={"email": student.email, "password": wrong})
        c.post("/v1/auth/login", json={"email": 5, "password": wrong})  # 422 with the password
        c.post(
            "/v1/auth/login",
            content=f'{{"password": "{wrong}"',
            headers={"content-type": "application/json"},
        )
        c.get("/v1/me", headers={"Authorization": f"Bearer {issued}"})
        c.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
        c.get("/v1/me", headers={"Authorization": f"Bearer {issued[:-4]}AAAA"})
        c.get("/v1/users", headers={"Authorization": f"Bearer {issued}"})  # 403
        c.get(f"/v1/quizzes?token={issued}", headers=student.headers)  # a token in a query string
    log = server.logs()
    assert '"msg":"request"' in log  # the log is there, and is the right one
    for name, value in {
        "password": PASSWORD,
        "wrong password": wrong,
        "issued token": issued,
        "issued token signature": issued.rsplit(".", 1)[1],
        "forged token": forged,
        "APP_SECRET": app_secret,
        "test token": student.token,
    }.items():
        assert value not in log, f"the {name} is in the API log"
    assert "Bearer" not in log and "authorization" not in log.lower()
