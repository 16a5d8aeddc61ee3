"""The local stack without Docker: PostgreSQL 15, Redis and Apache Kafka (KRaft) on loopback.

    python scripts/stack.py up [--record FILE]    start what is not running, wait for health
    python scripts/stack.py down [--only FILE]    stop what runs (or only what FILE recorded)
    python scripts/stack.py status

With QBANK_ANALYTICS=1 a second PostgreSQL cluster, for raw/staging/marts, runs beside the first
(port QBANK_ANALYTICS_PG_PORT, 55433; database `qbank_analytics`); `qbank analytics setup` then
subscribes it to the serving database's content (README: "Analytics off the serving primary").

Idempotent: `up` twice is harmless, data survives `down`/`up`. Every listener binds 127.0.0.1.
A service whose URL (DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP) points elsewhere is left alone.
State lives under `.local/` (PostgreSQL's cluster under /var/tmp when the `postgres` user cannot
reach the checkout; `.local/pg` then links to it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qbank.settings import Settings  # noqa: E402

# QBANK_LOCAL_DIR moves the state (a second stack on other ports, as the stack's own test does);
# the Kafka jars stay cached in the checkout.
LOCAL = Path(os.environ.get("QBANK_LOCAL_DIR") or ROOT / ".local").resolve()
PG_BIN = Path("/usr/lib/postgresql/15/bin")
KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def is_local(url_host: str | None, url_port: int | None, port: int) -> bool:
    return (url_host or "127.0.0.1") in LOOPBACK and (url_port or port) == port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise SystemExit(f"[stack] {what} did not become healthy within {timeout:.0f}s")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def stop_pid(name: str, pid: int | None, timeout: float = 30.0, group: bool = False) -> None:
    if not pid_alive(pid):
        return
    log(f"stopping {name} (pid {pid})")
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        log(f"{name} ignored SIGTERM; killing")
        kill(pid, signal.SIGKILL)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


# --------------------------------------------------------------------------- PostgreSQL
# What keeps commits steady after a burst of answers (issue 14; the README's "PostgreSQL in
# production" gives the same settings for a managed server). Every answer is a commit that waits
# for its WAL fsync; after a burst, the backends' waits were WAL writes and syncs, a timed
# checkpoint every 5 minutes re-logged each page the next commits touched as a full 8 kB image,
# and autovacuum woke once a minute to vacuum and analyze the insert-heavy tables in one go.
# - fewer checkpoints (15 min or 4 GB of WAL), spread over 90 % of the interval: fewer full-page
#   images in the WAL each commit waits for; the images that remain are compressed (lz4);
# - WAL buffers of 16 MB, and a background writer that cleans buffers ahead of the backends
#   (they wrote their own: buffers_backend 6,498 vs buffers_clean 0 in one burst);
# - autovacuum wakes every 10 s (small, frequent runs instead of a large one a minute) and is
#   throttled less, so it finishes between bursts rather than during the next one;
# - checkpoints and autovacuum runs over 1 s are logged: the evidence when a tail comes back.
PG_STEADY_COMMITS = (
    "\n# qbank: steady commits after a burst (issue 14)\n"
    "checkpoint_timeout = 15min\n"
    "max_wal_size = 4GB\n"
    "min_wal_size = 1GB\n"
    "checkpoint_completion_target = 0.9\n"
    "wal_compression = lz4\n"
    "wal_buffers = 16MB\n"
    "bgwriter_delay = 50ms\n"
    "bgwriter_lru_maxpages = 400\n"
    "autovacuum_naptime = 10s\n"
    "autovacuum_vacuum_cost_limit = 1000\n"
    "log_checkpoints = on\n"
    "log_autovacuum_min_duration = 1s\n"
)


class Postgres:
    """The serving cluster: the API's database `qbank`."""

    name = "postgresql"
    label = "PostgreSQL 15"
    dirname = "pg"
    dbname = "qbank"
    # The serving role owns the published content tables and opens the analytics cluster's
    # subscription connection: logical replication wants REPLICATION of it.
    role_options = "LOGIN CREATEDB PASSWORD 'qbank'"
    replication_role = True

    def __init__(self, s: Settings):
        u = urlsplit(s.sync_database_url)
        self.port = s.pg_port
        self.managed = is_local(u.hostname, u.port, s.pg_port)
        self.analytics = s.analytics_local
        self.as_root = os.geteuid() == 0
        self.home = self._home()
        self.data = self.home / "data"

    def _home(self) -> Path:
        link = LOCAL / self.dirname
        if os.geteuid() != 0:
            return link
        if link.is_symlink():  # an existing cluster stays where it was created
            return Path(os.readlink(link))
        # initdb/pg_ctl refuse root: the cluster belongs to `postgres`, who must reach it.
        digest = hashlib.sha1(str(LOCAL).encode()).hexdigest()[:10]
        return Path(f"/var/tmp/qbank-{digest}/{self.dirname}")

    def _as_owner(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return run(cmd, **kw)

    def pid(self) -> int | None:
        return read_pid(self.data / "postmaster.pid")

    def running(self) -> bool:
        return pid_alive(self.pid()) and port_open(self.port)

    def _psql(self, sql: str, db: str = "postgres") -> None:
        self._as_owner(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.home),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"},
        )

    def init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        log(f"initdb {self.data}")
        self.home.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            pg = pwd.getpwnam("postgres")
            for p in (self.home, self.home.parent):
                os.chown(p, pg.pw_uid, pg.pw_gid)
            LOCAL.mkdir(exist_ok=True)
            link = LOCAL / self.dirname
            if not link.exists():
                link.symlink_to(self.home)
        self._as_owner(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            stdout=subprocess.DEVNULL,
        )
        conf = self.data / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# qbank local stack\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.home}'\n"
                "max_connections = 300\n"
                "shared_buffers = 256MB\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
                # Logical replication (the analytics cluster's subscription) decodes the WAL:
                # set from the start, since changing wal_level takes a restart.
                "wal_level = logical\n"
                "log_min_messages = warning\n"
            )
        self._bootstrapped = False

    def configure(self) -> None:
        """Adds PG_STEADY_COMMITS to the cluster's settings once (a cluster made before them
        too): read at the next start, so one already running keeps its settings until
        `make down && make up`."""
        conf = self.data / "postgresql.conf"
        if PG_STEADY_COMMITS.strip().splitlines()[0] not in conf.read_text():
            with conf.open("a") as f:
                f.write(PG_STEADY_COMMITS)
            if self.running():
                log("PostgreSQL settings for steady commits added; applied at the next restart")

    def start(self) -> None:
        self.init()
        self.configure()
        if not self.running():
            log(f"starting {self.label} on 127.0.0.1:{self.port}")
            self._as_owner(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.home / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                stdout=subprocess.DEVNULL,
            )
        wait_for(self.label, lambda: port_open(self.port))
        self.bootstrap()

    def _query(self, sql: str) -> str:
        return subprocess.run(
            (["runuser", "-u", "postgres", "--"] if self.as_root else [])
            + [str(PG_BIN / "psql"), "-X", "-tA", "-h", str(self.home), "-p", str(self.port),
               "-U", "postgres", "-d", "postgres", "-c", sql],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()  # fmt: skip

    def bootstrap(self) -> None:
        # Idempotent: role, database and extensions (also in template1, for test databases).
        self._psql(
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='qbank') THEN "
            f"CREATE ROLE qbank {self.role_options}; END IF; END$$;"
        )
        if self.replication_role and self.analytics:
            self._psql("ALTER ROLE qbank REPLICATION")
        wal_level = self._query("SHOW wal_level")
        if wal_level != "logical":
            # A cluster made before wal_level=logical was in its configuration: set it for the
            # next start; restarting here would cut every client of a running stack.
            self._psql("ALTER SYSTEM SET wal_level = 'logical'")
            self._psql("SELECT pg_reload_conf()")  # pg_settings then shows pending_restart
            log(
                f"{self.label} runs with wal_level={wal_level}; set to logical for its next start "
                "(`make down && make up` when nothing depends on it): the analytics replication "
                "needs it"
            )
        for db in ("template1",):
            self._psql(
                "CREATE EXTENSION IF NOT EXISTS ltree; CREATE EXTENSION IF NOT EXISTS pgcrypto;", db
            )
        exists = self._query(f"SELECT 1 FROM pg_database WHERE datname='{self.dbname}'")
        if not exists:
            self._psql(f"CREATE DATABASE {self.dbname} OWNER qbank")

    def stop(self) -> None:
        if pid_alive(self.pid()):
            log(f"stopping {self.label}")
            self._as_owner(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                stdout=subprocess.DEVNULL,
            )

    def status(self) -> str:
        return f"running pid {self.pid()} on 127.0.0.1:{self.port}" if self.running() else "stopped"


