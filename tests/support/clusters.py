"""Throw-away PostgreSQL 15 clusters for what the shared stack cannot show: logical replication
(the shared cluster may run with wal_level=replica, and changing it takes a restart) and two
clusters side by side (bench.isolation).

Each cluster is initdb'd into a temporary directory as the `postgres` user (initdb refuses root),
listens on 127.0.0.1 only, and is stopped and removed by `stop()`. Roles: `qbank` (LOGIN,
CREATEDB, REPLICATION: what the serving role needs to publish) and `qbank_admin` (SUPERUSER: what
CREATE SUBSCRIPTION needs on PostgreSQL 15), both with their name as password.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    home: Path
    port: int

    @property
    def data(self) -> Path:
        return self.home / "data"

    def url(self, db: str, role: str = "qbank") -> str:
        return f"postgresql+psycopg://{role}:{role}@127.0.0.1:{self.port}/{db}"

    def _run(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    def psql(self, sql: str, db: str = "postgres") -> str:
        return self._run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-qtA",
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
            ]  # fmt: skip
        ).stdout.strip()

    def create_database(self, name: str, owner: str = "qbank") -> None:
        self.psql(f'CREATE DATABASE "{name}" OWNER {owner}')

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                       "stop"])  # fmt: skip
        shutil.rmtree(self.home, ignore_errors=True)


def start_cluster(
    port: int | None = None, *, extra_conf: str = "", prefix: str = "qbank-pg-"
) -> Cluster:
    """initdb + start (a few seconds); `extra_conf` is appended to postgresql.conf."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(home, pg.pw_uid, pg.pw_gid)
    cluster = Cluster(home, port or free_port())
    try:
        cluster._run(
            [str(PG_BIN / "initdb"), "-D", str(cluster.data), "-U", "postgres", "-E", "UTF8",
             "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]
        )  # fmt: skip
        with (cluster.data / "postgresql.conf").open("a") as f:
            f.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {cluster.port}\n"
                f"unix_socket_directories = '{home}'\n"
                "wal_level = logical\n"
                "max_connections = 100\n"
                "log_min_messages = warning\n" + extra_conf
            )
        cluster._run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(cluster.data),
                "-l",
                str(home / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]  # fmt: skip
        )
        cluster.psql(
            "CREATE ROLE qbank LOGIN CREATEDB REPLICATION PASSWORD 'qbank'; "
            "CREATE ROLE qbank_admin LOGIN SUPERUSER PASSWORD 'qbank_admin'"
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster
