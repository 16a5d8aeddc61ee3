"""The QBank processes on top of the stack: the API, the outbox relay and the Dagster UI.

    python scripts/apps.py up [api|relay|dagster ...]     start what is not running (default: api, relay)
    python scripts/apps.py down [api|relay|dagster ...]   stop what runs (default: all)
    python scripts/apps.py status

Pidfiles and logs live under `.local/run/`. `make up` starts the relay, `make api` the API,
`make ui` the API and `dagster dev` side by side, and `make down` stops them all before the stack,
so nothing is left running. Every app runs in its own session (process group) with default signal
handlers, and `down` waits for the whole group: `dagster dev` started in the background would
otherwise inherit ignored signals and outlive its webserver and daemon children.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestration.instance import dagster_env  # noqa: E402
from qbank.settings import Settings, get_settings  # noqa: E402
from serving_api.server import uvicorn_command  # noqa: E402

RUN = ROOT / ".local" / "run"
PY = (
    str(ROOT / ".venv" / "bin" / "python")
    if (ROOT / ".venv/bin/python").exists()
    else sys.executable
)


def settings() -> Settings:
    """Ports and DAGSTER_HOME as every other part reads them (environment or `.env`)."""
    return get_settings()


def api_port() -> int:
    return settings().api_port


def dagster_port() -> int:
    return settings().dagster_port


APPS = {
    "relay": lambda: [PY, "-m", "ingestion.outbox_relay"],
    "api": lambda: uvicorn_command(
        settings().api_port, int(os.environ.get("QBANK_API_WORKERS", "2")), python=PY
    ),
    "dagster": lambda: [
        PY,
        "-m",
        "dagster",
        "dev",
        "-w",
        "workspace.yaml",
        "-h",
        "127.0.0.1",
        "-p",
        str(dagster_port()),
    ],  # fmt: skip
}
PORTS = {"api": api_port, "dagster": dagster_port}


def prometheus_dir() -> str:
    """A fresh directory where the API's workers share their Prometheus metrics."""
    path = RUN / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


ENV = {
    # DAGSTER_HOME and the instance's PostgreSQL URL (orchestration.instance), as headless runs.
    "dagster": lambda: dagster_env(settings()),
    "api": lambda: {"PROMETHEUS_MULTIPROC_DIR": prometheus_dir()},
}
DEFAULT_UP = ("relay", "api")


def default_signals() -> None:
    """In the child before exec: handlers a background shell may have set to SIG_IGN, reset."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log(msg: str) -> None:
    print(f"[apps] {msg}", flush=True)


def pid_of(name: str) -> int | None:
    try:
        pid = int((RUN / f"{name}.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def log_tail(name: str, lines: int = 5) -> str:
    """Where the log is and its last lines (why it did not start, e.g. QBANK_ENV not set)."""
    path = RUN / f"{name}.log"
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        tail = []
    return f"; see {path}" + "".join(f"\n    {line}" for line in tail)


def start(name: str) -> None:
    if pid_of(name):
        log(f"{name} already running (pid {pid_of(name)})")
        return
    RUN.mkdir(parents=True, exist_ok=True)
    out = (RUN / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        APPS[name](), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=default_signals,
        env={**os.environ, **ENV.get(name, dict)()},
    )  # fmt: skip
    (RUN / f"{name}.pid").write_text(str(proc.pid))
    if name in PORTS:
        port = PORTS[name]()
        deadline = time.monotonic() + (120 if name == "dagster" else 30)
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"[apps] {name} did not start{log_tail(name)}")
            time.sleep(0.2)
        where = "(docs /docs)" if name == "api" else "(Dagster UI)"
        log(f"{name} on http://127.0.0.1:{port}/ {where}, pid {proc.pid}")
    else:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise SystemExit(f"[apps] {name} exited{log_tail(name)}")
        log(f"{name} started, pid {proc.pid}")


def stop(name: str, timeout: float = 15.0) -> None:
    try:
        pgid = int((RUN / f"{name}.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        pgid = None
    # The whole group, not only the leader: dagster dev's webserver, daemon, code servers.
    if pgid and group_alive(pgid):
        log(f"stopping {name} (process group {pgid})")
        os.killpg(pgid, signal.SIGTERM)  # its own session: uvicorn workers go too
        deadline = time.monotonic() + timeout
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
    (RUN / f"{name}.pid").unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("action", choices=["up", "down", "status"])
    ap.add_argument("apps", nargs="*", choices=[*APPS, []], default=[])
    args = ap.parse_args()
    if args.action == "up":
        names = args.apps or list(DEFAULT_UP)
        for name in names:
            start(name)
    elif args.action == "down":
        for name in reversed(args.apps or list(APPS)):
            stop(name)
    else:
        for name in APPS:
            pid = pid_of(name)
            print(f"{name:<7} {'running pid ' + str(pid) if pid else 'stopped'}")


if __name__ == "__main__":
    main()
