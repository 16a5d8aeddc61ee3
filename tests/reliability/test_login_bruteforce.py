"""Password guessing is cut short: an account is locked after a few failed logins, an address
after many, the lock says when to come back, and it holds across API processes (Redis).

The lock is checked before the password, so a locked account gives nothing away (not even
whether the password was right) and costs no argon2 work; unknown e-mails behave exactly like
known ones.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.support.api_server import metric, start_server, stop_server
from tests.support.people import PASSWORD, make_tenant, make_user

LOCKOUT_S = 8
LIMITS = {
    "QBANK_API_LOGIN_MAX_FAILURES": "5",
    "QBANK_API_LOGIN_MAX_FAILURES_PER_ADDRESS": "25",
    "QBANK_API_LOGIN_LOCKOUT_S": str(LOCKOUT_S),
}


@pytest.fixture
def login_env(rel_db, rel_engine):
    tenant = make_tenant(rel_engine, f"login-{uuid.uuid4().hex[:6]}")
    people = [make_user(rel_engine, tenant, f"u{k}", ["student"]) for k in range(3)]
    env = {"DATABASE_URL": rel_db, "REDIS_NAMESPACE": f"rel-login-{uuid.uuid4().hex}", **LIMITS}
    server = start_server("rel-login", env)
    yield server, env, people
    stop_server(server)


def login(url: str, email: str, password: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )


def test_account_locked_after_failed_logins_then_released(login_env):
    server, env, (victim, bystander, _) = login_env
    # A second API process (another worker or replica). Started before the guesses: starting a
    # process on a loaded machine can take longer than the lock lasts (seen: ~20 s vs 8 s).
    again = start_server("rel-login-2", env)
    try:
        for _ in range(5):
            assert login(server.url, victim.email, "guess-" + uuid.uuid4().hex).status_code == 401
        locked = login(server.url, victim.email, PASSWORD)  # even the right password now
        assert locked.status_code == 429, locked.text
        assert "too many failed logins" in locked.json()["detail"]
        assert 1 <= int(locked.headers["retry-after"]) <= LOCKOUT_S
        assert "token" not in locked.text

        # The lock lives in Redis: the other process sees it.
        still = login(again.url, victim.email, PASSWORD)
        assert still.status_code == 429, "the lock did not reach another process"
        assert metric(httpx.get(again.url + "/metrics").text, "qbank_login_refusals_total") >= 1
        # Another account from the same address is not affected.
        assert login(again.url, bystander.email, PASSWORD).status_code == 200
        # An unknown e-mail is locked the same way, with the same words: no enumeration.
        ghost = f"{uuid.uuid4().hex}@nowhere.example"
        for _ in range(5):
            assert login(again.url, ghost, "guess").status_code == 401
        assert (
            login(again.url, ghost, "guess")
            .json()["detail"]
            .startswith("too many failed logins for this account")
        )
        # Released once the lock expires; a success clears the count.
        time.sleep(int(still.headers["retry-after"]) + 0.5)
        assert login(again.url, victim.email, PASSWORD).status_code == 200
        for _ in range(4):
            assert login(again.url, victim.email, "nope").status_code == 401
        assert login(again.url, victim.email, PASSWORD).status_code == 200
    finally:
        stop_server(again)


def test_address_throttled_after_many_failures_across_accounts(login_env):
    server, _env, (_a, _b, legit) = login_env
    # Password spraying: one guess each for many accounts, from one address.
    for k in range(25):
        r = login(server.url, f"sprayed{k}.{uuid.uuid4().hex[:6]}@nowhere.example", "Summer2026!")
        assert r.status_code == 401
    r = login(server.url, legit.email, PASSWORD)
    assert r.status_code == 429 and "from this address" in r.json()["detail"]


def test_still_locked_when_redis_is_away(rel_db, rel_engine):
    """Without Redis the counts are kept in the process: guessing is still cut short."""
    tenant = make_tenant(rel_engine, f"login-{uuid.uuid4().hex[:6]}")
    victim = make_user(rel_engine, tenant, "victim", ["student"])
    server = start_server(
        "rel-login-noredis",
        {"DATABASE_URL": rel_db, "REDIS_URL": "redis://127.0.0.1:9/0", **LIMITS},
    )
    try:
        for _ in range(5):
            assert login(server.url, victim.email, "guess").status_code == 401
        assert login(server.url, victim.email, PASSWORD).status_code == 429
    finally:
        stop_server(server)
