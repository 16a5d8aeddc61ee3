"""Accounts belong to a tenant: the same e-mail may exist in two tenants, each logs in to its
own (naming the tenant, or by the one account whose password matches), and an admin learns
nothing about other tenants' e-mails."""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace

import httpx
import jwt
import pytest

from qbank.settings import DEV_SECRET
from serving_api.api.routes import auth
from tests.support.api_server import start_server, stop_server
from tests.support.people import login, make_tenant, make_user

ANA = "ana@example.org"


def claims(token: str) -> dict:
    return jwt.decode(token, DEV_SECRET, algorithms=["HS256"])


def log_in(client: httpx.Client, password: str, tenant: str | None = None, email: str = ANA):
    body = {"email": email, "password": password}
    if tenant is not None:
        body["tenant"] = tenant
    return client.post("/v1/auth/login", json=body)


@pytest.fixture(scope="module")
def two_tenants(api, engine):
    """Two fresh tenants with an admin each (their own, so ana@example.org is theirs alone)."""
    suffix = uuid.uuid4().hex[:6]
    tenants = [make_tenant(engine, f"{name}-{suffix}") for name in ("north", "south")]
    for t in tenants:
        login(api, make_user(engine, t, "admin", ["admin"]))
    return tenants


@pytest.fixture(scope="module")
def anas(api, two_tenants):
    """ana@example.org created by each tenant's admin through the API, with its own password.
    The second admin creates an e-mail that already exists in the other tenant: a 201, exactly
    as for a new e-mail."""
    out = {}
    with httpx.Client(base_url=api.url, timeout=30) as c:
        for t in two_tenants:
            password = f"pw-{t.slug}"
            r = c.post(
                "/v1/users",
                json={"email": ANA, "display_name": f"Ana of {t.slug}", "password": password},
                headers=t.admin.headers,
            )
            assert r.status_code == 201, r.text
            user = r.json()
            assert user["tenant_id"] == str(t.id) and user["tenant_slug"] == t.slug
            out[t.slug] = SimpleNamespace(id=user["id"], password=password, tenant=t)
    return out


def test_two_tenants_each_have_ana_and_each_logs_in_to_their_own(client, two_tenants, anas):
    north, south = two_tenants
    assert anas[north.slug].id != anas[south.slug].id
    for t in two_tenants:
        ana = anas[t.slug]
        r = log_in(client, ana.password, tenant=t.slug)
        assert r.status_code == 200, r.text
        out = r.json()
        token = claims(out["access_token"])
        assert token["sub"] == ana.id and token["tenant"] == str(t.id)
        assert set(token) == {"sub", "tenant", "roles", "iat", "exp"}  # claims unchanged
        assert out["user"]["tenant_slug"] == t.slug and out["user"]["id"] == ana.id
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {out['access_token']}"})
        assert me.status_code == 200
        assert me.json()["tenant_slug"] == t.slug and me.json()["id"] == ana.id
        # The slug as a person types it (spaces, capitals) names the same tenant.
        assert log_in(client, ana.password, tenant=f" {t.slug.upper()} ").status_code == 200
    # One tenant's password does not open the other tenant's account.
    r = log_in(client, anas[south.slug].password, tenant=north.slug)
    assert r.status_code == 401 and r.json()["detail"] == auth.BAD_CREDENTIALS
    # An unknown tenant answers exactly like a wrong password.
    r = log_in(client, anas[north.slug].password, tenant=f"nowhere-{uuid.uuid4().hex[:6]}")
    assert r.status_code == 401 and r.json()["detail"] == auth.BAD_CREDENTIALS


def test_login_without_tenant_uses_the_one_matching_account(client, two_tenants, anas):
    for t in two_tenants:
        r = log_in(client, anas[t.slug].password)
        assert r.status_code == 200, r.text
        assert claims(r.json()["access_token"])["tenant"] == str(t.id)
        assert r.json()["user"]["tenant_slug"] == t.slug
    r = log_in(client, "neither-password")
    assert r.status_code == 401 and r.json()["detail"] == auth.BAD_CREDENTIALS


