"""Roles per endpoint, tenant isolation, quiz ownership, JWT attacks, mock-login, prod secret."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid

import httpx
import jwt
import orjson
import pytest
from fastapi.routing import APIRoute

from qbank.settings import DEV_SECRET, Settings
from tests.support.api_server import ROOT, start_server, stop_server
from tests.support.quizzes import answer, fresh_exam, next_item, start

ROLES = ("admin", "author", "publisher", "student")
# (method, path, roles allowed); {q} a question of tenant A, {z} a quiz of A's student.
MATRIX = [
    ("GET", "/v1/me", set(ROLES)),
    ("GET", "/v1/users", {"admin"}),
    ("POST", "/v1/users", {"admin"}),
    ("GET", "/v1/topics", set(ROLES)),
    ("POST", "/v1/topics", {"admin", "author", "publisher"}),
    ("GET", "/v1/questions", {"admin", "author", "publisher"}),
    ("POST", "/v1/questions", {"admin", "author"}),
    ("GET", "/v1/questions/{q}", {"admin", "author", "publisher"}),
    ("PUT", "/v1/questions/{q}", {"admin", "author"}),
    ("POST", "/v1/questions/import", {"admin", "author"}),
    ("POST", "/v1/questions/{q}/versions/1/submit", {"admin", "author"}),
    ("POST", "/v1/questions/{q}/versions/1/return", {"admin", "publisher"}),
    ("POST", "/v1/questions/{q}/versions/1/approve", {"admin", "publisher"}),
    ("POST", "/v1/questions/{q}/versions/1/publish", {"admin", "publisher"}),
    ("POST", "/v1/questions/{q}/versions/1/retire", {"admin", "publisher"}),
    ("GET", "/v1/exam-codes", set(ROLES)),
    ("GET", "/v1/me/performance", {"student"}),
    ("GET", "/v1/me/progress", {"student"}),
    ("POST", "/v1/quizzes", {"student"}),
    ("GET", "/v1/quizzes", {"student"}),
    ("GET", "/v1/quizzes/{z}", {"student", "admin"}),
    ("GET", "/v1/quizzes/{z}/next", {"student"}),
    ("GET", "/v1/quizzes/{z}/items", {"student"}),
    ("GET", "/v1/quizzes/{z}/items/1", {"student"}),
    ("POST", "/v1/quizzes/{z}/answers", {"student"}),
    ("POST", "/v1/quizzes/{z}/items/1/mark", {"student"}),
    ("POST", "/v1/quizzes/{z}/finish", {"student"}),
    ("GET", "/v1/quizzes/{z}/report", {"student", "admin"}),
]


@pytest.fixture(scope="module")
def targets(client_module, world, engine):
    exam, qids = fresh_exam(engine, world, per_topic=1)
    quiz = start(client_module, world.a.student, exam_code=exam, num_questions=2)
    return {"q": qids[0], "z": quiz["id"]}


@pytest.fixture(scope="module")
def client_module(api):
    import httpx

    with httpx.Client(base_url=api.url, timeout=10) as c:
        yield c


def test_every_route_declares_its_roles(api):
    from serving_api.main import create_app

    app = create_app(Settings(qbank_env="dev"))
    public = {"/health", "/ready", "/metrics", "/v1/auth/login", "/v1/auth/mock-login", "/"}
    seen = set()
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path in public:
            continue
        stack, roles = list(route.dependant.dependencies), None
        while stack:
            dep = stack.pop()
            roles = roles or getattr(dep.call, "qbank_roles", None)
            stack.extend(dep.dependencies)
        assert roles, f"{route.methods} {route.path} declares no roles"
        seen.add(route.path)
    assert len(seen) >= 20


def test_role_matrix(client_module, world, targets):
    """Each role gets exactly its rights: 403 outside them, never 401/404 confusion."""
    for method, template, allowed in MATRIX:
        path = template.format(**targets)
        for role in ROLES:
            person = getattr(world.a, role)
            r = client_module.request(method, path, headers=person.headers, json={})
            if role in allowed:
                assert r.status_code != 403, f"{role} refused {method} {path}: {r.text}"
            else:
                assert r.status_code == 403, f"{role} allowed {method} {path}: {r.status_code}"
                assert "needs the role" in r.json()["detail"]


def test_tenant_isolation(client_module, world, targets):
    """Tenant B sees nothing of tenant A, whatever ids it guesses (tenant from the token only)."""
    b = world.b
    c = client_module
    assert c.get(f"/v1/questions/{targets['q']}", headers=b.author.headers).status_code == 404
    assert c.put(
        f"/v1/questions/{targets['q']}", headers=b.author.headers, json={}
    ).status_code in (404, 422)
    r = c.post(
        f"/v1/questions/{targets['q']}/versions/1/publish",
        json={"exam_codes": ["X"]},
        headers=b.publisher.headers,
    )
    assert r.status_code == 404
    assert c.get(f"/v1/quizzes/{targets['z']}", headers=b.admin.headers).status_code == 404
    assert c.get(f"/v1/quizzes/{targets['z']}/next", headers=b.student.headers).status_code == 404
    assert c.get(f"/v1/users/{world.a.student.id}", headers=b.admin.headers).status_code == 404
    assert (
        c.patch(
            f"/v1/users/{world.a.student.id}", json={"cohort": "x"}, headers=b.admin.headers
        ).status_code
        == 404
    )
    listed = c.get("/v1/users", headers=b.admin.headers).json()
    assert {u["tenant_id"] for u in listed} == {str(b.id)}
    assert world.exam not in [
        e["exam_code"] for e in c.get("/v1/exam-codes", headers=b.student.headers).json()
    ]
    # A body that names another tenant is refused (no such field), not obeyed.
    r = c.post(
        "/v1/quizzes",
        json={"exam_code": world.exam, "tenant_id": str(world.a.id)},
        headers=b.student.headers,
    )
    assert r.status_code == 422
    r = c.post("/v1/quizzes", json={"exam_code": world.exam}, headers=b.student.headers)
    assert r.status_code == 422 and "no published questions" in r.json()["detail"]


def test_students_cannot_touch_each_others_quizzes(client, world, engine):
    """Seed defect 5: a quiz id is not a capability; another student's quiz does not exist for you."""
    other = world.a.student2
    exam, _ = fresh_exam(engine, world, per_topic=1)
    z = start(client, world.a.student, exam_code=exam, num_questions=2)["id"]
    for method, path, body in [
        ("GET", f"/v1/quizzes/{z}", None),
        ("GET", f"/v1/quizzes/{z}/next", None),
        ("POST", f"/v1/quizzes/{z}/answers", {"selected": "A"}),
        ("POST", f"/v1/quizzes/{z}/items/1/mark", {"marked": True}),
        ("POST", f"/v1/quizzes/{z}/finish", None),
        ("GET", f"/v1/quizzes/{z}/report", None),
    ]:
        r = client.request(method, path, json=body, headers=other.headers)
        assert r.status_code == 404, (path, r.text)
    assert z not in [q["id"] for q in client.get("/v1/quizzes", headers=other.headers).json()]
    # The owner is unaffected and the admin of the tenant may read it.
    assert next_item(client, world.a.student, z)["status"] == "active"
    answer(client, world.a.student, z, "B")
    assert client.get(f"/v1/quizzes/{z}", headers=world.a.admin.headers).status_code == 200


