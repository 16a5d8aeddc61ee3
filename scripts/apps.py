"""The QBank processes on top of the stack: the API and the outbox relay, with pidfiles.

    python scripts/apps.py up [api|relay ...]     start what is not running (default: both)
    python scripts/apps.py down [api|relay ...]   stop what runs (default: both)
    python scripts/apps.py status

Pidfiles and logs live under `.local/run/`. `make up` starts the relay, `make api` the API and
`make down` stops both before the stack, so nothing is left running.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".local" / "run"
PY = (
    str(ROOT / ".venv" / "bin" / "python")
    if (ROOT / ".venv/bin/python").exists()
    else sys.executable
)


def api_port() -> int:
    return int(os.environ.get("QBANK_API_PORT", "8000"))


APPS = {
    "relay": lambda: [PY, "-m", "ingestion.outbox_relay"],
    "api": lambda: [
        PY,
        "-m",
        "uvicorn",
        "--factory",
        "serving_api.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(api_port()),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--workers",
        os.environ.get("QBANK_API_WORKERS", "2"),
    ],  # fmt: skip
}


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


def start(name: str) -> None:
    if pid_of(name):
        log(f"{name} already running (pid {pid_of(name)})")
        return
    RUN.mkdir(parents=True, exist_ok=True)
    out = (RUN / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        APPS[name](), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    (RUN / f"{name}.pid").write_text(str(proc.pid))
    if name == "api":
        deadline = time.monotonic() + 30
        while not port_open(api_port()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"[apps] api did not start; see {RUN / 'api.log'}")
            time.sleep(0.2)
        log(f"api on http://127.0.0.1:{api_port()}/ (docs /docs), pid {proc.pid}")
    else:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise SystemExit(f"[apps] {name} exited; see {RUN / f'{name}.log'}")
        log(f"{name} started, pid {proc.pid}")


def stop(name: str, timeout: float = 15.0) -> None:
    pid = pid_of(name)
    if pid:
        log(f"stopping {name} (pid {pid})")
        os.killpg(pid, signal.SIGTERM)  # its own session: uvicorn workers go too
        deadline = time.monotonic() + timeout
        while pid_of(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_of(name):
            os.killpg(pid, signal.SIGKILL)
    (RUN / f"{name}.pid").unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("action", choices=["up", "down", "status"])
    ap.add_argument("apps", nargs="*", choices=[*APPS, []], default=[])
    args = ap.parse_args()
    names = args.apps or list(APPS)
    if args.action == "up":
        for name in names:
            start(name)
    elif args.action == "down":
        for name in reversed(names):
            stop(name)
    else:
        for name in APPS:
            pid = pid_of(name)
            print(f"{name:<6} {'running pid ' + str(pid) if pid else 'stopped'}")


if __name__ == "__main__":
    main()