def test_login_without_tenant_when_ambiguous_asks_to_name_the_tenant(client, engine, api):
    """Same e-mail and same password in two tenants: refused without the slug, with a message
    that names no tenant; with the slug each works."""
    suffix = uuid.uuid4().hex[:6]
    tenants = [make_tenant(engine, f"{n}-{suffix}") for n in ("east", "west")]
    email = f"twin-{suffix}@example.org"
    people = []
    for t in tenants:
        admin = login(api, make_user(engine, t, "admin", ["admin"]))
        r = client.post(
            "/v1/users",
            json={"email": email, "display_name": "Twin", "password": "same-password-1"},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
        people.append(r.json())
    r = log_in(client, "same-password-1", email=email)
    assert r.status_code == 401, r.text
    detail = r.json()["detail"]
    assert detail == auth.NAME_THE_TENANT and "name the tenant" in detail
    for t in tenants:
        assert t.slug not in r.text and str(t.id) not in r.text
    for t, person in zip(tenants, people, strict=True):
        r = log_in(client, "same-password-1", tenant=t.slug, email=email)
        assert r.status_code == 200, r.text
        assert claims(r.json()["access_token"])["tenant"] == str(t.id)
        assert r.json()["user"]["id"] == person["id"]
    # Disabled in one tenant, the other one is the only match again.
    east_admin = tenants[0].admin
    r = client.patch(
        f"/v1/users/{people[0]['id']}", json={"is_active": False}, headers=east_admin.headers
    )
    assert r.status_code == 200
    r = log_in(client, "same-password-1", email=email)
    assert r.status_code == 200 and r.json()["user"]["id"] == people[1]["id"]


def test_an_admin_learns_nothing_about_other_tenants_emails(client, world, engine):
    """Tenant B's admin: creating an e-mail that exists only in tenant A is a 201 like any new
    e-mail; listing and reading show only B; A's user is 404 exactly like an unknown id."""
    b_admin = world.b.admin.headers
    # A user of A of its own: the shared world's users keep their e-mails to themselves.
    a_student = make_user(engine, world.a, f"known{uuid.uuid4().hex[:4]}", ["student"])
    r = client.post(
        "/v1/users",
        json={"email": a_student.email, "display_name": "Namesake", "password": "pw-namesake"},
        headers=b_admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["tenant_id"] == str(world.b.id) and created["id"] != str(a_student.id)
    # The same e-mail again in B (other case) is B's own duplicate: 409, naming B only.
    r = client.post(
        "/v1/users",
        json={"email": a_student.email.upper(), "display_name": "Dup", "password": "pw-dup-123"},
        headers=b_admin,
    )
    assert r.status_code == 409 and "already exists in your tenant" in r.json()["detail"]
    listed = client.get("/v1/users", params={"limit": 1000}, headers=b_admin).json()
    assert {u["tenant_id"] for u in listed} == {str(world.b.id)}
    assert {u["tenant_slug"] for u in listed} == {world.b.slug}
    assert str(a_student.id) not in {u["id"] for u in listed}
    assert [u["id"] for u in listed if u["email"] == a_student.email] == [created["id"]]
    ghost = uuid.uuid4()
    for method, body in (("GET", None), ("PATCH", {"cohort": "x"})):
        theirs = client.request(method, f"/v1/users/{a_student.id}", json=body, headers=b_admin)
        unknown = client.request(method, f"/v1/users/{ghost}", json=body, headers=b_admin)
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json()["detail"].replace(str(a_student.id), "ID") == unknown.json()[
            "detail"
        ].replace(str(ghost), "ID")
    # A's student is untouched and still logs in to A.
    r = client.post(
        "/v1/auth/login",
        json={
            "email": a_student.email,
            "password": "correct-horse-battery",
            "tenant": world.a.slug,
        },
    )
    assert r.status_code == 200 and claims(r.json()["access_token"])["tenant"] == str(world.a.id)


def test_mock_login_names_the_tenant_too(two_tenants, anas):
    dev = start_server(f"dev-tenants-{uuid.uuid4().hex[:4]}", {"QBANK_ENV": "dev"})
    north, south = two_tenants
    try:
        with httpx.Client(base_url=dev.url, timeout=30) as c:
            r = c.post("/v1/auth/mock-login", json={"email": ANA})
            assert r.status_code == 409 and "name the tenant" in r.json()["detail"]
            for t in two_tenants:
                r = c.post("/v1/auth/mock-login", json={"email": ANA, "tenant": t.slug})
                assert r.status_code == 200, r.text
                assert r.json()["user"]["id"] == anas[t.slug].id
                assert claims(r.json()["access_token"])["tenant"] == str(t.id)
            r = c.post("/v1/auth/mock-login", json={"email": ANA, "tenant": "no-such-tenant"})
            assert r.status_code == 404
            # An e-mail with one account needs no tenant.
            r = c.post("/v1/auth/mock-login", json={"email": north.admin.email})
            assert r.status_code == 200 and r.json()["user"]["tenant_slug"] == north.slug
    finally:
        stop_server(dev)


class _Runtime:
    def __init__(self):
        self.password_checks = asyncio.Semaphore(1)


def test_login_without_tenant_costs_two_checks_whatever_the_accounts(monkeypatch):
    """Timing: without a tenant, no account, one account and two accounts all take two
    password checks' time (the dummy hash and a sleep stand in), so an e-mail shared by two
    tenants cannot be told apart; with a tenant, one check. argon2 is replaced by a fixed
    0.1 s so the measurement does not depend on this machine's load."""
    calls = []

    def fake_verify(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        time.sleep(0.1)
        return password_hash == f"hash-of-{password}"

    monkeypatch.setattr(auth, "verify_password", fake_verify)

    def account(pw: str):
        return (SimpleNamespace(password_hash=f"hash-of-{pw}"), "slug")

    def run(accounts, checks):
        calls.clear()
        started = time.perf_counter()
        matched = asyncio.run(auth.matching_accounts(_Runtime(), accounts, "pw", checks))
        return time.perf_counter() - started, len(matched), len(calls)

    cases = {
        "none": ([], 2),
        "one, wrong": ([account("other")], 2),
        "one, right": ([account("pw")], 2),
        "two, one right": ([account("other"), account("pw")], 2),
        "two, both right": ([account("pw"), account("pw")], 2),
    }
    seen = {name: run(*case) for name, case in cases.items()}
    for name, (seconds, _, _) in seen.items():
        assert 0.19 <= seconds < 0.35, (name, seconds)
    assert [m for _, m, _ in seen.values()] == [0, 0, 1, 1, 2]
    assert seen["none"][2] == 1 and calls == ["hash-of-pw", "hash-of-pw"]
    assert [c for _, _, c in seen.values()][1:] == [1, 1, 2, 2]  # real checks, never skipped
    with_tenant = run([], 1)
    assert 0.09 <= with_tenant[0] < 0.19 and with_tenant[2] == 1
