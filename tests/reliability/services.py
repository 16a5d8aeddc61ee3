"""Throw-away services for fault tests, and the QBank processes that run against them.

`PrivateServices` starts some services of `scripts/stack.py` (PostgreSQL, Redis, Kafka) on free
ports with a state directory of their own, so a test can kill or restart them; every service not
named stays the shared one (the stack leaves a service alone when its URL points elsewhere). The
shared dev stack is never stopped.

`QBankProcess` runs the outbox relay or the Kafka consumer as a real process with a log file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qbank.settings import PROJECT_ROOT, get_settings

STACK = [sys.executable, str(PROJECT_ROOT / "scripts" / "stack.py")]
LOGS = PROJECT_ROOT / "test-artifacts" / "reliability"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class PrivateServices:
    """`services` ⊆ {"postgresql", "redis", "kafka"} of our own, on free ports."""

    def __init__(self, name: str, services: set[str], topic: str | None = None):
        unknown = services - {"postgresql", "redis", "kafka"}
        assert not unknown, unknown
        self.name = name
        self.services = services
        self.state = Path(tempfile.mkdtemp(prefix=f"qbank-{name}-"))
        os.chmod(self.state, 0o755)
        self.ports = {k: free_port() for k in ("PG", "REDIS", "KAFKA", "KAFKA_CONTROLLER")}
        shared = get_settings()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP"}
        }
        env |= {f"QBANK_{k}_PORT": str(p) for k, p in self.ports.items()}
        env["QBANK_LOCAL_DIR"] = str(self.state)
        if topic:
            env["KAFKA_TOPIC_EVENTS"] = topic
        # What is not ours points at the shared stack, which `stack.py` then leaves alone.
        if "postgresql" not in services:
            env["DATABASE_URL"] = shared.database_url
        if "redis" not in services:
            env["REDIS_URL"] = shared.redis_url
        if "kafka" not in services:
            env["KAFKA_BOOTSTRAP"] = shared.kafka_bootstrap
        self.env = env

    # ------------------------------------------------------------------ addresses
    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://qbank:qbank@127.0.0.1:{self.ports['PG']}/qbank"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['REDIS']}/0"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['KAFKA']}"

    def port(self, service: str) -> int:
        return self.ports[{"postgresql": "PG", "redis": "REDIS", "kafka": "KAFKA"}[service]]

    # ------------------------------------------------------------------ lifecycle
    def _stack(self, action: str, timeout: float = 240) -> None:
        r = subprocess.run(
            [*STACK, action], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if r.returncode != 0:
            raise RuntimeError(f"stack.py {action} failed:\n{r.stdout}\n{r.stderr}")

    def up(self) -> None:
        self._stack("up")

    def down(self) -> None:
        """Stop our services the orderly way (PostgreSQL: pg_ctl stop -m fast)."""
        self._stack("down", timeout=120)

    def pid(self, service: str) -> int | None:
        path = {
            "kafka": self.state / "kafka" / "kafka.pid",
            "redis": self.state / "redis" / "redis.pid",
            "postgresql": self._pg_home() / "data" / "postmaster.pid",
        }[service]
        try:
            return int(path.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def kill(self, service: str) -> None:
        """SIGKILL, as a crash or the OOM killer would (Kafka: its whole process group)."""
        pid = self.pid(service)
        assert _alive(pid), f"{service} is not running"
        if service == "kafka":
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not listening(self.port(service)), f"{service} still listens after SIGKILL"

    def signal(self, service: str, sig: int) -> None:
        os.kill(self.pid(service), sig)

    def _pg_home(self) -> Path:
        link = self.state / "pg"
        if link.is_symlink():
            return Path(os.readlink(link))
        if os.geteuid() == 0:  # where stack.py puts a cluster `postgres` must reach
            digest = hashlib.sha1(str(self.state.resolve()).encode()).hexdigest()[:10]
            return Path(f"/var/tmp/qbank-{digest}/pg")
        return link

    def cleanup(self) -> None:
        for service in self.services:  # a frozen (SIGSTOPped) service cannot stop itself
            pid = self.pid(service)
            if _alive(pid):
                os.kill(pid, signal.SIGCONT)
        try:
            self.down()
        finally:
            if "postgresql" in self.services:
                shutil.rmtree(self._pg_home().parent, ignore_errors=True)
            shutil.rmtree(self.state, ignore_errors=True)


class QBankProcess:
    """`python -m <module> [args]` with an environment and a log file under test-artifacts/."""

    def __init__(self, name: str, module: str, args: list[str], env: dict[str, str]):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.cmd = [sys.executable, "-m", module, *args]
        self.env = {**os.environ, **env}
        self.log_path = LOGS / f"{name}.log"
        self.log_path.write_bytes(b"")
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> QBankProcess:
        assert self.proc is None or self.proc.poll() is not None
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def sigkill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout}s") from None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")
