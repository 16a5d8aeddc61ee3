"""A burst of logins (a class arriving at once) must not eat the API's memory and CPU: argon2id
costs 64 MiB and ~0.2 s of CPU per password check, so an API process checks one password at a
time and the other logins queue, instead of running a thread each.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.load import rss_kib
from tests.support.api_server import start_server, stop_server
from tests.support.people import PASSWORD, make_tenant, make_user

ARGON2_KIB = 64 * 1024


def test_a_login_burst_checks_passwords_one_at_a_time(rel_db, rel_engine):
    tenant = make_tenant(rel_engine, f"storm-{uuid.uuid4().hex[:6]}")
    people = [make_user(rel_engine, tenant, f"p{k}", ["student"]) for k in range(12)]
    server = start_server(
        "rel-login-storm", {"DATABASE_URL": rel_db, "REDIS_NAMESPACE": f"storm-{uuid.uuid4().hex}"}
    )
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:  # warm: one check done
            assert (
                c.post(
                    "/v1/auth/login", json={"email": people[0].email, "password": PASSWORD}
                ).status_code
                == 200
            )
        base = rss_kib(server.proc.pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(server.proc.pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()

        def login(person):
            r = httpx.post(
                server.url + "/v1/auth/login",
                json={"email": person.email, "password": PASSWORD},
                timeout=60,
            )
            return r.status_code

        with ThreadPoolExecutor(len(people)) as pool:
            statuses = list(pool.map(login, people))
        done.set()
        sampler.join()
    finally:
        stop_server(server)
    assert statuses == [200] * len(people)
    grew = peak[0] - base
    print(f"RSS {base // 1024} MiB, peak +{grew // 1024} MiB during {len(people)} logins")
    # One argon2 buffer at a time (plus slack), not one per thread of the default executor (6).
    assert grew < 2.5 * ARGON2_KIB, f"RSS grew {grew // 1024} MiB during a burst of logins"