class AnalyticsPostgres(Postgres):
    """The analytics cluster (QBANK_ANALYTICS=1): raw, staging and marts in `qbank_analytics`,
    the content tables subscribed from the serving cluster."""

    name = "postgresql-analytics"
    label = "PostgreSQL 15 (analytics)"
    dirname = "pg-analytics"
    dbname = "qbank_analytics"
    # PostgreSQL 15 lets only superusers CREATE SUBSCRIPTION (16 adds pg_create_subscription).
    # This loopback cluster holds derived data only; a production one keeps its application
    # role plain and gives `qbank analytics setup --admin-url` a superuser instead.
    role_options = "LOGIN CREATEDB SUPERUSER PASSWORD 'qbank'"
    replication_role = False

    def __init__(self, s: Settings):
        super().__init__(s)
        u = urlsplit(s.analytics_url)
        self.port = s.analytics_pg_port
        self.managed = is_local(u.hostname, u.port, s.analytics_pg_port)
        # `up` starts it only when asked; `down` and `status` see it whenever it exists.
        self.wanted = s.analytics_local


# --------------------------------------------------------------------------- Redis
class Redis:
    name = "redis"

    def __init__(self, s: Settings):
        u = urlsplit(s.redis_url)
        self.port = s.redis_port
        self.managed = is_local(u.hostname, u.port, s.redis_port)
        self.home = LOCAL / "redis"
        self.pidfile = self.home / "redis.pid"

    def running(self) -> bool:
        return pid_alive(read_pid(self.pidfile)) and port_open(self.port)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise SystemExit(
                "[stack] redis-server is missing: run `make install` (apt-get install redis-server)"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.running():
            log(f"starting Redis on 127.0.0.1:{self.port}")
            run(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(self.pidfile),
                    "--logfile",
                    str(self.home / "redis.log"),
                    "--dir",
                    str(self.home),
                ]
            )
        wait_for("Redis", self._ping)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                return c.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        stop_pid("Redis", read_pid(self.pidfile))

    def status(self) -> str:
        return (
            f"running pid {read_pid(self.pidfile)} on 127.0.0.1:{self.port}"
            if self.running()
            else "stopped"
        )


