"""PostgreSQL restarted under student traffic: during the outage requests fail fast with a 503
and a clear body, none hangs, and the same API process serves again once the database is back.

The database is a private PostgreSQL cluster (stopped with `pg_ctl stop -m fast`, started again),
whose role password is changed to a recognisable secret: the API logs, full of connection
errors, must not contain it.
"""

from __future__ import annotations

import secrets
import statistics
import time

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text

from qbank import migrations
from qbank.settings import get_settings
from tests.reliability.services import PrivateServices
from tests.reliability.traffic import StudentTraffic
from tests.support.api_server import start_server, stop_server
from tests.support.banks import seed_bank

pytestmark = pytest.mark.stack

# What a request may take while the database is away (a probe's connect at most).
FAST_S = 3.0


def postgres_restart(
    *, students: int = 12, before_s: float = 2.0, outage_s: float = 5.0, after_s: float = 6.0
) -> dict:
    pg = PrivateServices("pg", {"postgresql"})
    server = traffic = None
    try:
        pg.up()
        password = "pg-" + secrets.token_hex(12)
        with psycopg.connect(
            f"host=127.0.0.1 port={pg.ports['PG']} dbname=qbank user=qbank password=qbank",
            autocommit=True,
        ) as c:
            c.execute(f"ALTER ROLE qbank PASSWORD '{password}'")
        url = pg.database_url.replace("qbank:qbank@", f"qbank:{password}@")
        migrations.upgrade(url)
        engine = create_engine(url, pool_pre_ping=True)
        app_secret = "rel-secret-" + secrets.token_hex(16)
        settings = get_settings().model_copy(update={"app_secret": app_secret})
        bank = seed_bank(engine, settings, n_students=students)
        server = start_server(
            "rel-pg-restart",
            {
                "DATABASE_URL": url,
                "APP_SECRET": app_secret,
                "REDIS_NAMESPACE": f"rel-pg-{password}",
            },
        )
        pid = server.proc.pid
        traffic = StudentTraffic(server.url, [s.token for s in bank.students], bank.exam).start()

        traffic.phase = "pg up"
        traffic.wait_for("pg up", successes=3 * students)
        time.sleep(before_s)

        traffic.phase = "pg down"
        down_at = time.monotonic()
        pg.down()  # pg_ctl stop -m fast: sessions terminated, new connections refused
        ready_down = httpx.get(server.url + "/ready", timeout=10)
        time.sleep(outage_s)

        pg.up()
        traffic.phase = "pg back"
        back_at = time.monotonic()
        traffic.wait_for("pg back", successes=3 * students, timeout=60)
        recovered_s = time.monotonic() - back_at
        time.sleep(after_s)
        traffic.phase = "steady"
        time.sleep(2.0)
        traffic.stop()
        ready_back = httpx.get(server.url + "/ready", timeout=10)
        with engine.connect() as c:
            orphans = c.execute(
                text(
                    "SELECT (SELECT count(*) FROM quiz_items i WHERE NOT EXISTS (SELECT 1 FROM "
                    "event_outbox o WHERE o.partition_key = i.quiz_id::text AND "
                    "o.event_type = 'question_served' AND (o.payload->>'position')::int = i.position)) "
                    "+ (SELECT count(*) FROM user_responses r WHERE NOT EXISTS (SELECT 1 FROM "
                    "event_outbox o WHERE o.partition_key = r.quiz_id::text AND "
                    "o.event_type = 'answer_submitted'))"
                )
            ).scalar_one()
        engine.dispose()
        return {
            "phases": {p: traffic.summary(p) for p in ("pg up", "pg down", "pg back", "steady")},
            "calls": traffic.of(),
            "recovered_s": round(recovered_s, 1),
            "down_at": down_at,
            "same_process": server.proc.poll() is None and server.proc.pid == pid,
            "ready_down": (ready_down.status_code, ready_down.json()),
            "ready_back": (ready_back.status_code, ready_back.json()),
            "state_without_event": orphans,
            "log": server.logs(),
            "secrets": [password, app_secret, *(s.token for s in bank.students)],
        }
    finally:
        if traffic is not None and traffic._thread and traffic._thread.is_alive():
            traffic._stop.set()
        if server is not None:
            stop_server(server)
        pg.cleanup()


def test_postgres_restart_fails_fast_then_recovers_without_restart():
    f = postgres_restart()
    print({k: v for k, v in f.items() if k not in ("calls", "log", "secrets")})
    calls = f["calls"]
    # Before the stop everything worked (requests in flight when it came may be refused).
    assert all(c.status in (200, 201) for c in calls if c.ended < f["down_at"])
    down = [c for c in calls if c.phase == "pg down"]
    assert len(down) > 20, "too little traffic during the outage to prove anything"
    # Fast, clear refusals: 503 with a body that says what happened; never a 500, never a hang.
    for c in down:
        assert c.error is None, f"{c.step}: {c.error} after {c.seconds:.1f}s"
        assert c.status in (200, 201, 503), (c.status, c.body[:200])
        assert c.seconds < FAST_S, f"{c.step} took {c.seconds:.1f}s while the database was down"
    refused = [c for c in down if c.status == 503]
    assert len(refused) > 20
    assert all(b'"detail":"database unavailable' in c.body for c in refused), refused[0].body
    assert f["ready_down"][0] == 503 and f["ready_down"][1]["checks"]["database"].startswith("down")
    # The same process serves again, within seconds, with no 5xx once it has.
    assert f["same_process"]
    assert f["recovered_s"] < 10, f["recovered_s"]
    assert all(c.status in (200, 201) for c in calls if c.phase == "steady")
    assert not [c for c in calls if c.status == 500]
    assert f["ready_back"][0] == 200
    # Every state change kept its event (state and outbox row are one statement).
    assert f["state_without_event"] == 0
    # Refused at once, not after a wait for a connection the pool could not make.
    assert statistics.median(c.seconds for c in refused) < 0.5
    # The outage was logged (when it began and ended, no tracebacks), secrets were not.
    assert '"msg":"database reachable again"' in f["log"] and "Traceback" not in f["log"]
    leaked = [s[:12] for s in f["secrets"] if s in f["log"]]
    assert not leaked, f"secrets in the API log: {leaked}"
