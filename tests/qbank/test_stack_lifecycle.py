"""`make up` / `make down` semantics on a second, throw-away stack (own ports and state dir):
up twice is harmless, down leaves no process behind, up after down keeps the data."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from qbank.settings import PROJECT_ROOT

# Starts and stops its own services.
pytestmark = pytest.mark.stack

STACK = [sys.executable, str(PROJECT_ROOT / "scripts" / "stack.py")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stack_env(tmp_path_factory):
    state = Path(tmp_path_factory.mktemp("stack"))
    os.chmod(state, 0o755)
    ports = {name: free_port() for name in ("PG", "REDIS", "KAFKA", "KAFKA_CONTROLLER")}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP"}
    }
    env |= {f"QBANK_{k}_PORT": str(p) for k, p in ports.items()}
    env["QBANK_LOCAL_DIR"] = str(state)
    env["KAFKA_TOPIC_EVENTS"] = "events.qbank"
    yield env, ports, state
    subprocess.run([*STACK, "down"], env=env, check=False)
    pg_home = Path(os.readlink(state / "pg")) if (state / "pg").is_symlink() else None
    if pg_home:
        shutil.rmtree(pg_home.parent, ignore_errors=True)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stack(env, *args) -> str:
    return subprocess.run(
        [*STACK, *args], env=env, check=True, capture_output=True, text=True, timeout=240
    ).stdout


def test_up_twice_down_up_keeps_data(stack_env):
    env, ports, state = stack_env
    stack(env, "up")
    assert all(listening(p) for p in (ports["PG"], ports["REDIS"], ports["KAFKA"]))
    second = stack(env, "up")
    assert "starting" not in second  # nothing restarted

    dsn = f"host=127.0.0.1 port={ports['PG']} dbname=qbank user=qbank password=qbank"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE keep_me (v int)")
        c.execute("INSERT INTO keep_me VALUES (42)")
        assert (
            c.execute(
                "SELECT count(*) FROM pg_extension WHERE extname IN ('ltree','pgcrypto')"
            ).fetchone()[0]
            == 2
        )

    status = stack(env, "status")
    assert status.count("running") == 3

    stack(env, "down")
    assert not any(listening(p) for p in ports.values())
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(state) not in ps, "a process of the stack survived `down`"

    stack(env, "up")
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT v FROM keep_me").fetchone()[0] == 42


def test_qbank_analytics_adds_a_replicated_analytics_cluster(stack_env):
    """QBANK_ANALYTICS=1: a second PostgreSQL on its own port, migrated and subscribed by the
    same commands `make up` runs; `down` stops it too. Redis and Kafka are pointed elsewhere so
    only the two PostgreSQL clusters start."""
    env, ports, state = stack_env
    analytics_port = free_port()
    env = env | {
        "QBANK_ANALYTICS": "1",
        "QBANK_ANALYTICS_PG_PORT": str(analytics_port),
        "ANALYTICS_DATABASE_URL": "",  # the local analytics cluster's default
        "REDIS_URL": "redis://192.0.2.1:6379/0",  # TEST-NET: never local, never started
        "KAFKA_BOOTSTRAP": "192.0.2.1:9092",
    }
    stack(env, "up")
    assert "starting" not in stack(env, "up")
    assert listening(ports["PG"]) and listening(analytics_port)

    def cli(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "qbank.cli", *args], env=env, cwd=PROJECT_ROOT,
            check=True, capture_output=True, text=True, timeout=240,
        ).stdout  # fmt: skip

    assert "analytics database at head" in cli("db", "upgrade")
    assert "8 tables ready" in cli("analytics", "setup", "--if-configured")
    assert "nothing new" in cli("analytics", "setup")
    serving = f"host=127.0.0.1 port={ports['PG']} dbname=qbank user=qbank password=qbank"
    with psycopg.connect(serving, autocommit=True) as c:
        c.execute("INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'lc', 'Lc')")
    from qbank import analytics
    from qbank.settings import Settings

    settings = Settings(
        database_url=f"postgresql://qbank:qbank@127.0.0.1:{ports['PG']}/qbank",
        QBANK_ANALYTICS="1",
        QBANK_ANALYTICS_PG_PORT=str(analytics_port),
    )
    analytics.wait_until_caught_up(settings)
    with psycopg.connect(settings.analytics_libpq_url) as c:
        assert c.execute("SELECT count(*) FROM tenants WHERE slug = 'lc'").fetchone()[0] == 1

    assert "postgresql-analytics  running" in stack(env, "status")
    stack(env, "down")
    assert not listening(ports["PG"]) and not listening(analytics_port)
    analytics_home = str((state / "pg-analytics").resolve())  # under /var/tmp when root
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert analytics_home not in ps, "the analytics cluster survived `down`"