# --------------------------------------------------------------------------- Kafka
LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


def kraft_cluster_id() -> str:
    """A random cluster id as `kafka-storage random-uuid` makes it: base64url of a UUID, drawn
    again when it starts with '-', which StorageTool's parser reads as an option (1 in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class Kafka:
    name = "kafka"

    def __init__(self, s: Settings):
        first = s.kafka_bootstrap.split(",")[0]
        host, _, port = first.rpartition(":")
        self.s = s
        self.port = s.kafka_port
        self.cport = s.kafka_controller_port
        self.managed = is_local(host, int(port or 0) or None, s.kafka_port)
        self.home = LOCAL / "kafka"
        self.pidfile = self.home / "kafka.pid"

    def running(self) -> bool:
        return pid_alive(read_pid(self.pidfile)) and port_open(self.port)

    def fetch_jars(self) -> None:
        if KAFKA_LIBS.exists() and any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
            return
        log("fetching Apache Kafka jars from Maven Central (deploy/kafka/pom.xml)")
        KAFKA_LIBS.mkdir(parents=True, exist_ok=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(ROOT / "deploy/kafka/pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={KAFKA_LIBS}",
                "-DincludeScope=runtime",
            ]
        )

    def _java(self, *args: str) -> list[str]:
        return [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{KAFKA_LIBS}/*",
            *args,
        ]

    def configure(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.properties").write_text(LOG4J2.format(log=self.home / "server.log"))
        props = self.home / "server.properties"
        props.write_text(
            "process.roles=broker,controller\n"
            "node.id=1\n"
            f"controller.quorum.voters=1@127.0.0.1:{self.cport}\n"
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.cport}\n"
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}\n"
            "controller.listener.names=CONTROLLER\n"
            "inter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            f"log.dirs={self.home / 'data'}\n"
            f"num.partitions={self.s.kafka_topic_partitions}\n"
            "offsets.topic.replication.factor=1\n"
            "transaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\n"
            "auto.create.topics.enable=true\n"
            "log.retention.hours=168\n"
        )
        return props

    def start(self) -> None:
        self.fetch_jars()
        props = self.configure()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = kraft_cluster_id()
            log(f"formatting KRaft storage (cluster {cluster_id})")
            run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ),
                stdout=subprocess.DEVNULL,
            )
        if not self.running():
            log(f"starting Apache Kafka (KRaft) on 127.0.0.1:{self.port}")
            with open(self.home / "stdout.log", "ab") as out:
                proc = subprocess.Popen(
                    self._java("kafka.Kafka", str(props)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    cwd=self.home,
                )
            self.pidfile.write_text(str(proc.pid))
        wait_for("Kafka", self._ready, timeout=120)
        self.ensure_topic(self.s.kafka_topic_events, self.s.kafka_topic_partitions)

    def _ready(self) -> bool:
        if not pid_alive(read_pid(self.pidfile)):
            raise SystemExit(f"[stack] Kafka exited; see {self.home / 'server.log'}")
        if not port_open(self.port):
            return False
        try:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(
                bootstrap_servers=f"127.0.0.1:{self.port}", request_timeout_ms=3000
            )
            admin.list_topics()
            admin.close()
            return True
        except Exception:
            return False

    def ensure_topic(self, topic: str, partitions: int) -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{self.port}")
        try:
            if topic not in admin.list_topics():
                admin.create_topics([NewTopic(topic, partitions, 1)])
                log(f"created topic {topic} ({partitions} partitions)")
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()

    def stop(self) -> None:
        stop_pid("Kafka", read_pid(self.pidfile), timeout=40, group=True)

    def status(self) -> str:
        return (
            f"running pid {read_pid(self.pidfile)} on 127.0.0.1:{self.port}"
            if self.running()
            else "stopped"
        )


def services(s: Settings) -> list:
    # The analytics cluster: started with QBANK_ANALYTICS=1, stopped by `down` once it exists.
    analytics = AnalyticsPostgres(s)
    extra = [analytics] if s.analytics_local or analytics.home.exists() else []
    return [Postgres(s), *extra, Redis(s), Kafka(s)]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("action", choices=["up", "down", "status"])
    ap.add_argument("--record", type=Path, help="up: write the names of services this call started")
    ap.add_argument("--only", type=Path, help="down: stop only the services named in this file")
    args = ap.parse_args()
    s = Settings()
    svcs = services(s)
    if args.action == "up":
        started = []
        for svc in svcs:
            if not svc.managed:
                log(f"{svc.name}: external, left alone")
                continue
            if not getattr(svc, "wanted", True):
                continue
            was_running = svc.running()
            svc.start()
            if not was_running:
                started.append(svc.name)
        if args.record:
            args.record.write_text("\n".join(started) + ("\n" if started else ""))
        log("stack is up")
    elif args.action == "down":
        only = set(args.only.read_text().split()) if args.only and args.only.exists() else None
        for svc in reversed(svcs):
            if svc.managed and (only is None or svc.name in only):
                svc.stop()
    else:
        for svc in svcs:
            state = svc.status() if svc.managed else "external (not managed by this stack)"
            print(f"{svc.name:<21} {state}")


if __name__ == "__main__":
    main()