def _token(claims: dict, key: str = DEV_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(d)).rstrip(b"=").decode()


def test_jwt_attacks_rejected(client, world):
    s = world.a.student
    now = int(time.time())
    good = {
        "sub": str(s.id),
        "tenant": str(s.tenant_id),
        "roles": ["student"],
        "iat": now,
        "exp": now + 600,
    }
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {_token(good)}"}).status_code == 200
    )
    none_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(good | {'roles': ['admin']})}."
    cases = {
        "alg none": none_token,
        "wrong key": _token(good, key="x" * 40),
        "other HMAC alg": _token(good, alg="HS512"),
        "expired": _token(good | {"iat": now - 7200, "exp": now - 3600}),
        "missing tenant": _token({k: v for k, v in good.items() if k != "tenant"}),
        "missing roles": _token({k: v for k, v in good.items() if k != "roles"}),
        "missing exp": _token({k: v for k, v in good.items() if k != "exp"}),
        "unknown role": _token(good | {"roles": ["superuser"]}),
        "sub not a uuid": _token(good | {"sub": "user-123"}),
        "garbage": "not.a.token",
        "tampered": _token(good)[:-2] + "AA",
    }
    for name, token in cases.items():
        r = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        assert r.json()["detail"]
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_login(client, world):
    s = world.a.student
    r = client.post(
        "/v1/auth/login", json={"email": s.email.upper(), "password": "correct-horse-battery"}
    )
    assert r.status_code == 200
    claims = jwt.decode(r.json()["access_token"], DEV_SECRET, algorithms=["HS256"])
    assert claims["tenant"] == str(s.tenant_id) and claims["roles"] == ["student"]
    assert set(claims) == {"sub", "tenant", "roles", "iat", "exp"}
    for body in (
        {"email": s.email, "password": "wrong-password"},
        {"email": "nobody@x.org", "password": "whatever1"},
    ):
        r = client.post("/v1/auth/login", json=body)
        assert r.status_code == 401 and "wrong" in r.json()["detail"]


def test_mock_login_absent_outside_dev(client, world):
    """Seed defect 9: mock-login does not exist in test/prod; in dev it only logs in real users."""
    r = client.post("/v1/auth/mock-login", json={"email": world.a.admin.email})
    assert r.status_code == 404
    dev = start_server("dev", {"QBANK_ENV": "dev"})
    try:
        with httpx.Client(base_url=dev.url) as c:
            r = c.post("/v1/auth/mock-login", json={"email": world.a.student.email})
            assert r.status_code == 200 and r.json()["user"]["roles"] == ["student"]
            r = c.post("/v1/auth/mock-login", json={"user_id": "x", "roles": ["admin"]})
            assert r.status_code == 422  # no minting of arbitrary roles
            r = c.post("/v1/auth/mock-login", json={"email": f"{uuid.uuid4().hex}@nowhere.example"})
            assert r.status_code == 404
    finally:
        stop_server(dev)


@pytest.mark.parametrize("secret", [DEV_SECRET, "short-secret"])
def test_prod_refuses_weak_secret(secret):
    r = subprocess.run(
        [sys.executable, "-c", "from serving_api.main import create_app; create_app()"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "QBANK_ENV": "prod", "APP_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "APP_SECRET" in r.stderr


def test_disabled_or_demoted_account_loses_access_before_token_expiry(client, world, engine, api):
    from tests.support.people import login, make_user

    person = login(
        api, make_user(engine, world.a, f"leaver{uuid.uuid4().hex[:4]}", ["student", "author"])
    )
    admin = world.a.admin.headers
    assert client.get("/v1/questions", headers=person.headers).status_code == 200
    r = client.patch(f"/v1/users/{person.id}", json={"roles": ["student"]}, headers=admin)
    assert r.status_code == 200
    assert client.get("/v1/questions", headers=person.headers).status_code == 403  # demoted
    assert client.get("/v1/me", headers=person.headers).status_code == 200
    client.patch(f"/v1/users/{person.id}", json={"is_active": False}, headers=admin)
    r = client.get("/v1/me", headers=person.headers)
    assert r.status_code == 401 and "disabled" in r.json()["detail"]
